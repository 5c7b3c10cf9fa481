"""What the backends that train or run torch models share: seeds, the device, threads, an
optimiser's step, weights saved to the same bytes every time, and weights read back.

torch is never imported here; each function takes the module from its caller,
who imports it lazily.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filmkit.errors import GeneratorError

# CPU threads for training and inference. Measured on a 2-core CPU (torch 2.13):
# the LSTM ran 9-11 steps/s on one thread and 13-14 on two on an idle machine, but
# 1.8-2.7 whenever anything else ran (as other steps of a build do), each thread
# waiting on the other; the style network's step took 0.56-0.60 s on one against
# 1.06 s on two beside a busy process, and a 1280x720 frame 0.38-0.44 s against 1.1 s.
# With a fixed count, weights are also the same bytes whatever the machine's cores.
THREADS = 1


def derive(seed: int, *parts: object) -> int:
    """A 63-bit seed from ``seed`` and ``parts``: takes differ, runs repeat."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def pick_device(torch: Any, choice: str) -> Any:
    """The torch device a ``device`` param ("auto", "cpu", "cuda") names."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise GeneratorError("device: cuda was asked for, but torch sees no CUDA GPU")
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


@contextmanager
def cpu_threads(torch: Any, device: Any = None) -> Iterator[None]:
    """Run with :data:`THREADS` CPU threads (unless on a GPU), then restore the count."""
    if device is not None and device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def optimise(
    torch: Any, model: Any, optimiser: Any, schedule: Any, loss: Any, clip: float
) -> float:
    """One step down ``loss``, its gradient clipped to norm ``clip``; returns the loss."""
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    # Clipping keeps one batch's spike from wrecking a short run.
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimiser.step()
    schedule.step()
    return float(loss.item())


def save_weights(torch: Any, path: Path, form: str, config: dict[str, Any], model: Any) -> None:
    """``model``'s weights and ``config`` in a ``form``-tagged file, the same bytes every run."""
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    payload = {"format": form, "version": 1, "config": config, "state_dict": state}
    # Saved through a buffer: torch names the archive after the file it writes
    # to, and the store's temporary name would otherwise change the bytes.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    Path(path).write_bytes(buffer.getvalue())


def read_weights(torch: Any, path: Path | str, what: str) -> Any:
    """What ``torch.load`` finds in ``path`` (tensors only, on the CPU). A missing,
    truncated or foreign file is a GeneratorError naming it and ``what`` it should hold."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise GeneratorError(f"{path}: cannot read {what}: no such file") from None
    except Exception:  # pickle, zip and torch's own errors alike: say which file
        # torch's own message is long and suggests unsafe loading; it helps no one here.
        raise GeneratorError(
            f"{path}: cannot read {what}: torch cannot load it (not a weights file, or a "
            "damaged one)"
        ) from None


def load_weights(torch: Any, path: Path | str, form: str, what: str) -> tuple[dict, Any]:
    """The config and state dict :func:`save_weights` wrote in ``path`` as ``form``."""
    payload = read_weights(torch, path, what)
    if (
        not isinstance(payload, dict)
        or payload.get("format") != form
        or not isinstance(payload.get("config"), dict)
    ):
        raise GeneratorError(f"{path}: not {what} (a {form} file)")
    return dict(payload["config"]), payload["state_dict"]


def fitted_state(torch: Any, model: Any, state: dict[str, Any], what: str) -> dict[str, Any]:
    """``state`` as ``model`` (built on the meta device, say) takes it: every name and
    shape checked, BatchNorm step counters a file lacks filled in (eval mode never reads
    them), floating tensors in the model's own dtype. Anything else that does not fit is
    a GeneratorError naming ``what`` and the first few names."""
    expected = model.state_dict()
    state = dict(state)
    for k, v in expected.items():
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = torch.zeros((), dtype=v.dtype)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} is {tuple(v.shape)}, expected {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    for problem, keys in (("missing ", missing), ("unexpected ", unexpected), ("", wrong)):
        if keys:
            more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
            raise GeneratorError(f"{what}: {problem}{', '.join(keys[:3])}{more}")
    return {k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in state.items()}
