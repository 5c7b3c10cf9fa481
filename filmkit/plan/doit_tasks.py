"""The doit adapter: the only module that imports doit.

doit orders and runs the steps (``-j N`` via its process pool); it does not
decide what is up to date. doit alone checks targets for existence only,
ignores changed actions and saves its state once at the end of a run, so its
up-to-date check is handed filmkit's own: the step-settler, asked in this
process once a step's inputs are done, finds a cached result by its action
key; any other step goes to a worker, where the step-runner makes it and
commits it to the store by itself (a killed build loses only the steps in
flight).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from doit.cmd_base import TaskLoader2
from doit.doit_cmd import DoitMain
from doit.exceptions import TaskFailed, UnmetDependency
from doit.reporter import ConsoleReporter
from doit.task import Task, dict_to_task

from filmkit.errors import FilmkitError
from filmkit.plan.steps import Plan, Step

StepRunner = Callable[[Step, Any], dict[str, Any]]
StepSettler = Callable[[Step, Any], dict[str, Any] | None]


class StepEvents(Protocol):
    """What the executor reports while it runs (implemented by the CLI)."""

    def planned(self, count: int) -> None:
        """The build will go through ``count`` steps."""

    def started(self, step: Step) -> None:
        """A step began."""

    def finished(self, step: Step, record: dict[str, Any]) -> None:
        """A step finished; ``record`` says ran/cached/restored and why."""

    def failed(self, step: Step, message: str) -> None:
        """A step failed with ``message``."""


def execute_plan(
    plan: Plan,
    runner: StepRunner,
    context_of: Callable[[Step], Any],
    *,
    jobs: int,
    events: StepEvents,
    state_dir: Path,
    keep_going: bool = False,
    settle: StepSettler | None = None,
) -> bool:
    """Run every step of ``plan`` through doit; True when all succeeded.

    Steps ``plan`` depends on but does not hold are taken as done already.
    ``runner(step, context_of(step))`` runs a step; doit keeps what it needs in
    ``state_dir``, scratch for this run (filmkit's keys decide what is up to date).

    ``settle(step, context)``, when given, is asked in this process as soon as
    a step's inputs are done, as doit's up-to-date check: the record it
    returns (the step's result is cached) finishes the step without handing
    it to a worker; None sends it to ``runner`` as usual.
    """
    names = {step.id: f"s{index:05d}" for index, step in enumerate(plan)}
    loader = _PlanLoader(
        plan, names, runner, context_of, jobs, events, state_dir, keep_going, settle
    )
    argv = ["run", *names.values()]
    return DoitMain(loader, config_filenames=()).run(argv) == 0


def _action(runner: StepRunner, step: Step, context: Any) -> dict[str, Any] | TaskFailed:
    """doit python-action: run the step; turn filmkit errors into task failures."""
    try:
        return {"record": runner(step, context)}
    except FilmkitError as exc:
        return TaskFailed(exc.render().removeprefix("error: "))


class _PlanLoader(TaskLoader2):
    def __init__(
        self,
        plan: Plan,
        names: dict[str, str],
        runner: StepRunner,
        context_of: Callable[[Step], Any],
        jobs: int,
        events: StepEvents,
        state_dir: Path,
        keep_going: bool,
        settle: StepSettler | None,
    ) -> None:
        super().__init__()
        self.plan = plan
        self.names = names
        self.runner = runner
        self.context_of = context_of
        self.jobs = jobs
        self.events = events
        self.state_dir = state_dir
        self.keep_going = keep_going
        self.settle = settle
        self.settled: dict[str, dict[str, Any]] = {}  # by task name

    def load_doit_config(self) -> dict[str, Any]:
        by_name = {name: self.plan[step_id] for step_id, name in self.names.items()}
        events = self.events

        class Reporter(_EventReporter):
            steps = by_name
            sink = events
            settled = self.settled

        self.state_dir.mkdir(parents=True, exist_ok=True)
        return {
            "dep_file": str(self.state_dir / "doit-state.json"),
            "backend": "json",
            "verbosity": 0,
            "reporter": Reporter,
            "num_process": self.jobs if self.jobs > 1 else 0,
            "par_type": "process",
            "continue": self.keep_going,
        }

    def load_tasks(self, cmd: Any, pos_args: list[str]) -> list[Task]:
        tasks = []
        for step in self.plan:
            name, context = self.names[step.id], self.context_of(step)
            task = {
                "name": name,
                "actions": [(_action, (self.runner, step, context))],
                "task_dep": [self.names[d] for d in step.deps if d in self.names],
                "doc": step.label,
                "verbosity": 0,
            }
            if self.settle is not None:
                task["uptodate"] = [(self._is_settled, (name, step, context))]
            tasks.append(dict_to_task(task))
        return tasks

    def _is_settled(self, name: str, step: Step, context: Any) -> bool:
        """doit's up-to-date check: is the step's result cached (see execute_plan)?"""
        assert self.settle is not None
        try:
            record = self.settle(step, context)
        except FilmkitError:
            return False  # the runner meets the same trouble, and reports it as a failure
        if record is None:
            return False
        self.settled[name] = record
        return True


class _EventReporter(ConsoleReporter):
    """Forwards doit's task events to :class:`StepEvents`; prints nothing itself."""

    steps: dict[str, Step] = {}
    settled: dict[str, dict[str, Any]] = {}
    sink: StepEvents

    def initialize(self, tasks: Any, selected_tasks: Any) -> None:
        """Nothing to announce."""

    def get_status(self, task: Task) -> None:
        """Not shown."""

    def execute_task(self, task: Task) -> None:
        self.sink.started(self.steps[task.name])

    def add_success(self, task: Task) -> None:
        record = (task.values or {}).get("record") or {}
        self.sink.finished(self.steps[task.name], record)

    def add_failure(self, task: Task, fail: Any) -> None:
        if isinstance(fail, UnmetDependency):
            return  # an upstream step failed; the facade reports this one as skipped
        message = fail.get_msg() if hasattr(fail, "get_msg") else str(fail)
        self.sink.failed(self.steps[task.name], message.strip())

    def skip_uptodate(self, task: Task) -> None:
        """A step settled from the cache, in this process (doit's "up to date")."""
        self.sink.finished(self.steps[task.name], self.settled[task.name])

    def skip_ignore(self, task: Task) -> None:
        """Ignored tasks are not used."""

    def teardown_task(self, task: Task) -> None:
        """No teardown actions."""

    def complete_run(self) -> None:
        """The CLI prints the summary."""
