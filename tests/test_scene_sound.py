"""Sound made scene by scene: AAC joined on the film's grid, and cost that follows the change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from filmkit.media import decode_audio, run_ffmpeg, write_wav
from filmkit.project import Project
from filmkit.render import aac, loudness, mp4
from filmkit.render.cut import encode
from filmkit.render.mix import fitted
from tests.conftest import SCENE_ONE, SCENE_TWO, TINY_FILM, unwrapped, write_project
from tests.fakes import fake_registry

RATE = 48000
FPS = 24
CLICKS = (0.5, 3.1, 5.0, 7.3)  # away from the joins, where the decoder blends


def signal(seconds: float) -> np.ndarray:
    """Two tones with short clicks at known times: easy to find again after AAC."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 331 * t)
    audio = np.stack([tone, 0.8 * tone], axis=1).astype(np.float32)
    for at in CLICKS:
        audio[int(at * RATE) : int(at * RATE) + 48] = 0.9
    return audio


def clicks(decoded: np.ndarray) -> list[int]:
    """Sample positions of the clicks in decoded audio."""
    found = []
    for at in CLICKS:
        around = decoded[int(at * RATE) - 4000 : int(at * RATE) + 4000, 0]
        found.append(int(at * RATE) - 4000 + int(np.argmax(np.abs(around) > 0.6)))
    return found


def film_of(sections: list[Path], starts: list[int], seconds: float, out: Path) -> np.ndarray:
    """The scenes' sound joined as the cut joins it, under a black picture; decoded."""
    black = out.with_name("black.mp4")
    count = round(seconds * FPS)
    encode((np.zeros((36, 64, 3), np.uint8) for _ in range(count)), black, count, (64, 36), FPS)
    sound = aac.film_sound([unwrapped(p) for p in sections], starts, round(seconds * RATE))
    mp4.write_movie(out, mp4.read_video(black), sound, {"title": "sync"})
    return np.frombuffer(decode_audio(out, RATE), dtype="<f4").reshape(-1, 2)


def test_the_grid_keeps_every_scene_within_half_an_aac_frame_and_never_drifts() -> None:
    rng = np.random.default_rng(4)
    starts = [0, *np.cumsum(rng.integers(3000, 400_000, size=300)).tolist()]
    total = starts[-1] + 12_345
    counts = aac.grid(starts[:-1], total)
    edges = np.concatenate([[0], np.cumsum(counts)]) * aac.FRAME
    assert np.all(np.abs(edges[:-1] - np.array(starts[:-1])) <= aac.FRAME // 2)
    assert abs(edges[-1] - total) <= aac.FRAME // 2


def test_scenes_encoded_apart_play_in_sync_with_a_single_pass_encode(tmp_path: Path) -> None:
    seconds = 8.0
    audio = signal(seconds + 1)
    total = int(seconds * RATE)
    # Scenes start on picture frames, anywhere on the AAC grid.
    starts = [0, 53 * 2000, 97 * 2000 + 0, 150 * 2000]
    sections = []
    for u, start in enumerate(starts):
        own = (starts[u + 1] if u + 1 < len(starts) else total) - start
        path = tmp_path / f"scene{u}.aac"
        aac.encode(audio[start : start + aac.window(own)], RATE, path)
        sections.append(path)
    assert len(aac.film_sound([unwrapped(p) for p in sections], starts, total).samples) == round(
        total / aac.FRAME
    )

    single = tmp_path / "single.wav"
    write_wav(single, audio[:total], RATE)
    one_pass = tmp_path / "one-pass.m4a"
    run_ffmpeg(["-i", str(single), "-c:a", "aac", "-b:a", "192k", str(one_pass)])
    reference = np.frombuffer(decode_audio(one_pass, RATE), dtype="<f4").reshape(-1, 2)

    stitched = film_of(sections, starts, seconds, tmp_path / "film.mp4")
    frame = RATE // FPS
    assert abs(stitched.shape[0] - reference.shape[0]) < frame
    for got, want in zip(clicks(stitched), clicks(reference), strict=True):
        assert abs(got - want) < frame // 2  # well under one picture frame
    # Between the joins the sound is the sound: the one-pass encode's, moved by the
    # scene's offset from the grid.
    shift = round(starts[1] / aac.FRAME) * aac.FRAME - starts[1]
    middle = slice(int(3.0 * RATE), int(3.5 * RATE))
    moved = slice(middle.start - shift, middle.stop - shift)
    error = stitched[middle] - reference[moved]
    assert np.sqrt(np.mean(error**2)) < 0.05 * np.sqrt(np.mean(reference[moved] ** 2))


def test_the_same_scene_sound_encodes_to_the_same_bytes(tmp_path: Path) -> None:
    audio = signal(3.0)
    first, second = tmp_path / "a.aac", tmp_path / "b.aac"
    aac.encode(audio[: aac.window(RATE * 2)], RATE, first)
    aac.encode(audio[: aac.window(RATE * 2)], RATE, second)
    assert first.read_bytes() == second.read_bytes()


def test_a_scene_takes_exactly_its_stretch_of_a_long_looped_cue() -> None:
    rng = np.random.default_rng(0)
    cue = rng.standard_normal((RATE, 2)).astype(np.float32)
    whole = fitted(cue, RATE * 9, RATE, loop=True, fade_in=0.5, fade_out=1.0)
    part = fitted(cue, RATE * 9, RATE, loop=True, fade_in=0.5, fade_out=1.0, first=RATE * 4,
                  count=RATE * 7)  # fmt: skip
    assert np.allclose(part[: RATE * 5], whole[RATE * 4 :], atol=1e-6)
    assert not part[RATE * 5 :].any()  # past the cue's end: silence
    before = fitted(
        cue, RATE * 9, RATE, loop=True, fade_in=0.5, fade_out=1.0, first=-RATE, count=RATE * 2
    )
    assert not before[:RATE].any() and np.allclose(before[RATE:], whole[:RATE], atol=1e-6)


def test_scene_blocks_pool_into_the_whole_films_loudness() -> None:
    audio = signal(12.0)
    audio[: 5 * RATE] *= 0.2  # a quiet scene, then a loud one
    whole = loudness.integrated_loudness(audio, RATE)
    pooled = loudness.gated_loudness(
        np.concatenate([loudness.block_powers(part, RATE) for part in np.split(audio, [5 * RATE])])
    )
    assert pooled == pytest.approx(whole, abs=0.1)


# -- through the build ----------------------------------------------------------

# Each scene has its own music cue (the first ends with its scene), and a cut joins them.
CODA = "  - id: coda\n    generate: {backend: music/chord}\n    start: two/b\n    length: 8\n"
SCENE_CUES = TINY_FILM.replace("    end: two/b\n", "    end: one/a\n    fade_out: 0\n").replace(
    "scenes:\n", CODA + "scenes:\n"
)


def build(root: Path) -> dict[str, dict]:
    Project(root, fake_registry()).build()
    report = json.loads((root / "build" / "report.json").read_text())
    return {step["id"]: step for step in report["steps"]}


def test_a_longer_line_remakes_only_its_own_scenes_sound(tmp_path: Path) -> None:
    scenes = {"01.yaml": SCENE_ONE, "02.yaml": SCENE_TWO.replace("    transition: crossfade\n", "")}
    root = write_project(tmp_path / "film", film=SCENE_CUES, scenes=scenes)
    before = build(root)
    text = (root / "scenes" / "01.yaml").read_text()
    (root / "scenes" / "01.yaml").write_text(
        text.replace("Hello there.", "Hello there, how are you?")
    )
    after = build(root)
    # Scene two starts later in the film, but its own clock and sound are unchanged.
    assert after["timeline"]["status"] == "ran"
    assert after["mix:one"]["status"] == "ran"
    assert after["mix:two"]["status"] == "cached"
    moved = before["loudness"]["meta"]["gain_db"] != after["loudness"]["meta"]["gain_db"]
    assert after["master:two"]["status"] == ("ran" if moved else "cached")
    assert after["cut"]["meta"]["duration"] > before["cut"]["meta"]["duration"]


def test_a_step_whose_inputs_come_out_unchanged_is_settled_without_a_worker(
    tmp_path: Path,
) -> None:
    scenes = {"01.yaml": SCENE_ONE, "02.yaml": SCENE_TWO.replace("    transition: crossfade\n", "")}
    root = write_project(tmp_path / "film", film=SCENE_CUES, scenes=scenes)
    build(root)
    text = (root / "scenes" / "01.yaml").read_text()
    (root / "scenes" / "01.yaml").write_text(text.replace("Hello there.", "Hello, you."))
    started: list[str] = []
    finished: dict[str, str] = {}

    class Events:
        def planned(self, count: int) -> None: ...
        def started(self, step: Any) -> None:
            started.append(step.id)

        def finished(self, step: Any, record: dict) -> None:
            finished[step.id] = record["status"]

        def failed(self, step: Any, message: str) -> None: ...

    Project(root, fake_registry()).build(jobs=2, events=Events())
    # Scene two's mix waited for the film's new clock, then was found in the cache: it
    # was settled by the scheduler, and only the steps that ran went to a worker.
    assert finished["mix:two"] == "cached" and "mix:two" not in started
    assert sorted(started) == sorted(step for step, status in finished.items() if status == "ran")
    assert {"voice:one/a/1", "timeline", "mix:one", "cut"} <= set(started)
