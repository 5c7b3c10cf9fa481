"""Script-model benchmark: training and sampling the offline dialogue models.

Trains ``model/lstm`` with its default params on the example corpus
(``assets/corpus/waiting-room.txt``), samples takes from it with
``script/lstm``, and samples the same takes with ``script/ngram``, on CPU and,
when torch sees one, on CUDA. Prints a table.

    python benchmarks/script_models.py
    python benchmarks/script_models.py --steps 200     # a shorter training run
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from filmkit.generators.base import Request, ScriptBrief, Turn
from filmkit.generators.script.lstm import LSTMScript, LSTMTrainer
from filmkit.generators.script.ngram import NgramScript

CORPUS = Path(__file__).resolve().parent.parent / "assets" / "corpus" / "waiting-room.txt"
BRIEF = ScriptBrief(
    prompt="",
    opening=(Turn("OTTO", "I came in for a passport photo."), Turn("MARA", "Which Tuesday?")),
    characters=("MARA", "OTTO"),
    takes=6,
    lines=4,
    length=600,
)


def timed(backend: type, params: dict, folder: Path, inputs: dict, name: str) -> tuple:
    """Run one generation; (seconds, its metadata, its outputs)."""
    outputs = {key: folder / f"{name}{suffix}" for key, suffix in backend.outputs.items()}
    request = Request(
        params=backend.Params(**params),
        seed=7,
        outputs=outputs,
        script=BRIEF if backend.kind == "script" else None,
        inputs=inputs,
    )
    started = time.perf_counter()
    meta = backend().generate(request) or {}
    return time.perf_counter() - started, meta, outputs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: 800)")
    args = parser.parse_args()
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    gpu = f", GPU: {torch.cuda.get_device_name(0)}" if "cuda" in devices else ", no GPU"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, torch {torch.__version__}{gpu}"
    )
    print(f"corpus: {CORPUS.name}, {CORPUS.stat().st_size / 1024:.0f} KiB")
    rows = []
    with tempfile.TemporaryDirectory(prefix="filmkit-bench-") as tmp:
        folder = Path(tmp)
        corpus = {"corpus": CORPUS}
        for device in devices:
            params = {"corpus": "corpus.txt", "device": device}
            if args.steps:
                params["training_steps"] = args.steps
            seconds, meta, out = timed(LSTMTrainer, params, folder, corpus, f"lstm-{device}")
            steps = meta["steps"]
            rows.append(
                (
                    f"model/lstm train ({device})",
                    seconds,
                    f"{steps / seconds:.1f} steps/s",
                    f"loss {meta['final_loss']:.2f}",
                )
            )
            weights = {"corpus": CORPUS, "model": out["weights"]}
            seconds, _, _ = timed(LSTMScript, params, folder, weights, f"takes-{device}")
            rows.append(
                (f"script/lstm 6 takes ({device})", seconds, f"{6 / seconds:.1f} takes/s", "")
            )
        seconds, _, _ = timed(NgramScript, {"corpus": "corpus.txt"}, folder, corpus, "ngram")
        rows.append(("script/ngram 6 takes", seconds, f"{6 / seconds:.1f} takes/s", ""))
    print()
    header = f"{'what':<30}{'seconds':>9}  {'rate':<16}{'':<12}"
    print(header)
    print("-" * len(header))
    for what, seconds, rate, extra in rows:
        print(f"{what:<30}{seconds:>9.2f}  {rate:<16}{extra:<12}")


if __name__ == "__main__":
    main()
