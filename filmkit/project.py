"""The facade the CLI and tests use: load -> plan -> build / forecast / clean."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import filmkit
from filmkit import uptodate
from filmkit.errors import BuildError, ProjectLockedError, SpecError, SpecErrors, UsageError
from filmkit.execution import (
    BuildContext,
    closing_remotes,
    fetch_remote,
    is_generator,
    read_record,
    remote_cache,
    reusable,
    reuse,
    run_step,
    settle_step,
)
from filmkit.generators.registry import Registry
from filmkit.plan.costs import estimate, total, usd
from filmkit.plan.graph import compile_plan
from filmkit.plan.profiles import FINAL, PICTURE_KINDS, Profile
from filmkit.plan.steps import Plan, Step
from filmkit.scripting import Picked, Scripts, Take
from filmkit.spec.loading import LoadedSpec, load_spec
from filmkit.spec.models import Film, ScriptLines
from filmkit.spec.parsed import ParsedFiles
from filmkit.spec.scripts import expand_scripts
from filmkit.spec.sourcemap import SourceMap
from filmkit.store.artifacts import STORE_DIR, ArtifactStore, file_stamp
from filmkit.store.files import (
    atomic_copy,
    atomic_output,
    atomic_write_bytes,
    atomic_write_text,
    hash_file,
    json_text,
)
from filmkit.store.lockfile import LOCK_FILE, LockEntry, explain, read_lock, write_lock
from filmkit.store.remote import RemoteConfig

if TYPE_CHECKING:
    from filmkit.plan.doit_tasks import StepEvents

REPORT_FILE = "build/report.json"
# In the store's state folder: the YAML files parsed by the last load (spec/parsed.py).
PARSED_FILE = "parsed-yaml.pickle"
LAST_BUILD = "last-build.json"
# The outputs and metadata of the actions the last build used, by action key: a
# forecast reads this one file instead of one action record a step.
USED_ACTIONS = "state/used-actions.json"
FINISHED = ("ran", "cached", "restored")


class _FailureLog:
    """Passes events on and remembers why steps failed."""

    def __init__(self, inner: StepEvents) -> None:
        self.inner = inner
        self.messages: dict[str, str] = {}

    def planned(self, count: int) -> None:
        self.inner.planned(count)

    def started(self, step: Step) -> None:
        self.inner.started(step)

    def finished(self, step: Step, record: dict[str, Any]) -> None:
        self.inner.finished(step, record)

    def failed(self, step: Step, message: str) -> None:
        self.messages[step.id] = message
        self.inner.failed(step, message)


class QuietEvents:
    """StepEvents that report nothing."""

    def planned(self, count: int) -> None:
        """Ignored."""

    def started(self, step: Step) -> None:
        """Ignored."""

    def finished(self, step: Step, record: dict[str, Any]) -> None:
        """Ignored."""

    def failed(self, step: Step, message: str) -> None:
        """Ignored."""


@dataclass(frozen=True)
class Forecast:
    """What a build would do with one step, and why.

    ``record`` is the step's build record when its result can be reused.
    """

    step: Step
    status: str
    reason: str
    record: dict[str, Any] | None = None


@dataclass
class BuildReport:
    """What a build did: one record per step, plus the published files."""

    steps: list[dict[str, Any]]
    seconds: float
    products: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def warnings(self) -> list[str]:
        """Spec notes, then every warning a step reported (cached steps included)."""
        found = list(self.notes)
        for step in self.steps:
            found += [f"{step['step']}: {w}" for w in step.get("meta", {}).get("warnings", [])]
        return found

    def count(self, status: str) -> int:
        """How many steps ended with ``status``."""
        return sum(1 for s in self.steps if s["status"] == status)

    def by_id(self) -> dict[str, dict[str, Any]]:
        """Step records keyed by step id."""
        return {s["step"]: s for s in self.steps}


class Project:
    """One film project on disk."""

    def __init__(self, root: Path, registry: Registry | None = None) -> None:
        self.root = Path(root).resolve()
        self.registry = registry or Registry.from_entry_points()
        self.store = ArtifactStore(self.root / STORE_DIR)
        self.lock_path = self.root / LOCK_FILE
        self._parsed: ParsedFiles | None = None  # parses a load made, not saved yet

    @property
    def progress_reports(self) -> Path:
        """Where running steps report their progress (for a progress display)."""
        return self.store.progress

    # loading and planning --------------------------------------------------

    def load(self) -> LoadedSpec:
        """The validated spec (unchanged files' parses come from the store's state)."""
        saved = self.store.root / "state" / PARSED_FILE
        try:
            parsed = ParsedFiles.loads(saved.read_bytes())
        except OSError:
            parsed = ParsedFiles()
        spec = load_spec(self.root, parsed=parsed)
        self._parsed = parsed if parsed.changed else None
        self._keep_parses()
        return spec

    def _keep_parses(self) -> None:
        """Save the last load's new parses, into a store a build made (reading a project
        leaves no trace in it; a film's first build saves them once its store exists)."""
        if self._parsed is None or not self.store.root.is_dir():
            return
        with suppress(OSError):  # a read-only checkout parses every time
            saved = self.store.root / "state" / PARSED_FILE
            atomic_write_bytes(saved, self._parsed.dumps(), durable=False)
        self._parsed = None

    def plan(
        self,
        spec: LoadedSpec | None = None,
        regenerate: Iterable[str] = (),
        profile: Profile = FINAL,
    ) -> Plan:
        """The full build plan, rendering as ``profile`` says; spec errors carry file:line:col.

        Lines taken from scripts are the picked takes (their Fountain files);
        a script nobody picked yet speaks take 1, and its takes steps are part
        of the plan.
        """
        spec = spec or self.load()
        scripts = self.scripts(spec)
        with located(spec.source_map):
            texts, unpicked = scripts.texts()
            takes = scripts.takes_plan(scripts.rounds(unpicked, regenerate))
            resolved, expansion = self.resolved(spec, texts)
        with located(resolved.source_map):
            plan = compile_plan(resolved.film, self.registry, profile)
        source_map = resolved.source_map
        notes = [*scripts.notes(), *expansion, *takes.notes, *plan.notes]
        merged = Plan(takes.steps + plan.steps, plan.products, ())
        return replace(merged, notes=tuple(source_map.located(note) for note in notes))

    def resolved(
        self, spec: LoadedSpec | None = None, texts: dict[str, str] | None = None
    ) -> tuple[LoadedSpec, list[SpecError]]:
        """The spec with lines from scripts filled in (picked takes, else take 1), and notes
        on speeches left out."""
        spec = spec or self.load()
        if texts is None:
            texts = self.scripts(spec).texts()[0]
        film, source_map, notes = expand_scripts(spec.film, spec.source_map, texts)
        return replace(spec, film=film, source_map=source_map), notes

    def scripts(self, spec: LoadedSpec | None = None) -> Scripts:
        """The script steps of this film: their takes, picks and rounds."""
        return Scripts(self, spec or self.load())

    def forecast(
        self,
        plan: Plan,
        lock: dict[str, LockEntry] | None = None,
        previous: dict[str, str] | None = None,
    ) -> list[Forecast]:
        """What ``build`` would do with each step, without running anything."""
        lock = read_lock(self.lock_path) if lock is None else lock
        previous = self._previous_keys() if previous is None else previous
        used = self._used_actions()
        known: dict[str, dict[str, str] | None] = {}
        out = []
        for step in plan:
            entry = lock.get(step.id)
            pending = [d for d in step.deps if known.get(d) is None]
            if pending:
                known[step.id] = None
                reason = f"runs if {pending[0]} changes its output"
                out.append(Forecast(step, "maybe", reason))
                continue
            digests = {}
            for item in step.inputs:
                if item.file is not None:
                    digests[item.name] = self.store.digest_source(self.root / item.file)
                else:
                    digests[item.name] = (known[item.step] or {})[item.output]  # type: ignore[index]
            key = step.key(digests)
            action = used.get(key)
            if action is None or not self.store.outputs_valid(action):
                action = reusable(self.store, key)
            if action is None:
                known[step.id] = None
                out.append(Forecast(step, "run", explain(step, entry, digests)))
                continue
            known[step.id] = {n: o["digest"] for n, o in action["outputs"].items()}
            record = reuse(step, key, digests, action, previous)
            status = "cached" if record["status"] == "cached" else "restore"
            out.append(Forecast(step, status, record["reason"], record))
        return out

    # building --------------------------------------------------------------

    def build(
        self,
        patterns: Iterable[str] = (),
        *,
        jobs: int = 1,
        events: StepEvents | None = None,
        wait: bool = True,
        on_wait: Callable[[str], None] = lambda message: None,
        keep_going: bool = False,
        remote: bool = False,
        frozen: bool = False,
        budget: float | None = None,
        regenerate: Iterable[str] = (),
        profile: Profile = FINAL,
    ) -> BuildReport:
        """Bring the film (or the selected steps) up to date.

        ``remote`` reads results from the project's remote cache before
        generating and shares what it generates; ``frozen`` refuses to call any
        generator (only restoring and rendering are allowed); ``budget`` (USD)
        stops before a build whose estimated generation cost exceeds it;
        ``regenerate`` names scripts to write a new round of takes for (the
        picked take stays what is spoken); ``profile`` says how the picture is
        rendered (a draft shares every generated asset with the final film).
        """
        started = time.perf_counter()
        regenerate = tuple(regenerate)
        whole = not patterns and not regenerate
        salt = self._salt(profile)
        if whole:
            stamped, before = uptodate.current(self.store.root, self.root, salt, self._unwatched())
            if stamped is not None:
                return self._unchanged(stamped, started)
        else:
            before = uptodate.fingerprint(self.root, self.store.root, self._unwatched(), salt)
        uptodate.clear(self.store.root)
        spec = self.load()
        scripts = self.scripts(spec)
        full = self.plan(spec, regenerate, profile)
        remote_config = self.remote_config(spec) if remote else None
        session = self._session(
            spec, wait=wait, on_wait=on_wait, remote=remote_config, frozen=frozen, events=events
        )
        with session as (context, log):
            self._keep_parses()
            rules: dict[str, Any] = {
                "spec": spec,
                "remote": remote_config,
                "frozen": frozen,
                "budget": budget,
                "jobs": jobs,
                "keep_going": keep_going,
            }
            written: dict[str, dict[str, Any]] = {}
            # Phase 1: the takes the film's lines come from, when no pick pins them yet
            # (and new rounds asked for with --regenerate). Their text decides the plan.
            first = scripts.takes_plan(scripts.rounds(scripts.texts()[1], regenerate))
            if len(first) and (regenerate or self._unresolved(spec)):
                written = self._execute(first, context, log, **rules)
                if not log.messages:
                    scripts.record_rounds(regenerate)
                    full = self.plan(spec, profile=profile)
            plan = full.select(patterns) if patterns else full
            found = {}
            if not log.messages:
                found = self._execute(plan, context, log, **rules)
            found |= written  # what phase 1 did, not phase 2's "found in the cache"
            everything = Plan(
                tuple(s for s in first if s.id not in plan) + plan.steps, plan.products
            )
            records = self._collect(everything, found, log.messages)
            self._update_lock(full, context.lock, records, profile)
            self._remember_keys(full, context.previous, records)
            products = self._publish(plan, records, spec.film)
        notes = [note.render("warning") for note in plan.notes]
        report = BuildReport(list(records.values()), time.perf_counter() - started, products, notes)
        self._write_report(report)
        failed = [s for s in report.steps if s["status"] == "failed"]
        if whole and not failed and len(records) == len(full):
            self._stamp(before, report, salt)
        if failed:
            details = "\n".join(f"  {s['step']}: {_last_line(s['reason'])}" for s in failed[:5])
            raise BuildError(
                f"{len(failed)} step(s) failed:\n{details}\n"
                "finished steps are kept; fix the problem and run `filmkit build` again "
                "(--debug shows tracebacks, build/report.json has every step)"
            )
        return report

    @contextmanager
    def _session(
        self,
        spec: LoadedSpec,
        *,
        wait: bool = True,
        on_wait: Callable[[str], None] = lambda message: None,
        remote: RemoteConfig | None = None,
        frozen: bool = False,
        events: StepEvents | None = None,
    ) -> Iterator[tuple[BuildContext, _FailureLog]]:
        """Hold the project, start a fresh run directory, and give the build's context.

        Remote clients opened in the session (in this process) are closed with it.
        """
        with self.locked(wait=wait, on_wait=on_wait), closing_remotes():
            self.store.ensure()
            self.store.clear_tmp()
            run_dir = self.store.root / "run"
            shutil.rmtree(run_dir, ignore_errors=True)
            run_dir.mkdir(parents=True)
            context = BuildContext(
                root=str(self.root),
                store=str(self.store.root),
                run_dir=str(run_dir),
                registry=self.registry.targets(),
                lock=read_lock(self.lock_path),
                previous=self._previous_keys(),
                remote=remote,
                frozen=frozen,
                prices=spec.film.prices,
            )
            yield context, _FailureLog(events or QuietEvents())

    def takes(self, name: str, events: StepEvents | None = None) -> list[Take]:
        """Every take of script ``name``, writing any round not written yet."""
        spec = self.load()
        scripts = self.scripts(spec)
        scripts.check_name(name)
        with located(spec.source_map):
            plan = scripts.takes_plan({name: scripts.all_rounds(name)})
        with self._session(spec, events=events) as (context, log):
            self._execute(plan, context, log, spec=spec, remote=None, frozen=False, budget=None)
        if log.messages:
            step, message = next(iter(log.messages.items()))
            raise BuildError(f"{step}: {_last_line(message)}")
        return scripts.listing(name)

    def pick(self, name: str, number: int) -> Picked:
        """Make take ``number`` of script ``name`` what the film speaks (its pick file)."""
        self.takes(name)
        return self.scripts().pick(name, number)

    def _execute(
        self,
        plan: Plan,
        context: BuildContext,
        log: _FailureLog,
        *,
        spec: LoadedSpec,
        remote: RemoteConfig | None,
        frozen: bool,
        budget: float | None,
        jobs: int = 1,
        keep_going: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """Run ``plan`` (after the --frozen and --budget checks); the records of its steps."""
        forecasts = self.forecast(plan, context.lock, context.previous)
        self._preflight(spec, forecasts, remote, frozen=frozen, budget=budget)
        # A step the forecast found in the cache is settled here: its record is the
        # forecast's. Only the rest go to the executor, so an edit's cost follows the
        # steps it touches, not the size of the film.
        log.planned(len(plan))
        found = {f.step.id: f.record for f in forecasts if f.record is not None}
        for forecast in forecasts:
            if forecast.record is not None:
                log.finished(forecast.step, forecast.record)
        pending = Plan(tuple(s for s in plan if s.id not in found), plan.products)
        run_dir = Path(context.run_dir)
        # Each step that runs is handed its settled inputs' digests; the others' records
        # it reads from the run directory, where each finished step writes its own.
        settled = {
            step_id: {name: out["digest"] for name, out in record["outputs"].items()}
            for step_id, record in found.items()
        }
        if not len(pending):
            return found
        from filmkit.plan.doit_tasks import execute_plan

        execute_plan(
            pending,
            run_step,
            lambda step: context.for_step(step, settled),
            jobs=jobs,
            events=log,
            state_dir=run_dir,
            keep_going=keep_going,
            settle=settle_step,
        )
        return found | {s.id: r for s in pending if (r := read_record(run_dir, s.id)) is not None}

    def _unresolved(self, spec: LoadedSpec) -> bool:
        """Does the film speak a script whose take is not known yet?"""
        used = {
            entry.script
            for _, shot in spec.film.shots()
            for entry in shot.lines
            if isinstance(entry, ScriptLines)
        }
        texts, _ = self.scripts(spec).texts()
        return any(name not in texts for name in used)

    def _preflight(
        self,
        spec: LoadedSpec,
        forecasts: list[Forecast],
        remote: RemoteConfig | None,
        *,
        frozen: bool,
        budget: float | None,
    ) -> None:
        """Stop before running anything if the build would break --frozen or --budget."""
        generating = [f.step for f in forecasts if f.status in ("run", "maybe")]
        generating = [s for s in generating if is_generator(s)]
        if remote is not None and generating and (frozen or budget is not None):
            generating = [s for s in generating if not self._on_remote(remote, s)]
        if frozen and generating:
            lines = []
            for step in generating[:20]:
                where = spec.source_map.located(SpecError("", path=step.origin)).location
                lines.append(f"  {where or 'film.yaml'}: {step.id} would call {step.action}")
            more = f"\n  … and {len(generating) - 20} more" if len(generating) > 20 else ""
            raise BuildError(
                f"--frozen: {len(generating)} step(s) would have to call a generator, but "
                "their results are in no cache:\n" + "\n".join(lines) + more + "\n"
                "generate them where that is allowed (`filmkit build`, then `filmkit push`), "
                "or `filmkit pull` what was generated elsewhere"
            )
        if budget is not None:
            rows = estimate(generating, self.registry, spec.film.prices)
            cost = total(rows)
            if cost > budget:
                worst = ", ".join(f"{r.backend} {usd(r.cost)}" for r in rows if r.cost > 0)
                raise BuildError(
                    f"this build would spend about {usd(cost)} ({worst}), over the budget of "
                    f"{usd(budget)}; nothing ran. `filmkit plan` lists what would run; raise "
                    "--budget, or build selected steps"
                )

    def _on_remote(self, remote: RemoteConfig, step: Step) -> bool:
        """Is this step's result (its action and every object) on the remote cache?"""
        if any(item.step is not None for item in step.inputs):
            return False  # its key depends on upstream outputs: decided while building
        digests = {
            item.name: self.store.digest_source(self.root / item.file)
            for item in step.inputs
            if item.file is not None
        }
        cache = remote_cache(remote)
        action = cache.get_action(step.key(digests))
        return action is not None and all(
            cache.has_object(o["digest"]) for o in action["outputs"].values()
        )

    def remote_config(self, spec: LoadedSpec | None = None) -> RemoteConfig:
        """The remote cache of this project, from `remote:` in film.yaml."""
        spec = spec or self.load()
        settings = spec.film.remote
        if settings is None:
            raise UsageError(
                "this project has no remote cache; add one to film.yaml, e.g.\n"
                "  remote: {bucket: my-films, prefix: now-serving, region: eu-west-1}"
            )
        return RemoteConfig(
            bucket=settings.bucket,
            prefix=settings.prefix.strip("/"),
            region=settings.region,
            endpoint_url=settings.endpoint_url,
        )

    # sharing ---------------------------------------------------------------

    def push(self, on_progress: Callable[[int, int], None] = lambda done, total: None) -> dict:
        """Upload every result film.lock pins (objects, then action records) to the remote."""
        config = self.remote_config()
        lock = read_lock(self.lock_path)
        counts: dict[str, Any] = {"uploaded": 0, "present": 0, "steps": 0, "missing_steps": []}
        with closing_remotes():
            cache = remote_cache(config)
            for done, (step_id, entry) in enumerate(sorted(lock.items()), start=1):
                action = reusable(self.store, entry.key)
                if action is None:
                    counts["missing_steps"].append(step_id)
                else:
                    for output in action["outputs"].values():
                        digest = output["digest"]
                        pushed = cache.push_object(self.store.object_path(digest), digest)
                        counts["uploaded" if pushed else "present"] += 1
                    cache.push_action(entry.key, action)
                    counts["steps"] += 1
                on_progress(done, len(lock))
        return counts | {"missing": len(counts["missing_steps"])}

    def pull(self, on_progress: Callable[[int, int], None] = lambda done, total: None) -> dict:
        """Download every result film.lock pins that this checkout lacks, verified by digest."""
        config = self.remote_config()
        lock = read_lock(self.lock_path)
        counts: dict[str, Any] = {"downloaded": 0, "present": 0, "missing_steps": []}
        with self.locked(wait=True, on_wait=lambda message: None), closing_remotes():
            self.store.ensure()
            for done, (step_id, entry) in enumerate(sorted(lock.items()), start=1):
                if reusable(self.store, entry.key) is not None:
                    counts["present"] += 1
                elif fetch_remote(config, entry.key, self.store) is not None:
                    counts["downloaded"] += 1
                else:
                    counts["missing_steps"].append(step_id)
                on_progress(done, len(lock))
        return counts | {"missing": len(counts["missing_steps"])}

    @contextmanager
    def locked(self, *, wait: bool, on_wait: Callable[[str], None]) -> Iterator[None]:
        """Hold the project lock so two builds never race on one project."""
        from filelock import FileLock, Timeout

        self.store.root.mkdir(parents=True, exist_ok=True)
        holder = self.store.root / "build.pid"
        lock = FileLock(str(self.store.root / "build.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            other = holder.read_text().strip() if holder.is_file() else "another process"
            message = f"another build of this project is running (pid {other})"
            if not wait:
                raise ProjectLockedError(
                    f"{message}; wait for it, or drop --no-wait to queue behind it"
                ) from None
            on_wait(message + "; waiting for it to finish…")
            lock.acquire()
        try:
            holder.write_text(str(os.getpid()))
            yield
        finally:
            holder.unlink(missing_ok=True)
            lock.release()

    def _collect(
        self, plan: Plan, found: dict[str, dict[str, Any]], failures: dict[str, str]
    ) -> dict[str, dict[str, Any]]:
        """One record per step: what it did, or why it failed or was skipped."""
        records: dict[str, dict[str, Any]] = {}
        for step in plan:
            record = found.get(step.id)
            if record is None:
                if step.id in failures:
                    status, reason = "failed", failures[step.id]
                else:
                    status, reason = (
                        "skipped",
                        "not run: a step it needs failed, or the build stopped",
                    )
                record = {"step": step.id, "status": status, "reason": reason, "seconds": 0}
            record["kind"] = step.kind
            record["label"] = step.label
            records[step.id] = record
        return records

    def _previous_keys(self) -> dict[str, str]:
        """Step keys at the end of the last build in this checkout (not committed)."""
        try:
            return dict(json.loads((self.store.root / LAST_BUILD).read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError):
            return {}

    def _remember_keys(
        self, full: Plan, previous: dict[str, str], records: dict[str, dict[str, Any]]
    ) -> None:
        """Keep each step's key, and the outputs of the actions those keys name."""
        keys = {k: v for k, v in previous.items() if k in full}
        keys.update({step_id: record["key"] for step_id, record in _finished(records)})
        if keys != previous:
            atomic_write_text(self.store.root / LAST_BUILD, json.dumps(keys, indent=0))
        used = self._used_actions()
        kept = {key: used[key] for key in keys.values() if key in used}
        for _, record in _finished(records):
            kept[record["key"]] = {"outputs": record["outputs"], "meta": record["meta"]}
        if kept != used:
            text = json.dumps(kept, separators=(",", ":"))
            atomic_write_text(self.store.root / USED_ACTIONS, text, durable=False)

    def _used_actions(self) -> dict[str, dict[str, Any]]:
        """What :data:`USED_ACTIONS` holds (nothing if it is missing or damaged)."""
        try:
            used = json.loads((self.store.root / USED_ACTIONS).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        if not isinstance(used, dict):
            return {}
        return {key: action for key, action in used.items() if _is_action(action)}

    def _update_lock(
        self,
        full: Plan,
        old: dict[str, LockEntry],
        records: dict[str, dict[str, Any]],
        profile: Profile,
    ) -> None:
        entries = {k: v for k, v in old.items() if k in full}
        for step_id, record in _finished(records):
            if profile != FINAL and full[step_id].kind in PICTURE_KINDS:
                continue  # film.lock pins the final film's picture, never a draft's
            outputs = {n: o["digest"] for n, o in record["outputs"].items()}
            known = old.get(step_id)
            if known is not None and known.key == record["key"] and known.outputs == outputs:
                continue  # the same entry: its key decides the rest
            entries[step_id] = LockEntry(
                key=record["key"],
                config=record["config"],
                request=record["request"],
                generator=record["generator"],
                inputs=record["inputs"],
                outputs=outputs,
            )
        write_lock(self.lock_path, entries, [s.id for s in full], previous=old)

    def _publish(self, plan: Plan, records: dict[str, dict[str, Any]], film: Film) -> list[str]:
        """Put the final outputs into build/ (the film written from its cut's layout; the
        subtitles and stems copied from the store); write the provenance beside the film.

        ``state/published.json`` remembers, for each product, the (size, mtime, inode)
        it was left with, what it was made from and the sha256 of its bytes: a product
        left alone since is checked with one ``stat``.
        """
        published = []
        ledger = self.store.published()
        before = dict(ledger)
        film_digest = None
        for relative, step_id, output in plan.products:
            record = records.get(step_id)
            if record is None or record["status"] not in FINISHED:
                continue
            made_from = record["outputs"][output]["digest"]
            layout = plan[step_id].kind == "cut"
            target = self.root / relative
            published.append(relative)
            known = ledger.get(relative)
            if not (isinstance(known, list) and len(known) == 3 and known[1] == made_from):
                known = None
            # The bytes it should have: a copy's are its object's; a film's, the bytes
            # written from the same layout before (unknown: it is written again).
            expected = made_from if not layout else known[2] if known is not None else None
            try:
                stamp = file_stamp(target)
            except OSError:
                was = "missing"
            else:
                if expected is not None and (
                    (known is not None and known[0] == stamp) or hash_file(target) == expected
                ):
                    ledger[relative] = [stamp, made_from, expected]
                    film_digest = expected if layout else film_digest
                    continue
                was = "modified"
            if layout:
                from filmkit.render.mp4 import write_laid_out

                sources = {n: self.store.object_path(d) for n, d in record["inputs"].items()}
                with atomic_output(target) as tmp:
                    expected = write_laid_out(self.store.object_path(made_from), sources, tmp)
                film_digest = expected
            else:
                atomic_copy(self.store.object_path(made_from), target)
            ledger[relative] = [file_stamp(target), made_from, expected]
            if record["status"] == "cached":
                record["status"] = "restored"
                record["reason"] = f"{relative} was {was}"
        if ledger != before:
            self.store.note_published(ledger)
        cut = records.get("cut")
        if cut is not None and cut["status"] in FINISHED:
            from filmkit import provenance

            # Beside the film file this plan cuts: film.provenance.json, film.draft.…
            output = PurePosixPath(next(p for p, step, _ in plan.products if step == "cut"))
            manifest = provenance.manifest(film, plan, records, self.registry, film_digest)
            for suffix, text in (
                (".provenance.json", provenance.dumps(manifest)),
                (".credits.txt", provenance.credits(film, plan, self.registry)),
            ):
                relative = str(output.with_suffix(suffix))
                target = self.root / relative
                if not target.is_file() or target.read_text(encoding="utf-8") != text:
                    atomic_write_text(target, text, durable=False)
                published.insert(0 if suffix == ".provenance.json" else 1, relative)
        return published

    # the no-op fast path ------------------------------------------------------

    def _salt(self, profile: Profile) -> str:
        """What else decides a build's result: filmkit's version, its backends, the profile."""
        return json.dumps(
            [filmkit.__version__, self.registry.targets(), profile.name], sort_keys=True
        )

    def _unwatched(self) -> set[str]:
        """Top-level folders a build writes into, left out of the up-to-date stamp."""
        return {PurePosixPath(REPORT_FILE).parts[0]}

    def _stamp(self, before: dict[str, Any], report: BuildReport, salt: str) -> None:
        """Stamp a complete build, unless a file changed under it while it ran."""
        skip = self._unwatched() | {PurePosixPath(p).parts[0] for p in report.products}
        now = uptodate.fingerprint(self.root, self.store.root, skip, salt)
        changed = {
            name
            for name in before["files"].keys() | now["files"].keys()
            if before["files"].get(name) != now["files"].get(name)
            and PurePosixPath(name).parts[0] not in skip
        }
        if changed - {LOCK_FILE} or before["code"] != now["code"]:
            return  # edited during the build: the next build checks everything
        steps = [{**s, "inputs": {}} for s in report.steps]
        stamped = {"steps": steps, "products": report.products, "notes": report.notes}
        uptodate.save(self.store.root, self.root, skip, now, report.products, stamped)

    def _unchanged(self, stamped: dict[str, Any], started: float) -> BuildReport:
        """The report of a build that found the project as the last complete build left it."""
        steps = [
            {**s, "status": "cached", "reason": "unchanged since the last build", "seconds": 0.0}
            for s in stamped["steps"]
        ]
        report = BuildReport(
            steps, time.perf_counter() - started, stamped["products"], stamped["notes"]
        )
        self._write_report(report)
        return report

    def _write_report(self, report: BuildReport) -> None:
        data = {
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(report.seconds, 3),
            "counts": {
                s: report.count(s) for s in ("ran", "cached", "restored", "failed", "skipped")
            },
            "products": report.products,
            "warnings": report.warnings(),
            "steps": [
                {
                    "id": s["step"],
                    "kind": s.get("kind"),
                    "label": s.get("label"),
                    "status": s["status"],
                    "reason": s.get("reason", ""),
                    "seconds": s.get("seconds", 0),
                    "key": s.get("key"),
                    "meta": s.get("meta", {}),
                }
                for s in report.steps
            ],
        }
        atomic_write_text(self.root / REPORT_FILE, json_text(data))

    # housekeeping ----------------------------------------------------------

    def clean(self, *, cache: bool = False) -> list[Path]:
        """Remove build outputs; with ``cache``, the artifact store too."""
        removed = []
        build = self.root / "build"
        if build.exists():
            shutil.rmtree(build)
            removed.append(build)
        if cache and self.store.root.exists():
            with self.locked(wait=False, on_wait=lambda message: None):
                for child in self.store.root.iterdir():
                    if child.name not in ("build.lock", "build.pid"):
                        shutil.rmtree(child) if child.is_dir() else child.unlink()
            removed.append(self.store.root)
        return removed


@contextmanager
def located(source_map: SourceMap) -> Iterator[None]:
    """Spec errors raised inside get file:line:col from ``source_map``."""
    try:
        yield
    except SpecError as exc:
        errors = getattr(exc, "errors", None)
        if errors:
            raise SpecErrors([source_map.located(e) for e in errors]) from None
        raise source_map.located(exc) from None


def _is_action(action: Any) -> bool:
    """Does ``action`` hold outputs (each a digest and a size) and metadata, as kept?"""
    if not isinstance(action, dict) or not isinstance(action.get("meta"), dict):
        return False
    outputs = action.get("outputs")
    return isinstance(outputs, dict) and all(
        isinstance(out, dict) and isinstance(out.get("digest"), str) and "size" in out
        for out in outputs.values()
    )


def _finished(records: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The records of steps that produced (or reused) their outputs."""
    return [(step_id, r) for step_id, r in records.items() if r["status"] in FINISHED]


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text
