"""Small, fast generators that implement the real interface, for tests."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from filmkit.errors import GeneratorError
from filmkit.generators.base import Generator, Request
from filmkit.generators.registry import Registry
from filmkit.generators.script import write_takes
from filmkit.generators.voice.shaping import speech_timings, write_timings
from filmkit.media import read_wav, write_wav

CALLS: list[str] = []


class ToneParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pitch: float = Field(default=220.0, description="tone frequency")
    speed: float = Field(default=1.0, description="speaking speed")


class ToneVoice(Generator):
    """Speaks a line as a tone whose length follows the text."""

    kind = "voice"
    name = "tone"
    version = "1"
    Params = ToneParams
    outputs = {"audio": ".wav", "timings": ".json"}

    def generate(self, request: Request) -> dict[str, Any]:
        CALLS.append(f"voice:{request.text}")
        if "[fail]" in request.text:
            raise GeneratorError("the tone voice cannot say [fail]")
        # Lets a test catch a build mid-step; not a param, so keys do not change.
        time.sleep(float(os.environ.get("FILMKIT_TEST_VOICE_DELAY", "0")))
        rate = 16000
        pitch = round(request.params.pitch / 10) * 10  # coarse on purpose: early-cutoff tests
        seconds = 0.25 + 0.03 * len(request.text) / request.params.speed
        t = np.arange(int(seconds * rate)) / rate
        syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
        audio = 0.4 * syllables * np.sin(2 * np.pi * pitch * t)
        write_wav(request.outputs["audio"], audio, rate)
        write_timings(request.outputs["timings"], speech_timings(audio, rate))
        return {"duration": seconds}


class BuzzVoice(ToneVoice):
    """The tone voice through a clipper: a second, distinct fake voice."""

    name = "buzz"

    def generate(self, request: Request) -> dict[str, Any]:
        meta = super().generate(request)
        audio, rate = read_wav(request.outputs["audio"])
        write_wav(request.outputs["audio"], np.clip(audio * 4, -0.4, 0.4), rate)
        return meta


class SwatchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hue: int = Field(default=0, description="unused tint")


class SwatchImage(Generator):
    """A seeded gradient image; for faces, three RGBA frames."""

    kind = "image"
    name = "swatch"
    version = "1"
    Params = SwatchParams
    outputs = {"image": ".png", "mouth_open": ".png", "blink": ".png"}

    def generate(self, request: Request) -> None:
        CALLS.append(f"image:{request.seed}")
        w, h = request.size or (64, 64)
        rng = np.random.default_rng(request.seed)
        base = rng.integers(0, 255, size=3)
        ramp = np.linspace(0, 1, w)[None, :, None]
        rgb = (base * ramp + (1 - ramp) * 40).astype(np.uint8).repeat(h, axis=0)
        alpha = np.full((h, w, 1), 255, np.uint8)
        for i, name in enumerate(("image", "mouth_open", "blink")):
            frame = np.concatenate([rgb, alpha], axis=2).copy()
            frame[h // 2 : h // 2 + 4, :, :3] = 60 * i
            Image.fromarray(frame).save(request.outputs[name])


class ChordParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    root: float = Field(default=110.0, description="chord root in Hz")


class ChordMusic(Generator):
    """A quiet chord of the requested length."""

    kind = "music"
    name = "chord"
    version = "1"
    Params = ChordParams
    outputs = {"audio": ".wav"}

    def generate(self, request: Request) -> None:
        CALLS.append("music")
        rate = 22050
        t = np.arange(int((request.duration or 5) * rate)) / rate
        f = request.params.root
        tone = sum(np.sin(2 * np.pi * f * r * t) for r in (1, 1.25, 1.5)) / 6
        write_wav(request.outputs["audio"], np.stack([tone, tone], axis=1), rate)


class VerseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    style: str = Field(default="plain", description="goes into every odd speech")


class VerseScript(Generator):
    """Writes takes whose even speeches are alike in every take and odd ones differ."""

    kind = "script"
    name = "verse"
    version = "1"
    Params = VerseParams
    outputs = {"takes": ".json"}

    def generate(self, request: Request) -> dict[str, Any]:
        brief = request.script
        assert brief is not None
        CALLS.append(f"script:{request.seed}")
        takes = []
        for k in range(brief.takes):
            speeches = []
            for i in range(brief.lines):
                cue = brief.characters[i % len(brief.characters)]
                if i % 2 == 0:
                    text = f"Line {i + 1} stays."
                else:
                    style = f"{request.params.style} {request.seed % 89}"
                    text = f"Line {i + 1}, take {k + 1}, {style}."
                speeches.append(f"{cue}\n{text}\n")
            takes.append({"text": "\n".join(speeches), "finish": "lines"})
        write_takes(request.outputs["takes"], takes)
        return {"model": "verse"}


def fake_registry() -> Registry:
    return Registry(
        {
            "voice/tone": ToneVoice,
            "voice/buzz": BuzzVoice,
            "image/swatch": SwatchImage,
            "music/chord": ChordMusic,
            "script/verse": VerseScript,
        }
    )


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()
