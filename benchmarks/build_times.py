"""Build-time benchmark: full build, no-op, one-line-edit rebuild and draft; the compositor.

Measures the example film of this repository and generated films of N shots
(default 60), each in a fresh temporary copy, through the real `filmkit`
command and the real offline backends, and prints a table; then, in the same
run, the compositor's table (see compositor.py): filmkit's compositor against
the raw encoder fed the same frames and against MoviePy.

    python benchmarks/build_times.py                 # example film + 60-shot film
    python benchmarks/build_times.py --shots 6 60 600 --skip-example
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHOTS_A_SCENE = 6
# One-line edits timed per film; the table shows their median.
EDITS = 5

GENERATED_FILM = """\
title: Generated
size: [320, 180]
fps: 12
seed: 9
generators:
  room: {{backend: image/room, params: {{style: waiting_room}}}}
  score: {{backend: music/procedural, params: {{mood: whimsical}}, seed: 5}}
characters:
  ada:
    name: Ada
    voice: {{backend: voice/piper, params: {{pitch: 12, formant: 3}}}}
    face: {{backend: image/face}}
  bo:
    name: Bo
    voice: {{backend: voice/espeak}}
music:
{music}
scenes:
  - scenes/*.yaml
"""


def generated_scene(scene: int, shots: int) -> str:
    """One scene of the generated film: alternating speakers, one line a shot."""
    lines = [f"id: s{scene}", "shots:"]
    for shot in range(1, shots + 1):
        who = "ada" if shot % 2 else "bo"
        lines += [
            f"  - id: shot{shot}",
            "    layers:",
            "      - generate: room",
            "        move: {zoom: [1.0, 1.1]}",
        ]
        if who == "ada":
            lines.append("      - character: ada")
        lines += [
            "    lines:",
            f'      - {who}: "Line {shot} of scene {scene}, number {scene * 100 + shot}."',
        ]
    return "\n".join(lines) + "\n"


def make_generated(root: Path, shots: int) -> Path:
    """Write a film of ``shots`` shots into ``root``; returns the file to edit.

    Six shots a scene, whatever the film's length (so the 6-shot film is one
    scene like any scene of the 600-shot film, and the films differ only in how
    many scenes they have), each scene under its own cue of the one score (made
    once), fading out into the next scene.
    """
    per_scene = min(SHOTS_A_SCENE, shots)
    scenes = (shots + per_scene - 1) // per_scene
    counts = [min(per_scene, shots - (scene - 1) * per_scene) for scene in range(1, scenes + 1)]
    music = "".join(
        f"  - {{id: cue{n}, generate: score, start: s{n}/shot1, end: s{n}/shot{count}, "
        "length: 30}\n"
        for n, count in enumerate(counts, start=1)
    )
    (root / "scenes").mkdir(parents=True)
    (root / "film.yaml").write_text(GENERATED_FILM.format(music=music.rstrip("\n")))
    for scene, count in enumerate(counts, start=1):
        (root / "scenes" / f"{scene:03d}.yaml").write_text(generated_scene(scene, count))
    return root / "scenes" / "001.yaml"


def make_example(root: Path) -> Path:
    """Copy the repository's example film into ``root``; returns the file to edit."""
    root.mkdir(parents=True)
    shutil.copy(REPO / "film.yaml", root / "film.yaml")
    shutil.copy(REPO / "film.lock", root / "film.lock")
    # The picked takes of the film's script steps: without them a build writes takes.
    for folder in ("scenes", "scripts", "assets"):
        if (REPO / folder).is_dir():
            shutil.copytree(REPO / folder, root / folder)
    return root / "scenes" / "02-numbers.yaml"


# Runs a command and prints the peak RSS (KiB) of the largest process it started:
# RUSAGE_CHILDREN of a fresh interpreter covers exactly that build's processes.
_PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, "
    "stderr=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def timed_build(root: Path, jobs: int, *extra: str) -> tuple[float, dict[str, int], float]:
    """Wall time of one `filmkit build`, its step counts and its peak RSS in MiB."""
    started = time.perf_counter()
    build = [sys.executable, "-m", "filmkit.cli", "-C", str(root), "build", "-j", str(jobs)]
    build += extra
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *build], check=True, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    counts = json.loads((root / "build" / "report.json").read_text())["counts"]
    return seconds, counts, int(done.stdout.split()[-1]) / 1024


def edit_one_line(path: Path) -> None:
    """Change the text of the first line of dialogue in a scene file."""
    text = path.read_text()
    marker = ': "'
    at = text.index(marker) + len(marker)
    path.write_text(text[:at] + "Well, " + text[at:])


def measure(films: list[tuple[str, Path, Path]], jobs: int) -> list[dict[str, object]]:
    """Full, no-op, one-line-edit and draft build times of each (name, root, file to edit).

    Each film is built and rebuilt with nothing to do first. The edits come
    after, in EDITS rounds with one edit of every film a round (the same line,
    a little longer each time), and each film keeps its median: the films'
    edits see the same machine, so their ratio holds on a shared one where a
    rebuild of a few seconds can be a second off from one minute to the next.
    """
    rows: dict[str, dict[str, object]] = {}
    for name, root, _ in films:
        full, counts, full_rss = timed_build(root, jobs)
        noop, _, _ = timed_build(root, jobs)
        rows[name] = {
            "film": name,
            "steps": sum(counts.values()),
            "full_s": full,
            "noop_s": noop,
            "peak_rss_mib": full_rss,
        }
    edits: dict[str, list[float]] = {name: [] for name, _, _ in films}
    for _ in range(EDITS):
        for name, root, edit in films:
            edit_one_line(edit)
            seconds, edit_counts, _ = timed_build(root, jobs)
            edits[name].append(seconds)
            rows[name]["edit_ran"] = edit_counts["ran"]
    for name, root, _ in films:
        steps = json.loads((root / "build" / "report.json").read_text())["steps"]
        ran = sorted((s for s in steps if s["status"] == "ran"), key=lambda s: -s["seconds"])
        rows[name]["slowest"] = ", ".join(f"{s['id']} {s['seconds']:.1f}s" for s in ran[:3])
        rows[name]["edit_s"] = statistics.median(edits[name])
        rows[name]["edits"] = " ".join(f"{seconds:.1f}" for seconds in edits[name])
        rows[name]["draft_s"] = timed_build(root, jobs, "--draft")[0]
    return list(rows.values())


def print_table(rows: list[dict[str, object]]) -> None:
    """The results as a plain-text table."""
    header = (
        f"{'film':<22}{'steps':>6}{'full build':>12}{'no-op':>9}"
        f"{'one-line edit':>15}{'steps re-run':>14}{'draft':>8}{'peak RSS':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['film']:<22}{row['steps']:>6}{row['full_s']:>11.1f}s{row['noop_s']:>8.2f}s"
            f"{row['edit_s']:>14.1f}s{row['edit_ran']:>14}{row['draft_s']:>7.1f}s"
            f"{row['peak_rss_mib']:>6.0f} MiB"
        )
    print()
    for row in rows:
        print(f"slowest steps of the one-line edit, {row['film']}: {row['slowest']}")
    for row in rows:
        print(f"one-line edits of {row['film']}, round by round: {row['edits']} s")
    generated = [row for row in rows if str(row["film"]).startswith("generated")]
    if len(generated) > 1:
        small, large = generated[0], generated[-1]
        print(
            f"{large['film']} against {small['film']}: one-line edit "
            f"{large['edit_s'] / small['edit_s']:.2f}x, peak RSS "
            f"{large['peak_rss_mib'] / small['peak_rss_mib']:.2f}x, no-op {large['noop_s']:.2f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shots",
        type=int,
        nargs="+",
        default=[60],
        help="shots of each generated film (e.g. --shots 6 60 600)",
    )
    parser.add_argument("-j", "--jobs", type=int, default=2, help="parallel steps per build")
    parser.add_argument("--skip-example", action="store_true", help="only the generated film")
    parser.add_argument(
        "--skip-compositor", action="store_true", help="leave out the compositor's table"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, -j {args.jobs}"
    )
    with tempfile.TemporaryDirectory(prefix="filmkit-bench-") as tmp:
        films = []
        if not args.skip_example:
            root = Path(tmp) / "example"
            films.append(("example (Now Serving)", root, make_example(root)))
        for shots in args.shots:
            root = Path(tmp) / f"generated-{shots}"
            films.append((f"generated {shots} shots", root, make_generated(root, shots)))
        rows = measure(films, args.jobs)
    print_table(rows)
    if not args.skip_compositor:
        import compositor

        print()
        print(compositor.setting())
        print(compositor.table(compositor.measure()))


if __name__ == "__main__":
    main()
