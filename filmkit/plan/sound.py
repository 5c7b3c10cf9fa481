"""Planning the film's clock and its sound, scene by scene. Pure, like the rest of ``plan``.

::

    voice:… ──> timeline ──> scene{u} clock ─┐
    music:<cue>, sound:… ───────────────────┴─> mix:<scene> ─┬──────────────> master:<scene> ─> cut
                                                             └─> loudness ──┘

Which voices, cues and effects a scene's sound needs is decided here, from
the spec alone: its own lines, sounds and cues, and what runs on into it
from the scene before (a cue's fade-out, a crossfade's last line, a sound
playing to the end of its scene). The timeline writes each scene's clock
relative to the scene's first frame, so a scene whose own timing did not
change keeps its clock's bytes, and its mix and master stay cached
however the scenes before it moved (early cutoff).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from filmkit.plan.builder import StepBuilder
from filmkit.plan.steps import Input, Step
from filmkit.spec.models import Scene, Shot

MIX_RATE = 48000
STEMS = ("dialogue", "music", "effects")


@dataclass
class SceneSound:
    """What one scene's mix reads: positions it needs, and the sounds it plays."""

    shots: set[int] = field(default_factory=set)
    speech: set[int] = field(default_factory=set)
    lines: list[Input] = field(default_factory=list)
    cues: list[dict[str, Any]] = field(default_factory=list)
    sounds: list[dict[str, Any]] = field(default_factory=list)
    sources: list[Input] = field(default_factory=list)


def shot_name(scene: Scene, shot: Shot) -> str:
    """The ``scene/shot`` name of a shot."""
    return f"{scene.id}/{shot.id}"


class SoundSteps(StepBuilder):
    """The timeline, every scene's mix and master, and the film's loudness."""

    def _scene_spans(self) -> list[tuple[int, int]]:
        """Each scene's first and last shot, as film-wide shot indices."""
        spans, first = [], 0
        for scene in self.film.scenes:
            spans.append((first, first + len(scene.shots) - 1))
            first += len(scene.shots)
        return spans

    def _scene_sounds(
        self,
        voices: list[list[Step | None]],
        music: list[Input | None],
        sounds: list[list[Input | None]],
        overlaps: list[int],
    ) -> list[SceneSound]:
        """Every scene's share of the film's sound."""
        spans = self._scene_spans()
        scene_of = [u for u, (a, b) in enumerate(spans) for _ in range(a, b + 1)]
        plans = [SceneSound() for _ in spans]

        for u, (first, last) in enumerate(spans):
            crossfade = u > 0 and overlaps[first] > 0
            plan = plans[u]
            plan.shots.update(range(first, last + 1))
            plan.speech.update(range(first, last + 1))
            talking = range(first - 1 if crossfade else first, last + 1)
            for index in talking:
                for k, voice in enumerate(voices[index]):
                    if voice is not None:
                        name = f"line:{index}:{k}"
                        plan.lines.append(Input(name, step=voice.id, output="audio"))
        index_of = {shot_name(scene, shot): i for i, (scene, shot) in enumerate(self.film.shots())}
        for cue, source in zip(self.film.music, music, strict=True):
            first, last = index_of[cue.start], index_of[cue.end or cue.start]
            end_scene = scene_of[last] + (1 if cue.fade_out > 0 else 0)
            for u in range(scene_of[first], min(end_scene, len(spans) - 1) + 1):
                plans[u].shots.update((first, last))
                plans[u].cues.append(
                    {
                        "id": cue.id,
                        "first": first,
                        "last": last,
                        "gain_db": cue.gain_db,
                        "fade_in": cue.fade_in,
                        "fade_out": cue.fade_out,
                        "trim": list(cue.trim) if cue.trim else None,
                        "loop": cue.loop,
                        "duck_db": cue.duck_db,
                    }
                )
                if source is not None:
                    plans[u].sources.append(source)
        for index, (_scene, shot) in enumerate(self.film.shots()):
            for k, (sound, source) in enumerate(zip(shot.sounds, sounds[index], strict=True)):
                until = index_of[sound.until] if sound.until else index
                scene_end = spans[scene_of[until]][1]
                last_scene = scene_of[until]
                if last_scene + 1 < len(spans) and overlaps[spans[last_scene + 1][0]]:
                    last_scene += 1  # it plays on through the crossfade into the next scene
                for u in range(scene_of[index], last_scene + 1):
                    plans[u].shots.update((index, until, scene_end))
                    plans[u].sounds.append(
                        {
                            "shot": index,
                            "index": k,
                            "until": until,
                            "scene_end": scene_end,
                            "at": sound.at,
                            "gain_db": sound.gain_db,
                            "loop": sound.loop,
                            "fade_in": sound.fade_in,
                            "fade_out": sound.fade_out,
                        }
                    )
                    if source is not None:
                        plans[u].sources.append(source)
        for u, (first, _last) in enumerate(spans[1:], start=1):
            # Music running on into the scene is still ducked under the last line before
            # it; the shot before is also heard through a crossfade.
            if overlaps[first] or any(cue["first"] < first for cue in plans[u].cues):
                plans[u].shots.add(first - 1)
                plans[u].speech.add(first - 1)
        return plans

    def _timeline_step(
        self,
        voices: list[list[Step | None]],
        overlaps: list[int],
        scenes: list[SceneSound],
    ) -> Step:
        shots = []
        inputs = []
        for index, (scene, shot) in enumerate(self.film.shots()):
            shots.append(
                {
                    "id": shot_name(scene, shot),
                    "duration": shot.duration,
                    "lead_in": shot.lead_in,
                    "tail": shot.tail,
                    "overlap": overlaps[index],
                    "lines": [
                        {
                            "who": line.who,
                            "name": self.film.characters[line.who].name,
                            "text": line.text,
                            "pause": line.pause,
                        }
                        for line in shot.spoken()
                    ],
                }
            )
            for k, voice in enumerate(voices[index]):
                assert voice is not None
                inputs.append(Input(f"timings:{index}:{k}", step=voice.id, output="timings"))
        params = {
            "fps": self.film.fps,
            "shots": shots,
            "scenes": [
                {"first": first, "shots": sorted(plan.shots), "speech": sorted(plan.speech)}
                for (first, _last), plan in zip(self._scene_spans(), scenes, strict=True)
            ],
            "reading_speed": self.film.subtitles.reading_speed,
            "checks": self.film.checks,
        }
        outputs = (("shots", ".json"), ("speech", ".json"), ("srt", ".srt"), ("vtt", ".vtt"))
        outputs += tuple((f"scene{u}", ".json") for u in range(len(scenes)))
        return self._render_step(
            "timeline", "timeline", params, inputs, (), "film timeline", outputs
        )

    def _sound_steps(
        self, timeline: Step, scenes: list[SceneSound]
    ) -> tuple[list[Step], list[Step]]:
        """Every scene's mix and master, and the film's loudness between them."""
        sound = self.film.sound
        mixes = []
        for u, (scene, plan) in enumerate(zip(self.film.scenes, scenes, strict=True)):
            inputs = [Input("clock", step=timeline.id, output=f"scene{u}")]
            inputs += plan.lines + list(dict.fromkeys(plan.sources))
            params = {
                "rate": MIX_RATE,
                "last": u == len(scenes) - 1,
                "cues": plan.cues,
                "sounds": plan.sounds,
                "gains": {
                    "dialogue": sound.dialogue_db,
                    "music": sound.music_db,
                    "effects": sound.effects_db,
                },
                "checks": self.film.checks,
            }
            mixes.append(
                self._render_step(
                    f"mix:{scene.id}", "mix", params, inputs, ("scenes", u), f"sound of {scene.id}"
                )
            )
        gain = self._render_step(
            "loudness",
            "loudness",
            {"loudness": sound.loudness, "scenes": len(mixes)},
            [Input(f"levels{u}", step=m.id, output="levels") for u, m in enumerate(mixes)],
            ("sound",),
            "film loudness",
        )
        masters = []
        for u, (scene, mix) in enumerate(zip(self.film.scenes, mixes, strict=True)):
            inputs = [
                Input("audio", step=mix.id, output="audio"),
                Input("levels", step=mix.id, output="levels"),
                Input("gain", step=gain.id, output="gain"),
            ]
            params = {"rate": MIX_RATE, "true_peak": sound.true_peak}
            masters.append(
                self._render_step(
                    f"master:{scene.id}",
                    "master",
                    params,
                    inputs,
                    ("scenes", u),
                    f"master of {scene.id}",
                )
            )
        return mixes, masters
