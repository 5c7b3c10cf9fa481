"""Build progress on the terminal (rich): a bar, a line per step that ran, a summary."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from filmkit.execution import record_path
from filmkit.plan.steps import Step

STATUS_STYLE = {
    "ran": "green",
    "restored": "blue",
    "cached": "dim",
    "failed": "red",
    "skipped": "yellow",
}


class _Remaining(TimeRemainingColumn):
    """Time left, for the bars of long steps (the build's own bar has none: its steps
    take anything from a millisecond to an hour)."""

    def render(self, task: Task) -> Text:
        return super().render(task) if task.fields.get("eta") else Text("")


class BuildProgress:
    """StepEvents for the CLI: a bar for the build, one with a time estimate for each
    running step that reports its progress (training, long renders), and a log of the
    steps that did work.

    ``reports`` is the folder where running steps write how far they have got
    (:class:`filmkit.execution.ProgressFile`); it is read twice a second.
    """

    POLL = 0.5

    def __init__(self, console: Console | None = None, reports: Path | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            _Remaining(),
            TextColumn("{task.fields[current]}", style="dim"),
            console=self.console,
            transient=True,
        )
        self.task: Any = None
        self.total = 0
        self.reports = reports
        self.running: dict[str, str] = {}
        self.bars: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> BuildProgress:
        self.progress.start()
        self.task = self.progress.add_task("building", total=None, current="", count="")
        if self.reports is not None:
            self._watcher = threading.Thread(target=self._watch, daemon=True)
            self._watcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
        self.progress.stop()

    def _watch(self) -> None:
        while not self._stop.wait(self.POLL):
            self.poll()

    def poll(self) -> None:
        """Show the progress each running step last reported."""
        assert self.reports is not None
        with self._lock:
            running = dict(self.running)
        for step_id, label in running.items():
            try:
                report = json.loads(record_path(self.reports, step_id).read_text("utf-8"))
                fraction = float(report["fraction"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            with self._lock:
                if step_id not in self.running:
                    continue
                bar = self.bars.get(step_id)
                if bar is None:
                    bar = self.progress.add_task(
                        f"  {label}", total=1.0, current="", count="", eta=True
                    )
                    self.bars[step_id] = bar
                self.progress.update(bar, completed=fraction, count=f"{fraction:.0%}")

    def _done(self, step: Step) -> None:
        with self._lock:
            self.running.pop(step.id, None)
            bar = self.bars.pop(step.id, None)
            if bar is not None:
                self.progress.remove_task(bar)

    def note(self, message: str) -> None:
        """Print a message above the bar."""
        self.progress.console.print(f"[yellow]{message}[/]")

    def planned(self, count: int) -> None:
        self.total = count
        self.progress.update(self.task, total=count, completed=0, count=f"0/{count}")

    def started(self, step: Step) -> None:
        with self._lock:
            self.running[step.id] = step.label or step.id
        self._refresh()

    def finished(self, step: Step, record: dict[str, Any]) -> None:
        self._done(step)
        status = record.get("status", "ran")
        if status != "cached":
            style = STATUS_STYLE.get(status, "")
            self.progress.console.print(
                f"[{style}]{status:>8}[/] {step.id}  [dim]{step.label}  "
                f"{record.get('seconds', 0):.1f}s  ({record.get('reason', '')})[/]"
            )
        self.progress.advance(self.task)
        self._refresh()

    def failed(self, step: Step, message: str) -> None:
        self._done(step)
        last = [line for line in message.splitlines() if line.strip()][-1:] or [""]
        self.progress.console.print(f"[red]  failed[/] {step.id}: {last[0]}")
        self.progress.advance(self.task)
        self._refresh()

    def _refresh(self) -> None:
        with self._lock:
            current = ", ".join(list(self.running.values())[:2])
        done = int(self.progress.tasks[0].completed) if self.progress.tasks else 0
        count = f"{done}/{self.total}" if self.total else ""
        self.progress.update(self.task, current=current, count=count)

    def summary(self, report: Any, root: Path) -> None:
        """The closing table: counts by status, time, outputs."""
        out = Console()
        table = Table.grid(padding=(0, 2))
        counts = [
            f"[{STATUS_STYLE[s]}]{report.count(s)} {s}[/]" for s in ("ran", "restored", "cached")
        ]
        table.add_row("steps", ", ".join(counts))
        table.add_row("time", f"{report.seconds:.1f}s")
        for product in _listed(report.products):
            table.add_row("wrote", product)
        table.add_row("report", "build/report.json")
        out.print(table)
        warnings = report.warnings()
        for warning in warnings:
            out.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


def _listed(products: list[str]) -> list[str]:
    """The products as the summary lists them: files in a folder of their own (a stem of
    each scene...) counted by their top folder rather than one line each."""
    listed: dict[str, int] = {}
    for product in products:
        parts = Path(product).parts
        folder = str(Path(*parts[:2])) + "/" if len(parts) > 2 else str(Path(product))
        listed[folder] = listed.get(folder, 0) + 1
    return [
        name if not name.endswith("/") else f"{name}  ({count} file{'s' * (count > 1)})"
        for name, count in listed.items()
    ]
