"""Build-time benchmark: full build, no-op and one-line-edit rebuild.

Measures the example film of this repository and a generated film of N shots
(default 60), each in a fresh temporary copy, through the real `filmkit`
command and the real offline backends, and prints a table.

    python benchmarks/build_times.py                 # example film + 60-shot film
    python benchmarks/build_times.py --shots 6 --skip-example
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

GENERATED_FILM = """\
title: Generated
size: [320, 180]
fps: 12
seed: 9
generators:
  room: {{backend: image/room, params: {{style: waiting_room}}}}
characters:
  ada:
    name: Ada
    voice: {{backend: voice/piper, params: {{pitch: 12, formant: 3}}}}
    face: {{backend: image/face}}
  bo:
    name: Bo
    voice: {{backend: voice/espeak}}
music:
  - id: score
    generate: {{backend: music/procedural, params: {{mood: whimsical}}}}
    start: s1/shot1
    end: s{scenes}/shot{per_scene}
    length: 30
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
    """Write a film of ``shots`` shots into ``root``; returns the file to edit."""
    per_scene = min(10, shots)
    scenes = (shots + per_scene - 1) // per_scene
    (root / "scenes").mkdir(parents=True)
    (root / "film.yaml").write_text(GENERATED_FILM.format(scenes=scenes, per_scene=per_scene))
    for scene in range(1, scenes + 1):
        count = min(per_scene, shots - (scene - 1) * per_scene)
        (root / "scenes" / f"{scene:03d}.yaml").write_text(generated_scene(scene, count))
    return root / "scenes" / "001.yaml"


def make_example(root: Path) -> Path:
    """Copy the repository's example film into ``root``; returns the file to edit."""
    root.mkdir(parents=True)
    shutil.copy(REPO / "film.yaml", root / "film.yaml")
    shutil.copytree(REPO / "scenes", root / "scenes")
    if (REPO / "assets").is_dir():
        shutil.copytree(REPO / "assets", root / "assets")
    return root / "scenes" / "02-numbers.yaml"


def timed_build(root: Path, jobs: int) -> tuple[float, dict[str, int]]:
    """Wall time of one `filmkit build` and its step counts."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "filmkit.cli", "-C", str(root), "build", "-j", str(jobs)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    counts = json.loads((root / "build" / "report.json").read_text())["counts"]
    return seconds, counts


def edit_one_line(path: Path) -> None:
    """Change the text of the first line of dialogue in a scene file."""
    text = path.read_text()
    marker = ': "'
    at = text.index(marker) + len(marker)
    path.write_text(text[:at] + "Well, " + text[at:])


def measure(name: str, root: Path, edit: Path, jobs: int) -> dict[str, object]:
    """Full, no-op and one-line-edit build times of one film."""
    full, counts = timed_build(root, jobs)
    noop, noop_counts = timed_build(root, jobs)
    edit_one_line(edit)
    edited, edit_counts = timed_build(root, jobs)
    steps = json.loads((root / "build" / "report.json").read_text())["steps"]
    ran = sorted((s for s in steps if s["status"] == "ran"), key=lambda s: -s["seconds"])
    return {
        "slowest": ", ".join(f"{s['id']} {s['seconds']:.1f}s" for s in ran[:3]),
        "film": name,
        "steps": sum(counts.values()),
        "full_s": full,
        "noop_s": noop,
        "noop_ran": noop_counts["ran"],
        "edit_s": edited,
        "edit_ran": edit_counts["ran"],
    }


def print_table(rows: list[dict[str, object]]) -> None:
    """The results as a plain-text table."""
    header = (
        f"{'film':<22}{'steps':>6}{'full build':>12}{'no-op':>9}"
        f"{'one-line edit':>15}{'steps re-run':>14}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['film']:<22}{row['steps']:>6}{row['full_s']:>11.1f}s{row['noop_s']:>8.2f}s"
            f"{row['edit_s']:>14.1f}s{row['edit_ran']:>14}"
        )
    print()
    for row in rows:
        print(f"slowest steps of the one-line edit, {row['film']}: {row['slowest']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shots", type=int, default=60, help="shots in the generated film")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="parallel steps per build")
    parser.add_argument("--skip-example", action="store_true", help="only the generated film")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, -j {args.jobs}"
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="filmkit-bench-") as tmp:
        if not args.skip_example:
            root = Path(tmp) / "example"
            rows.append(measure("example (Now Serving)", root, make_example(root), args.jobs))
        root = Path(tmp) / "generated"
        rows.append(
            measure(
                f"generated {args.shots} shots", root, make_generated(root, args.shots), args.jobs
            )
        )
    print_table(rows)


if __name__ == "__main__":
    main()
