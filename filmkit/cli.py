"""The ``filmkit`` command. Thin: parses arguments, calls the facade, prints."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from filmkit import __version__
from filmkit.errors import FilmkitError, UsageError

DEFAULT_JOBS = max(1, min(4, os.cpu_count() or 1))

EXAMPLES = """\
examples:
  filmkit build                     render the film in this folder to build/film.mp4
  filmkit build -j 1                one step at a time (default: one per CPU, up to 4)
  filmkit plan                      what would run, and why, without running it
  filmkit build 'voice:*'           only the voices (and what they need)
  filmkit build shot:arrival/wide   one shot
  filmkit validate                  check film.yaml and scenes/ (file:line:col errors)
  filmkit graph -o graph.png        draw the build graph
  filmkit -C path/to/film status    work on a film in another folder
  filmkit build --budget 2.50       stop before a build that would spend more (USD)
  filmkit push                      share generated assets through the remote cache
  filmkit pull && filmkit build --frozen
                                    CI: restore, render, and never call a generator
  filmkit takes tuesday             the takes a model wrote for script `tuesday`
  filmkit pick tuesday 2            speak take 2 (writes scripts/tuesday.fountain: commit it)
  filmkit build --regenerate tuesday
                                    write a new round of takes; the pick stays
  filmkit import play.fountain -o my-film
                                    a Fountain screenplay -> film.yaml + scenes/
  filmkit build model:strangers     train the face GAN of generator `strangers` on its
                                    photos (Ctrl-C resumes from its checkpoint later);
                                    build/models/strangers/samples.png shows its faces

what is rebuilt: every step has an action key (backend, version, params, seed and the
content digests of its inputs). A step runs only when its key is new; everything else is
reused from .filmkit/. film.lock (commit it) records which generated assets belong to
this version of the film. build/report.json lists every step as ran, cached or restored.
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``filmkit`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except FilmkitError as exc:
        if args.debug:
            raise
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished steps are kept; `filmkit build` resumes", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="filmkit",
        description="filmkit: film as code. A film is film.yaml + scenes/ + assets/; "
        "`filmkit build` regenerates only what changed and cuts build/film.mp4.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"filmkit {__version__}")
    parser.add_argument(
        "-C", dest="root", default=".", metavar="DIR", help="the film's folder (default: .)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, func: Any, help_text: str, epilog: str = "") -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(run=func)
        return sub

    init = command(
        "init",
        _init,
        "create a new film project",
        "example:\n  filmkit init my-film && cd my-film && filmkit build",
    )
    init.add_argument("directory", nargs="?", default=".", help="where to create it (default: .)")
    init.add_argument("--title", default="Untitled", help="the film's title")

    command("validate", _validate, "check the spec; print file:line:col for every problem")

    plan = command(
        "plan",
        _plan,
        "show what a build would do and why (new, params changed, input changed...)",
        "examples:\n  filmkit plan\n"
        "  filmkit plan --all        include up-to-date steps\n"
        "  filmkit plan --draft      what a draft build would render\n"
        "  filmkit plan --json | jq",
    )
    plan.add_argument("steps", nargs="*", metavar="STEP", help="step ids or globs (default: all)")
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    plan.add_argument("--all", action="store_true", help="also list steps that are up to date")
    plan.add_argument("--draft", action="store_true", help="what `filmkit build --draft` would do")

    build = command(
        "build",
        _build,
        "render the film, regenerating only what changed",
        "examples:\n  filmkit build\n  filmkit build --draft      half size, quick to look at\n"
        "  filmkit build -j 1\n  filmkit build 'voice:*'\n"
        "  filmkit build --no-wait    fail at once if another build runs",
    )
    build.add_argument(
        "steps", nargs="*", metavar="STEP", help="step ids or globs (default: the film)"
    )
    build.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=DEFAULT_JOBS,
        help=f"steps to run in parallel (default: {DEFAULT_JOBS}, from the CPU count)",
    )
    build.add_argument(
        "--draft",
        action="store_true",
        help="render a draft, build/film.draft.mp4: half the size, the picture changing every "
        "other frame, a fast encoder; the same timing, voices, music and generated pictures "
        "as the final film (they are made once for both)",
    )
    build.add_argument(
        "--no-wait", action="store_true", help="fail instead of waiting for another build"
    )
    build.add_argument(
        "--keep-going", action="store_true", help="run independent steps after a failure"
    )
    build.add_argument(
        "--remote",
        action="store_true",
        help="read results from the remote cache (film.yaml `remote:`) before generating, "
        "and share what this build generates",
    )
    build.add_argument(
        "--frozen",
        action="store_true",
        help="never call a generator: fail (naming the step and its spec line) unless every "
        "generated asset can be restored; rendering still runs. For CI",
    )
    build.add_argument(
        "--budget",
        type=float,
        metavar="USD",
        help="stop before running if the estimated cost of what would be generated exceeds this",
    )
    build.add_argument(
        "--regenerate",
        action="append",
        default=[],
        metavar="SCRIPT",
        help="write a new round of takes for this script (repeatable); what the film speaks "
        "changes only when you `filmkit pick` one",
    )

    takes = command(
        "takes",
        _takes,
        "list the takes a script step wrote (writing them first if needed), the pick marked",
        "examples:\n  filmkit takes tuesday\n  filmkit takes tuesday --full   each take as "
        "the Fountain text it is\n  filmkit takes tuesday --json",
    )
    takes.add_argument("script", help="a key of `scripts:` in film.yaml")
    takes.add_argument("--full", action="store_true", help="show each take's Fountain text")
    takes.add_argument("--json", action="store_true", help="machine-readable output")

    pick = command(
        "pick",
        _pick,
        "make a take what the film speaks: writes the script's Fountain file (commit it)",
        "example:\n  filmkit pick tuesday 2 && filmkit build && git add scripts film.lock\n"
        "the next build re-voices only the lines that differ from the previous pick",
    )
    pick.add_argument("script", help="a key of `scripts:` in film.yaml")
    pick.add_argument("take", type=int, help="the take's number, as `filmkit takes` lists it")

    importer = command(
        "import",
        _import,
        "turn a Fountain screenplay into a film project (film.yaml + scenes/)",
        "example:\n  filmkit import screenplay.fountain -o my-film && filmkit -C my-film build\n"
        "every character gets an offline voice and a generated face; every scene a set",
    )
    importer.add_argument("screenplay", help="a .fountain file")
    importer.add_argument("-o", "--output", default=".", help="the project folder (default: .)")
    importer.add_argument("--force", action="store_true", help="overwrite an existing film.yaml")

    export = command(
        "export",
        _export,
        "write the film's screenplay (script takes included) as Fountain",
        "examples:\n  filmkit export --fountain > film.fountain\n"
        "  filmkit export --fountain -o build/film.fountain",
    )
    export.add_argument(
        "--fountain", action="store_true", required=True, help="Fountain screenplay format"
    )
    export.add_argument("-o", "--output", help="write to this file (default: print)")

    command(
        "push",
        _push,
        "upload the results film.lock pins to the remote cache (film.yaml `remote:`)",
        "credentials come from the standard AWS chain (AWS_PROFILE, AWS_ACCESS_KEY_ID..., "
        "~/.aws).\nexample:\n  filmkit build && filmkit push && git commit film.lock",
    )
    command(
        "pull",
        _pull,
        "download the results film.lock pins from the remote cache, each checked by digest",
        "example (CI):\n  filmkit pull && filmkit build --frozen",
    )
    ledger = command(
        "ledger",
        _ledger,
        "what this checkout really generated: calls, usage, seconds and cost per backend",
    )
    ledger.add_argument("--json", action="store_true", help="every generation, as JSON")

    command("status", _status, "summarise what is up to date and what is not")

    graph = command(
        "graph",
        _graph,
        "print the build graph as Graphviz DOT, or draw it",
        "examples:\n  filmkit graph | dot -Tsvg > graph.svg\n  filmkit graph -o graph.png",
    )
    graph.add_argument("-o", "--output", help="write a PNG (drawn without Graphviz) or .dot file")

    clean = command("clean", _clean, "remove build/ (and with --cache the artifact store)")
    clean.add_argument(
        "--cache", action="store_true", help="also delete .filmkit/ (everything is regenerated)"
    )

    command("schema", _schema, "print the JSON Schema of film.yaml (for editor autocompletion)")
    return parser


def _project(args: argparse.Namespace) -> Any:
    from filmkit.project import Project

    return Project(Path(args.root))


def _init(args: argparse.Namespace) -> int:
    from filmkit.skeleton import create_project

    root = Path(args.root) / args.directory
    for path in create_project(root, args.title):
        print(f"created {path}")
    print(f"next: cd {root} && filmkit build")
    return 0


def _validate(args: argparse.Namespace) -> int:
    project = _project(args)
    spec = project.load()
    plan = project.plan(spec)
    film = spec.film
    lines = sum(len(shot.spoken()) for _, shot in film.shots())
    for note in plan.notes:
        print(note.render("warning"), file=sys.stderr)
    print(
        f"ok: {film.title!r}: {len(film.scenes)} scenes, {len(film.shots())} shots, "
        f"{lines} lines, {len(film.characters)} characters, {len(plan)} steps"
    )
    return 0


def _plan(args: argparse.Namespace) -> int:
    from filmkit.plan.costs import estimate, total, usd
    from filmkit.plan.profiles import DRAFT, FINAL

    project = _project(args)
    spec = project.load()
    plan = project.plan(spec, profile=DRAFT if args.draft else FINAL)
    if args.steps:
        plan = plan.select(args.steps)
    forecasts = project.forecast(plan)
    pending = [f.step for f in forecasts if f.status in ("run", "maybe")]
    costs = estimate(pending, project.registry, spec.film.prices)
    if args.json:
        data = {
            "steps": [
                {"id": f.step.id, "kind": f.step.kind, "status": f.status, "reason": f.reason}
                for f in forecasts
            ],
            "cost": {
                "total_usd": round(total(costs), 6),
                "backends": [row.as_dict() for row in costs],
            },
        }
        print(json.dumps(data, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("step", "will", "why"):
        table.add_column(column)
    style = {"run": "yellow", "maybe": "cyan", "restore": "blue", "cached": "dim"}
    words = {"run": "run", "maybe": "maybe", "restore": "restore", "cached": "skip"}
    shown = [f for f in forecasts if args.all or f.status != "cached"]
    for forecast in shown:
        table.add_row(
            forecast.step.id,
            f"[{style[forecast.status]}]{words[forecast.status]}[/]",
            forecast.reason,
        )
    console = Console()
    if shown:
        console.print(table)
    counts = {s: sum(1 for f in forecasts if f.status == s) for s in style}
    console.print(
        f"{counts['run']} to run, {counts['maybe']} depending on upstream output, "
        f"{counts['restore']} to restore, {counts['cached']} up to date"
    )
    if costs:
        costs_table = Table(box=None, pad_edge=False, title="what it would generate")
        for column in ("backend", "steps", "usage", "estimated cost"):
            costs_table.add_column(column)
        for row in costs:
            usage = ", ".join(
                f"{amount:g} {unit}"
                for unit, amount in sorted(row.usage.items())
                if unit != "calls"
            )
            price = "offline, free" if row.offline and not row.cost else usd(row.cost)
            costs_table.add_row(row.backend, str(row.steps), usage, price)
        console.print(costs_table)
        console.print(f"estimated cost: {usd(total(costs))} (list prices; `prices:` overrides)")
    return 0


def _build(args: argparse.Namespace) -> int:
    from filmkit.plan.profiles import DRAFT, FINAL
    from filmkit.progress import BuildProgress

    project = _project(args)
    with BuildProgress(reports=project.progress_reports) as progress:
        report = project.build(
            args.steps,
            jobs=max(1, args.jobs),
            events=progress,
            wait=not args.no_wait,
            on_wait=progress.note,
            keep_going=args.keep_going,
            remote=args.remote,
            frozen=args.frozen,
            budget=args.budget,
            regenerate=args.regenerate,
            profile=DRAFT if args.draft else FINAL,
        )
    progress.summary(report, project.root)
    for name in args.regenerate:
        print(f"new takes for {name}: `filmkit takes {name}` lists them", file=sys.stderr)
    return 0


def _takes(args: argparse.Namespace) -> int:
    from filmkit.progress import BuildProgress

    project = _project(args)
    with BuildProgress(reports=project.progress_reports) as progress:
        takes = project.takes(args.script, events=progress)
    if args.json:
        rows = [
            {
                "take": t.number,
                "round": t.round,
                "picked": t.picked,
                "edited": t.edited,
                "finish": t.finish,
                "text": t.text,
            }
            for t in takes
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.markup import escape

    from filmkit.spec import fountain

    console = Console()
    for take in takes:
        mark = " [green]picked[/]" if take.picked else ""
        mark += " [yellow](edited since)[/]" if take.edited else ""
        ended = {"lines": "", "end": ""}.get(take.finish, f", ended at the {take.finish} limit")
        console.print(f"[bold]take {take.number}[/]{mark}  [dim]round {take.round}{ended}[/]")
        if args.full:
            for line in take.text.strip().splitlines():
                console.print("    " + escape(line))
        else:
            for block in fountain.parse(take.text).dialogue():
                for speech in block.speeches:
                    how = (
                        f" [dim]({escape(speech.parenthetical)})[/]" if speech.parenthetical else ""
                    )
                    console.print(
                        f"    [cyan]{escape(block.character)}[/]{how}  {escape(speech.text)}"
                    )
        console.print()
    if not any(t.picked for t in takes):
        console.print(f"none picked yet: `filmkit pick {args.script} N` pins one")
    return 0


def _pick(args: argparse.Namespace) -> int:
    project = _project(args)
    picked = project.pick(args.script, args.take)
    changed = sum(1 for a, b in zip(picked.before, picked.after, strict=False) if a != b)
    changed += abs(len(picked.before) - len(picked.after))
    print(f"take {picked.take} of {args.script} written to {picked.path}")
    if picked.before:
        print(
            f"{changed} of {len(picked.after)} lines differ from the previous pick; "
            "`filmkit build` re-voices only those"
        )
    print(f"commit it: git add {picked.path} film.lock")
    return 0


def _import(args: argparse.Namespace) -> int:
    from filmkit.screenplay import import_screenplay

    source = Path(args.screenplay)
    if not source.is_file():
        raise UsageError(f"no such file: {source}")
    target = Path(args.root) / args.output
    for path in import_screenplay(source, target, force=args.force):
        print(f"wrote {path}")
    print(f"next: filmkit -C {target} build")
    return 0


def _export(args: argparse.Namespace) -> int:
    from filmkit.screenplay import export_screenplay

    project = _project(args)
    text = export_screenplay(project.resolved()[0].film)
    if args.output:
        target = Path(args.output)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    else:
        sys.stdout.write(text)
    return 0


def _transfer(run: Any, what: str) -> dict[str, Any]:
    """Run a push or pull under a progress bar of the steps it has been through."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task(what, total=None)
        return run(
            on_progress=lambda done, total: progress.update(task, completed=done, total=total)
        )


def _push(args: argparse.Namespace) -> int:
    project = _project(args)
    counts = _transfer(project.push, "pushing")
    print(
        f"pushed {counts['steps']} step results: {counts['uploaded']} objects uploaded, "
        f"{counts['present']} already there"
    )
    return _report_missing(counts, "not built here; `filmkit build` them first")


def _pull(args: argparse.Namespace) -> int:
    project = _project(args)
    counts = _transfer(project.pull, "pulling")
    print(f"pulled {counts['downloaded']} step results; {counts['present']} were already here")
    return _report_missing(counts, "not on the remote; build and push them where allowed")


def _report_missing(counts: dict[str, Any], why: str) -> int:
    if counts["missing"]:
        shown = ", ".join(counts["missing_steps"][:8])
        more = " …" if counts["missing"] > 8 else ""
        print(f"{counts['missing']} step(s) {why}: {shown}{more}", file=sys.stderr)
        return 1
    return 0


def _ledger(args: argparse.Namespace) -> int:
    from filmkit.store.ledger import LEDGER_FILE, Ledger

    project = _project(args)
    ledger = Ledger(project.store.root / LEDGER_FILE)
    if args.json:
        print(json.dumps(ledger.rows(), indent=2))
        return 0
    totals = ledger.totals()
    if not totals:
        print("nothing generated in this checkout yet")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("backend", "generations", "seconds", "cost (USD)"):
        table.add_column(column)
    for row in totals:
        table.add_row(
            row["backend"],
            str(row["generations"]),
            f"{row['seconds']:.1f}",
            f"{row['cost_usd']:.4f}",
        )
    Console().print(table)
    return 0


def _status(args: argparse.Namespace) -> int:
    project = _project(args)
    spec = project.load()
    plan = project.plan(spec)
    forecasts = project.forecast(plan)
    counts: dict[str, int] = {}
    for forecast in forecasts:
        counts[forecast.status] = counts.get(forecast.status, 0) + 1
    film = spec.film
    output = project.root / film.output
    print(f"film:    {film.title}  ({len(plan)} steps)")
    print(f"output:  {film.output} " + ("(present)" if output.is_file() else "(not built)"))
    print(
        "steps:   "
        + ", ".join(
            f"{counts.get(s, 0)} {w}"
            for s, w in [
                ("cached", "up to date"),
                ("run", "to run"),
                ("maybe", "maybe"),
                ("restore", "to restore"),
            ]
        )
    )
    size = (
        sum(f.stat().st_size for f in project.store.objects.rglob("*") if f.is_file())
        if project.store.objects.is_dir()
        else 0
    )
    print(f"store:   {size / 1e6:.1f} MB in .filmkit/")
    return 0


def _graph(args: argparse.Namespace) -> int:
    from filmkit.graphview import draw_graph, to_dot

    project = _project(args)
    plan = project.plan()
    statuses = {f.step.id: f.status for f in project.forecast(plan)}
    if not args.output:
        sys.stdout.write(to_dot(plan, statuses))
        return 0
    target = Path(args.output)
    if target.suffix not in (".dot", ".png"):
        raise UsageError(
            f"cannot write {target.suffix or 'that'} files; use a .png or .dot name "
            "(for SVG: filmkit graph | dot -Tsvg > graph.svg)"
        )
    if target.suffix == ".dot":
        target.write_text(to_dot(plan, statuses), encoding="utf-8")
    else:
        draw_graph(plan, statuses).save(target)
    print(f"wrote {target}")
    return 0


def _clean(args: argparse.Namespace) -> int:
    removed = _project(args).clean(cache=args.cache)
    for path in removed:
        print(f"removed {path}")
    if not removed:
        print("nothing to remove")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from filmkit.spec.models import Film

    print(json.dumps(Film.model_json_schema(), indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
