"""Build progress on the terminal (rich): a bar, a line per step that ran, a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from filmkit.plan.steps import Step

STATUS_STYLE = {
    "ran": "green",
    "restored": "blue",
    "cached": "dim",
    "failed": "red",
    "skipped": "yellow",
}


class BuildProgress:
    """StepEvents for the CLI: a progress bar plus a log of the steps that did work."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[current]}", style="dim"),
            console=self.console,
            transient=True,
        )
        self.task: Any = None
        self.running: dict[str, str] = {}

    def __enter__(self) -> BuildProgress:
        self.progress.start()
        self.task = self.progress.add_task("building", total=None, current="")
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def note(self, message: str) -> None:
        """Print a message above the bar."""
        self.progress.console.print(f"[yellow]{message}[/]")

    def planned(self, count: int) -> None:
        self.progress.update(self.task, total=count, completed=0)

    def started(self, step: Step) -> None:
        self.running[step.id] = step.label or step.id
        self._refresh()

    def finished(self, step: Step, record: dict[str, Any]) -> None:
        self.running.pop(step.id, None)
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
        self.running.pop(step.id, None)
        last = [line for line in message.splitlines() if line.strip()][-1:] or [""]
        self.progress.console.print(f"[red]  failed[/] {step.id}: {last[0]}")
        self.progress.advance(self.task)
        self._refresh()

    def _refresh(self) -> None:
        current = ", ".join(list(self.running.values())[:2])
        self.progress.update(self.task, current=current)

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
