"""Run one step: decide from its action key whether to reuse or regenerate.

This is the step-runner the executor (doit) is handed. It is a module-level
function with plain, picklable arguments so that ``-j N`` can run it in worker
processes. Each call ends by writing a small record for the step into the
build's run directory; downstream steps read their inputs' digests from there.

Phases of :func:`run_step`:

1. digest the inputs (upstream records; project files through the stat cache);
2. compute the action key;
3. if the action cache has the key and every output object verifies, reuse it
   ("cached" when the last build in this checkout ended with that key, else
   "restored": an interrupted build, a reverted edit, a fresh clone's lock);
4. otherwise run the generator or renderer into a scratch directory, move the
   outputs into the object store, then commit the action record.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from filmkit.errors import BuildError, GeneratorError
from filmkit.generators.base import Request, ScriptBrief, Turn
from filmkit.generators.registry import Registry
from filmkit.plan.steps import Step
from filmkit.store.artifacts import ArtifactStore, StoredObject
from filmkit.store.files import atomic_write_text
from filmkit.store.ledger import LEDGER_FILE, Ledger
from filmkit.store.lockfile import LockEntry, explain
from filmkit.store.remote import RemoteCache, RemoteConfig, RemoteError, RemoteIntegrityError


@dataclass(frozen=True)
class BuildContext:
    """Plain, picklable facts every step of one build needs."""

    root: str
    store: str
    run_dir: str
    registry: dict[str, str]
    lock: dict[str, LockEntry] = field(default_factory=dict)
    previous: dict[str, str] = field(default_factory=dict)
    device: str = "cpu"
    remote: RemoteConfig | None = None
    frozen: bool = False
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    # Output digests of inputs settled before the step was sent (cached ones).
    settled: dict[str, dict[str, str]] = field(default_factory=dict)

    def for_step(self, step: Step, settled: dict[str, dict[str, str]]) -> BuildContext:
        """What ``step`` needs of this context, with the digests of its settled inputs.

        A step reads only its own entries of the lock and the last build; and
        each step's context travels to a worker process on its own, so a long
        film's lock is not sent with every step.
        """
        lock = {step.id: self.lock[step.id]} if step.id in self.lock else {}
        previous = {step.id: self.previous[step.id]} if step.id in self.previous else {}
        known = {dep: settled[dep] for dep in step.deps if dep in settled}
        return replace(self, lock=lock, previous=previous, settled=known)


def record_path(run_dir: Path, step_id: str) -> Path:
    """Where the run record of ``step_id`` is written."""
    safe = step_id.replace("/", "~").replace(":", "=")
    return run_dir / f"{safe}.json"


def read_record(run_dir: Path, step_id: str) -> dict[str, Any] | None:
    """The run record of a step that finished in this build, if any."""
    try:
        return json.loads(record_path(run_dir, step_id).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


# Upstream records this process has read, by path, with the (inode, size, mtime) they
# were read at: a film's clock is an input of every scene's mix, and is parsed once.
_READ: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}
_READ_LIMIT = 4096


def _upstream_record(run_dir: Path, step_id: str) -> dict[str, Any] | None:
    """:func:`read_record`, for reading only: a record read before, unchanged since (a
    record is written once, atomically), is not parsed again."""
    path = str(record_path(run_dir, step_id))
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    seen = (info.st_ino, info.st_size, info.st_mtime_ns)
    known = _READ.get(path)
    if known is not None and known[0] == seen:
        return known[1]
    record = read_record(run_dir, step_id)
    if record is not None:
        if len(_READ) >= _READ_LIMIT:
            _READ.clear()
        _READ[path] = (seen, record)
    return record


def input_digests(step: Step, context: BuildContext, store: ArtifactStore) -> dict[str, str]:
    """Content digest of every input of ``step``."""
    digests = {}
    root = Path(context.root)
    for item in step.inputs:
        if item.file is not None:
            digests[item.name] = store.digest_source(root / item.file)
            continue
        assert item.step is not None and item.output is not None
        if item.step in context.settled:
            digests[item.name] = context.settled[item.step][item.output]
            continue
        upstream = _upstream_record(Path(context.run_dir), item.step)
        if upstream is None or upstream.get("status") == "failed":
            raise BuildError(f"{step.id}: input {item.step} has not been built")
        digests[item.name] = upstream["outputs"][item.output]["digest"]
    return digests


def reusable(store: ArtifactStore, key: str) -> dict[str, Any] | None:
    """The action record of ``key`` if every one of its outputs is intact."""
    action = store.get_action(key)
    return action if action is not None and store.outputs_valid(action) else None


def reuse(
    step: Step, key: str, digests: dict[str, str], action: dict[str, Any], previous: dict[str, str]
) -> dict[str, Any]:
    """The record of a step whose result comes from the action cache."""
    if previous.get(step.id) == key:
        return step_record(step, key, digests, "cached", "up to date", action, 0.0)
    return step_record(step, key, digests, "restored", "found in the action cache", action, 0.0)


def step_record(
    step: Step,
    key: str,
    digests: dict[str, str],
    status: str,
    reason: str,
    action: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    """What one step did in this build: the unit of report.json and film.lock."""
    return {
        "step": step.id,
        "status": status,
        "reason": reason,
        "key": key,
        "config": step.config_digest(),
        "request": step.request_digest(),
        "generator": f"{step.action}@{step.version}",
        "inputs": digests,
        "outputs": action["outputs"],
        "meta": action.get("meta", {}),
        "seconds": round(seconds, 3),
    }


def settle_step(step: Step, context: BuildContext) -> dict[str, Any] | None:
    """The record of ``step`` if its result is in the local action cache, else None.

    The executor asks this in its own process once the step's inputs are
    done: a step whose inputs came out as before (an unchanged scene's mix
    after the film's clock was remade) is settled there and then, and never
    waits for a worker. Anything else (a result to fetch or make) is
    :func:`run_step`'s.
    """
    store, digests, key, action = _looked_up(step, context)
    if action is None:
        return None
    return _recorded(context, reuse(step, key, digests, action, context.previous))


def _looked_up(
    step: Step, context: BuildContext
) -> tuple[ArtifactStore, dict[str, str], str, dict[str, Any] | None]:
    """The store, the step's input digests and key, and its cached action if intact."""
    store = _store(context.store)
    digests = input_digests(step, context, store)
    key = step.key(digests)
    return store, digests, key, reusable(store, key)


@lru_cache(maxsize=8)
def _store(root: str) -> ArtifactStore:
    """The store at ``root`` (it holds nothing but where its parts are)."""
    return ArtifactStore(Path(root))


def _recorded(context: BuildContext, record: dict[str, Any]) -> dict[str, Any]:
    """Write a finished step's record where the steps after it read it; return it."""
    # The run record is scratch for this build only: atomic, but not worth an fsync.
    path = record_path(Path(context.run_dir), record["step"])
    atomic_write_text(path, json.dumps(record), durable=False)
    return record


def run_step(step: Step, context: BuildContext) -> dict[str, Any]:
    """Reuse or produce ``step``'s outputs; return (and record) what happened."""
    started = time.perf_counter()
    store, digests, key, action = _looked_up(step, context)
    remote_trouble: list[str] = []
    if action is None and context.remote is not None:
        if context.remote in _REMOTE_DOWN:
            remote_trouble.append(_REMOTE_DOWN[context.remote])
        else:
            try:
                action = fetch_remote(context.remote, key, store)
            except RemoteError as exc:
                # Like a cache miss: the step runs here (unless --frozen forbids it), and
                # this process stops asking a remote that failed once.
                _REMOTE_DOWN[context.remote] = f"remote cache unreadable: {exc}"
                remote_trouble.append(_REMOTE_DOWN[context.remote])
        if action is not None:
            record = step_record(step, key, digests, "restored", "from the remote cache", action, 0)
    elif action is not None:
        record = reuse(step, key, digests, action, context.previous)
    if action is None:
        if context.frozen and is_generator(step):
            raise BuildError(
                f"{step.id}: --frozen, but {step.action} would have to run: its result is in "
                "no cache (run `filmkit pull`, or build without --frozen and `filmkit push`)"
                + "".join(f"; {t}" for t in remote_trouble)
            )
        reason = _why(step, context, store, digests, key)
        action = _run(step, context, store, digests, key, started)
        seconds = time.perf_counter() - started
        record = step_record(step, key, digests, "ran", reason, action, seconds)
        if context.remote is not None and not remote_trouble:
            try:
                share(context.remote, key, action, store)
            except RemoteError as exc:
                # The result is safe locally; not sharing it is worth a warning, not a
                # failed build (CI often reads with credentials that may not write).
                remote_trouble.append(f"not shared: {exc}")
        if remote_trouble:
            warnings = [*record["meta"].get("warnings", []), *remote_trouble]
            record["meta"] = {**record["meta"], "warnings": warnings}
    return _recorded(context, record)


def is_generator(step: Step) -> bool:
    """Does this step call a generator (rather than render locally)?"""
    return not step.action.startswith("render/")


def _why(
    step: Step, context: BuildContext, store: ArtifactStore, digests: dict[str, str], key: str
) -> str:
    entry = context.lock.get(step.id)
    if entry is not None and entry.key == key:
        # film.lock pins this very result: it is just not in this store (a fresh
        # clone), or its objects were deleted or damaged.
        missing = store.get_action(key) is None
        return "not in the local cache" if missing else "output missing or corrupted"
    return explain(step, entry, digests)


def _run(
    step: Step,
    context: BuildContext,
    store: ArtifactStore,
    digests: dict[str, str],
    key: str,
    started: float,
) -> dict[str, Any]:
    """Produce the outputs, commit the action record, log the generation, share it."""
    outputs, meta = _produce(step, context, store, digests, key)
    seconds = time.perf_counter() - started
    action = {
        "step": step.id,
        "action": f"{step.action}@{step.version}",
        "outputs": outputs,
        "meta": meta,
        "seconds": round(seconds, 3),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    store.put_action(key, action)
    if is_generator(step):
        _log_generation(step, context, key, action, seconds)
    return action


def _log_generation(
    step: Step, context: BuildContext, key: str, action: dict[str, Any], seconds: float
) -> None:
    from filmkit.plan.costs import step_cost

    registry = Registry(context.registry)
    meta = action["meta"]
    # What the backend reports it used beats the estimate, unit by unit, and is what it costs.
    units = ("characters", "images", "tokens", "input_tokens", "output_tokens")
    used = {u: float(meta[u]) for u in units if isinstance(meta.get(u), int | float)}
    usage, cost = step_cost(step, registry, context.prices, used)
    params = step.params_value()
    Ledger(Path(context.store) / LEDGER_FILE).record(
        step=step.id,
        backend=step.action,
        version=step.version,
        model=str(meta.get("model") or params.get("model") or "") or None,
        params=step.params,
        seed=step.seed,
        request=step.request,
        usage=usage,
        cost=cost,
        seconds=seconds,
        outputs={n: o["digest"] for n, o in action["outputs"].items()},
        key=key,
    )


def fetch_remote(config: RemoteConfig, key: str, store: ArtifactStore) -> dict[str, Any] | None:
    """The action record of ``key`` from the remote cache, with its objects, or None.

    Every object is checked against its digest on the way in; a damaged one is
    not used (the step runs instead, or fails under --frozen).
    """
    remote = remote_cache(config)
    action = remote.get_action(key)
    if action is None:
        return None
    for output in action["outputs"].values():
        if store.is_valid(StoredObject(output["digest"], output["size"])):
            continue
        try:
            if not remote.fetch_object(output["digest"], store):
                return None
        except RemoteIntegrityError:
            return None
    store.put_action(key, action)
    return action if store.outputs_valid(action) else None


def share(config: RemoteConfig, key: str, action: dict[str, Any], store: ArtifactStore) -> None:
    """Push a finished step's objects, then its action record, to the remote cache."""
    remote = remote_cache(config)
    for output in action["outputs"].values():
        remote.push_object(store.object_path(output["digest"]), output["digest"])
    remote.push_action(key, action)


_REMOTES: dict[RemoteConfig, RemoteCache] = {}
# Remotes that failed in this process, with why: not asked again until the next build.
_REMOTE_DOWN: dict[RemoteConfig, str] = {}


def remote_cache(config: RemoteConfig) -> RemoteCache:
    """One remote client per configuration and process (worker processes make their own)."""
    if config not in _REMOTES:
        _REMOTES[config] = RemoteCache(config)
    return _REMOTES[config]


@contextmanager
def closing_remotes() -> Iterator[None]:
    """Close this process's remote clients when the block ends, however it ends."""
    try:
        yield
    finally:
        close_remotes()


def close_remotes() -> None:
    """Close this process's remote clients (at the end of a build, push or pull)."""
    while _REMOTES:
        _REMOTES.popitem()[1].close()
    _REMOTE_DOWN.clear()


def _produce(
    step: Step, context: BuildContext, store: ArtifactStore, digests: dict[str, str], key: str
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Run the step's generator or renderer and store what it wrote."""
    work = store.work_dir()
    report = ProgressFile(progress_path(store, step.id))
    try:
        inputs = _input_paths(step, context, store, digests)
        outputs = {name: work / f"{name}{suffix}" for name, suffix in step.outputs}
        if step.action.startswith("render/"):
            meta = _render(step, inputs, outputs)
        else:
            meta = _generate(step, context, inputs, outputs, report, store.resume_dir(key))
        stored: dict[str, dict[str, Any]] = {}
        for name, path in outputs.items():
            if not path.is_file() or path.stat().st_size == 0:
                raise GeneratorError(f"{step.id}: {step.action} wrote no {name!r} output")
            obj: StoredObject = store.put(path)
            stored[name] = {"digest": obj.digest, "size": obj.size}
        # Committed: what an interrupted run kept to resume from is of no more use.
        shutil.rmtree(store.resume_dir(key), ignore_errors=True)
        return stored, dict(meta or {})
    finally:
        report.close()
        shutil.rmtree(work, ignore_errors=True)


def progress_path(store: ArtifactStore, step_id: str) -> Path:
    """Where a running step reports how far it has got (read by the build's progress bar)."""
    return record_path(store.progress, step_id)


class ProgressFile:
    """A generator's ``request.progress``: the fraction done, in a small file the build's
    main process reads (a step may run in a worker process). Written at most twice a
    second, atomically."""

    INTERVAL = 0.5

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = time.time()
        self.written = 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.written < self.INTERVAL and fraction < 1:
            return
        self.written = now
        report = {"fraction": min(max(float(fraction), 0.0), 1.0), "started": self.started}
        with suppress(OSError):  # progress is a courtesy; the step goes on without it
            atomic_write_text(self.path, json.dumps(report), durable=False)

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


def _input_paths(
    step: Step, context: BuildContext, store: ArtifactStore, digests: dict[str, str]
) -> dict[str, Path]:
    paths = {}
    for item in step.inputs:
        if item.file is not None:
            paths[item.name] = Path(context.root) / item.file
        else:
            paths[item.name] = store.object_path(digests[item.name])
    return paths


def _generate(
    step: Step,
    context: BuildContext,
    inputs: dict[str, Path],
    outputs: dict[str, Path],
    progress: ProgressFile,
    scratch: Path,
) -> Any:
    backend = Registry(context.registry).get(step.action)
    request_fields = step.request_value()
    size = request_fields.get("size")
    request = Request(
        params=backend.Params.model_validate(step.params_value()),
        seed=step.seed,
        outputs=outputs,
        text=request_fields.get("text", ""),
        size=tuple(size) if size else None,
        duration=request_fields.get("duration"),
        direction=request_fields.get("direction", ""),
        script=_brief(request_fields.get("script")),
        inputs=inputs,
        device=context.device,
        progress=progress,
        scratch=scratch,
    )
    return backend().generate(request)


def _brief(fields: dict[str, Any] | None) -> ScriptBrief | None:
    """A script step's brief, from its request's plain data."""
    if fields is None:
        return None
    opening = tuple(Turn(**turn) for turn in fields.get("opening", ()))
    plain = {k: v for k, v in fields.items() if k != "opening"}
    plain = {k: tuple(v) if isinstance(v, list) else v for k, v in plain.items()}
    return ScriptBrief(**plain, opening=opening)


def _render(step: Step, inputs: dict[str, Path], outputs: dict[str, Path]) -> Any:
    # Imported here: moviepy and scipy are heavy, and only render steps need them.
    if step.kind == "shot":
        from filmkit.render.cut import render_shot

        return render_shot(step.params_value(), inputs, outputs)
    if step.kind == "transition":
        from filmkit.render.cut import render_transition

        return render_transition(step.params_value(), inputs, outputs["video"])
    if step.kind == "timeline":
        from filmkit.render.speech import build_timeline

        return build_timeline(step.params_value(), inputs, outputs)
    if step.kind in ("mix", "loudness", "master"):
        from filmkit.render import mix

        if step.kind == "loudness":
            return mix.film_gain(step.params_value(), inputs, outputs["gain"])
        render = mix.mix_scene if step.kind == "mix" else mix.master_scene
        return render(step.params_value(), inputs, outputs)
    if step.kind == "reel":
        from filmkit.render.cut import join_reel

        return join_reel(step.params_value(), inputs, outputs["video"])
    if step.kind == "cut":
        from filmkit.render.cut import cut_film

        return cut_film(step.params_value(), inputs, outputs["film"])
    if step.kind == "talk":
        from filmkit.render.faces import talking_frames

        return talking_frames(inputs["image"], outputs)
    if step.kind == "upscale":
        from filmkit.render.upscale import upscale_picture

        return upscale_picture(inputs, outputs["image"])
    raise BuildError(f"{step.id}: unknown render step kind {step.kind!r}")
