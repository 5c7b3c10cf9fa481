"""The one generator interface every backend implements.

A generator turns a :class:`Request` into files. It is described by class
attributes (``kind``, ``name``, ``version``, ``Params``, ``outputs``) and does
its work in exactly one method, :meth:`Generator.generate`.

Contract
--------
* ``Params`` is a pydantic model with ``extra="forbid"``; the planner validates
  a spec's ``params`` against it before anything runs.
* ``version`` is part of every action key: bump it whenever the bytes a backend
  produces for the same request change, and every cached result of that
  backend is regenerated on the next build.
* ``generate`` writes each declared output to ``request.outputs[name]`` (a
  temporary path chosen by the store) and nothing else; the store hashes and
  publishes the files atomically afterwards. It may return a small JSON-able
  dict of metadata (durations, token usage, timings) that is recorded with the
  result.
* A long-running backend reports ``request.progress(fraction)`` now and then (the
  build shows a bar with a time estimate) and keeps what lets it resume, such as a
  training checkpoint, in ``request.scratch``.
* Heavy imports (torch, onnxruntime, boto3, openai) happen inside
  ``generate`` so that planning stays fast.
* A voice backend writes two outputs: ``audio`` (WAV) and ``timings`` (JSON:
  onset, offset, speech segments and, where the engine reports them, words);
  :func:`filmkit.generators.voice.shaping.shape_speech` writes both.
* ``offline = False`` marks backends that call a network service (and
  usually cost money); their credentials come from the environment, never
  from the spec.
* ``deterministic = False`` marks backends whose output differs from run to run
  (paid APIs, sampling on GPU): their results are generated once and pinned by
  ``film.lock``.
* A script backend (kind ``script``) gets a :class:`ScriptBrief` in
  ``request.script`` and writes one output, ``takes`` (JSON, written by
  :func:`filmkit.generators.script.write_takes`): every take the model wrote,
  as screenplay text in Fountain form (``CUE`` line, optional
  ``(parenthetical)``, the speech, a blank line).
* A backend that needs a model trained first names the trainer's registry id
  in ``trainer`` (a kind ``model`` backend). The planner makes a ``model:``
  step from the params the trainer's ``Params`` declares (so changing a
  sampling param never retrains) and hands its ``weights`` output to the
  backend as ``request.inputs["model"]`` (unless ``trains(params)`` says the
  params already name weights). Params named in ``file_params`` are project
  files (a corpus) or folders (photos): they enter the action key by content
  digest. A trainer that names a ``dataset`` backend gets that step's
  ``dataset`` output as ``request.inputs["dataset"]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class NoParams(BaseModel):
    """Params for a backend that takes none."""

    model_config = ConfigDict(extra="forbid")


def _ignore_progress(fraction: float) -> None:
    """Default progress sink."""


@dataclass(frozen=True)
class Turn:
    """One speech of a screenplay: who speaks (their cue, upper case), how, and what."""

    cue: str
    text: str
    direction: str = ""


@dataclass(frozen=True)
class ScriptBrief:
    """What a script backend is asked to write: continuations of an opening.

    ``prompt`` is the opening as the artist wrote it (Fountain text);
    ``opening`` is its dialogue, parsed. ``characters`` are the cues of the
    characters who may speak, in turn order. Each of the ``takes`` takes is
    at most ``lines`` speeches and ``length`` characters long, and ends early
    at any of the ``stop`` strings.
    """

    prompt: str
    opening: tuple[Turn, ...] = ()
    characters: tuple[str, ...] = ()
    takes: int = 3
    lines: int = 6
    length: int = 600
    stop: tuple[str, ...] = ()
    instructions: str = ""
    title: str = ""


@dataclass(frozen=True)
class Request:
    """Everything a generator may use to make its outputs.

    Which of ``text``, ``size`` and ``duration`` are set depends on the kind:
    voice gets ``text`` (the line to speak); image gets ``size`` and an
    optional ``text`` prompt; music gets ``duration`` and an optional ``text``
    brief. A voice may also get a ``direction``: how to say the line, from a
    parenthetical such as "(whispering)"; backends that can act on it set
    ``directions = True`` (the planner warns where a direction would be ignored).
    """

    params: BaseModel
    seed: int
    outputs: Mapping[str, Path]
    text: str = ""
    size: tuple[int, int] | None = None
    duration: float | None = None
    direction: str = ""
    script: ScriptBrief | None = None
    inputs: Mapping[str, Path] = field(default_factory=dict)
    device: str = "cpu"
    progress: Callable[[float], None] = _ignore_progress
    # A folder that outlives an interrupted run of this very step (same action key) and
    # is removed once the step succeeds: trainers keep their checkpoints here.
    scratch: Path | None = None


class Generator(ABC):
    """A backend that makes one kind of artifact (voice, image, music, ...)."""

    kind: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    outputs: ClassVar[Mapping[str, str]]
    deterministic: ClassVar[bool] = True
    directions: ClassVar[bool] = False
    offline: ClassVar[bool] = True
    licence: ClassVar[str] = ""
    # USD per unit of usage (see ``usage``); empty for backends that cost nothing.
    prices: ClassVar[Mapping[str, float]] = {}
    # Registry id of the ``model/...`` backend that trains what this one samples from.
    trainer: ClassVar[str | None] = None
    # Params that name project files or folders (read by content, so editing one reruns
    # the step).
    file_params: ClassVar[tuple[str, ...]] = ()
    # Registry id of the ``dataset/...`` backend whose ``dataset`` output a trainer
    # (kind ``model``) learns from; the planner adds a ``dataset:`` step before it.
    dataset: ClassVar[str | None] = None
    # An image backend whose model has a latent space a `walk:` layer can move through.
    walks: ClassVar[bool] = False

    @classmethod
    def trains(cls, params: BaseModel) -> bool:
        """Does sampling with these params need the ``trainer``'s model? (A backend may
        also take weights the user already has.)"""
        return cls.trainer is not None

    @classmethod
    def id(cls) -> str:
        """Registry id, ``kind/name``."""
        return f"{cls.kind}/{cls.name}"

    @classmethod
    def usage(cls, request: Mapping[str, Any], params: BaseModel) -> dict[str, float]:
        """What one run will use, estimated before it runs, for cost plans and budgets.

        Units: ``calls``, and by kind ``characters`` (voice: the line),
        ``images`` (image), ``characters`` (script: the takes to write) or
        ``seconds`` (music, sound: audio to make).
        """
        usage = {"calls": 1.0}
        if cls.kind == "script":
            brief = request.get("script") or {}
            usage["characters"] = float(brief.get("takes", 1) * brief.get("length", 0))
        elif cls.kind == "voice":
            usage["characters"] = float(len(request.get("text", "")))
        elif cls.kind == "image":
            usage["images"] = 1.0
        elif request.get("duration") is not None:
            usage["seconds"] = float(request["duration"])
        return usage

    @classmethod
    def price_list(cls, params: BaseModel) -> Mapping[str, float]:
        """USD per unit for these params (a model or engine may cost more); default: ``prices``."""
        return cls.prices

    @abstractmethod
    def generate(self, request: Request) -> Mapping[str, Any] | None:
        """Write every declared output to ``request.outputs``; return metadata."""
