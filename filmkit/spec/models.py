"""What a film is: pydantic models of film.yaml and scenes/*.yaml.

Every model forbids unknown keys so a typo is an error, never a silent
default. Field descriptions become the JSON Schema that ``filmkit schema``
prints for editors.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from filmkit.spec.effects import EASES, Blend, Camera, Depth, Key, Mask, Retime, Style, Upscale
from filmkit.spec.types import Colour, Fraction, Ident, Seconds, Strict


class GeneratorConfig(Strict):
    """A backend and its params, e.g. ``{backend: voice/piper, params: {pitch: 3}}``."""

    backend: str = Field(description="registry id, kind/name, e.g. voice/piper")
    params: dict[str, Any] = Field(default_factory=dict, description="backend params")
    seed: int | None = Field(default=None, description="fixed seed; default: derived")


GeneratorRef = Annotated[
    str | GeneratorConfig,
    Field(description="name of an entry in `generators:` or an inline config"),
]


class Character(Strict):
    """Someone who speaks: a display name, a voice, optionally a face."""

    name: str = Field(description="name shown in subtitles")
    voice: GeneratorRef
    face: GeneratorRef | None = None
    description: str = Field(default="", description="prompt for image backends")


_PARENTHETICAL = re.compile(r"^\s*\(([^()]{1,80})\)\s*(.*)$", re.DOTALL)


class Line(Strict):
    """One line of dialogue. Shorthand: ``- ada: "(quietly) Hello."``.

    A leading parenthetical, as in a screenplay, becomes the line's
    ``direction``: how it is said. It is not spoken and not subtitled.
    """

    who: str = Field(description="a key of `characters:`")
    text: str = Field(min_length=1)
    direction: str = Field(
        default="",
        description="how the line is said, e.g. 'whispering, slowly': polly and openai act "
        "it out; piper and espeak change pace and level; what a voice cannot do, the build "
        "warns about",
    )
    pause: Seconds = Field(default=0.35, description="silence after the line")

    @model_validator(mode="before")
    @classmethod
    def _expand_shorthand(cls, data: Any) -> Any:
        """``{mara: "Hi.", pause: 1}`` means ``{who: mara, text: "Hi.", pause: 1}``."""
        if isinstance(data, dict) and "who" not in data and "text" not in data:
            speakers = [k for k in data if k not in cls.model_fields]
            if len(speakers) == 1 and isinstance(data[speakers[0]], str):
                rest = {k: v for k, v in data.items() if k != speakers[0]}
                data = {"who": speakers[0], "text": data[speakers[0]], **rest}
        if isinstance(data, dict) and isinstance(data.get("text"), str):
            found = _PARENTHETICAL.match(data["text"])
            if found and found.group(2).strip() and not data.get("direction"):
                data = {**data, "direction": found.group(1).strip(), "text": found.group(2)}
        return data


class ScriptLines(Strict):
    """Lines of dialogue taken from a script step's picked take: ``- script: tuesday``.

    The take's speeches ``first`` to ``last`` (1-based, inclusive; default:
    all) become this shot's lines, spoken and subtitled like written ones.
    """

    script: Ident = Field(description="a key of `scripts:` in film.yaml")
    first: Annotated[int, Field(ge=1)] = Field(default=1, description="first speech of the take")
    last: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="last speech of the take; default: the take's last"
    )
    pause: Seconds = Field(default=0.35, description="silence after each line")

    @model_validator(mode="after")
    def _ordered(self) -> ScriptLines:
        if self.last is not None and self.last < self.first:
            raise ValueError("`last` comes before `first`")
        return self


def line_kind(data: Any) -> str:
    """A shot's ``lines:`` entry is a line, or a reference to a script's take."""
    if isinstance(data, dict):
        return "script" if "script" in data else "line"
    return "script" if isinstance(data, ScriptLines) else "line"


LineEntry = Annotated[
    Annotated[Line, Tag("line")] | Annotated[ScriptLines, Tag("script")],
    Discriminator(line_kind),
]


class Move(Strict):
    """A Ken Burns move: zoom and centre go from the first value to the second."""

    zoom: tuple[float, float] = (1.0, 1.1)
    x: tuple[Fraction, Fraction] = (0.5, 0.5)
    y: tuple[Fraction, Fraction] = (0.5, 0.5)

    @field_validator("zoom")
    @classmethod
    def _zoom_at_least_one(cls, value: tuple[float, float]) -> tuple[float, float]:
        if min(value) < 1.0:
            raise ValueError("zoom must be at least 1.0 (1.0 shows the whole image)")
        return value


def in_time_order(value: list[Any] | None, what: str) -> list[Any] | None:
    """A list of timed entries (``at``), checked: not empty, each later than the one before."""
    if value is not None:
        if not value:
            raise ValueError(f"give at least one {what}, or leave `{what}s:` out")
        times = [entry.at for entry in value]
        if any(b <= a for a, b in zip(times, times[1:], strict=False)):
            raise ValueError(f"{what}s must come in time order, each later: at {times}")
    return value


class LayerBase(Strict):
    """Placement and timing shared by every layer."""

    fit: Literal["cover", "contain", "height"] = Field(
        default="cover",
        description="cover: fill the frame; contain: fit inside; height: scale x frame height",
    )
    scale: float = Field(default=1.0, gt=0)
    position: tuple[float, float] = Field(default=(0.5, 0.5), description="frame fractions")
    anchor: tuple[float, float] = Field(
        default=(0.5, 0.5), description="which point of the layer sits at `position`"
    )
    opacity: Fraction = 1.0
    start: Seconds = Field(default=0.0, description="seconds into the shot")
    end: Seconds | None = Field(default=None, description="default: end of the shot")
    fade_in: Seconds = 0.0
    fade_out: Seconds = 0.0
    move: Move | None = None
    keys: list[Key] | None = Field(
        default=None,
        description="keyframes: position, scale, rotation and opacity at times in the shot",
    )
    blend: Blend = "normal"
    depth: Depth | None = None

    @field_validator("keys")
    @classmethod
    def _keys_in_order(cls, value: list[Key] | None) -> list[Key] | None:
        return in_time_order(value, "key")


class ColorLayer(LayerBase):
    """A solid colour."""

    color: Colour


class ImageLayer(LayerBase):
    """An image file from the project."""

    image: str = Field(description="path relative to the project")
    mask: Mask | None = Field(default=None, description="subject, a key colour or a model")
    upscale: Upscale = None


class VideoLayer(LayerBase):
    """A video file from the project, optionally trimmed and looped."""

    video: str = Field(description="path relative to the project")
    trim: tuple[Seconds, Seconds] | None = None
    loop: bool = False
    retime: Retime | None = Field(default=None, description="slower or faster, by optical flow")
    mask: Mask | None = Field(default=None, description="a key colour or a model, every frame")


class GeneratedLayer(LayerBase):
    """An image made by a generator (a set, a prop)."""

    generate: GeneratorRef
    prompt: str = ""
    mask: Mask | None = Field(default=None, description="subject, a key colour or a model")
    upscale: Upscale = None


class Drive(Strict):
    """A video of a real face that moves a character's face."""

    video: str = Field(description="a video of a face, in the project (your phone will do)")
    motion: Annotated[float, Field(ge=0, le=3)] = Field(
        default=1.0, description="how much of the head's movement the face makes (0: none)"
    )
    model: str | None = Field(
        default=None,
        description="First Order Motion Model weights (vox-cpk.pth.tar): the face redrawn "
        "with the video's expressions, not only moved (non-commercial licence)",
    )


class FaceLayer(LayerBase):
    """A character's face; it talks while the character speaks in this shot."""

    character: str
    fit: Literal["cover", "contain", "height"] = "height"
    scale: float = Field(default=0.85, gt=0)
    position: tuple[float, float] = (0.5, 1.0)
    anchor: tuple[float, float] = (0.5, 1.0)
    drive: Drive | None = Field(
        default=None, description="move the face as the face in a video moves"
    )
    lipsync: str | None = Field(
        default=None,
        description="Wav2Lip weights (wav2lip.pth): the mouth redrawn to the character's "
        "lines in this shot (research and non-commercial use only)",
    )


class Stop(Strict):
    """A face a latent walk passes through: the latent of ``seed``, reached at ``at``."""

    at: Seconds = Field(description="seconds into the shot")
    seed: int = Field(description="which face: the generator's latent for this seed")
    hold: Seconds = Field(default=0.0, description="seconds to stay on this face")


class WalkLayer(LayerBase):
    """A face drifting through the latent space of a generator filmkit trained (or the
    user's weights): a seeded walk, a path through chosen faces, or a loop."""

    walk: GeneratorRef = Field(description="a generator with latents: image/gan")
    fit: Literal["cover", "contain", "height"] = "height"
    seed: int | None = Field(default=None, description="where a free walk starts and goes")
    speed: Annotated[float, Field(gt=0, le=10)] = Field(
        default=0.3, description="new faces per second on a free walk"
    )
    loop: Seconds | None = Field(
        default=None, description="seconds after which a free walk returns to where it began"
    )
    stops: list[Stop] | None = Field(
        default=None,
        description="faces to pass through, in time order (a latent interpolation between them)",
    )
    follow: Literal["none", "voice"] = Field(
        default="none", description="voice: a free walk hurries while someone in the shot speaks"
    )

    @field_validator("stops")
    @classmethod
    def _stops_in_order(cls, value: list[Stop] | None) -> list[Stop] | None:
        return in_time_order(value, "stop")


class MorphLayer(LayerBase):
    """One face turning into another: matching points found on both faces, the picture
    warped along them, and dissolved."""

    morph: tuple[str, str] = Field(
        description="from and to: each a character (its face) or a picture file"
    )
    fit: Literal["cover", "contain", "height"] = "height"
    scale: float = Field(default=0.85, gt=0)
    position: tuple[float, float] = (0.5, 1.0)
    anchor: tuple[float, float] = (0.5, 1.0)
    between: tuple[Seconds, Seconds] | None = Field(
        default=None, description="when the change starts and ends, seconds into the shot"
    )
    ease: Literal[EASES] = Field(  # type: ignore[valid-type]
        default="in-out", description="how the change goes: linear, in, out, in-out"
    )

    @field_validator("between")
    @classmethod
    def _forward(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[1] <= value[0]:
            raise ValueError(f"the change must end after it starts: {list(value)}")
        return value


class TextLayer(LayerBase):
    """Title text."""

    text: str = Field(min_length=1)
    font: str | None = Field(default=None, description="a .ttf/.otf path; default: Noto Serif")
    size: int = Field(default=64, gt=0, description="pixels at 720p; scales with the film")
    color: Colour = "#f4efe6"
    fit: Literal["cover", "contain", "height"] = "contain"


# Checked in this order: a text layer also has a `color`, so `text` decides first.
_LAYER_KEYS = ("text", "character", "generate", "walk", "morph", "video", "image", "color")


def layer_kind(data: Any) -> str | None:
    """Which kind of layer a mapping or model is: its defining key."""
    if isinstance(data, dict):
        return next((key for key in _LAYER_KEYS if key in data), None)
    fields = getattr(type(data), "model_fields", None)  # a model's, without asking it
    if fields is not None:
        return next((key for key in _LAYER_KEYS if key in fields), None)
    return next((key for key in _LAYER_KEYS if hasattr(data, key)), None)


Layer = Annotated[
    Annotated[ColorLayer, Tag("color")]
    | Annotated[ImageLayer, Tag("image")]
    | Annotated[VideoLayer, Tag("video")]
    | Annotated[GeneratedLayer, Tag("generate")]
    | Annotated[FaceLayer, Tag("character")]
    | Annotated[WalkLayer, Tag("walk")]
    | Annotated[MorphLayer, Tag("morph")]
    | Annotated[TextLayer, Tag("text")],
    Discriminator(
        layer_kind,
        custom_error_type="layer_kind",
        custom_error_message="a layer needs one of: " + ", ".join(_LAYER_KEYS),
    ),
]


class Transition(Strict):
    """How a shot begins: a hard cut or a crossfade from the previous shot."""

    type: Literal["cut", "crossfade"] = "cut"
    duration: Seconds = 0.6

    def frames(self, fps: int) -> int:
        """How many frames this shot overlaps the one before it (0 for a cut)."""
        return round(self.duration * fps) if self.type == "crossfade" else 0


class Sound(Strict):
    """A sound effect or ambience in a shot: a file or a generated sound."""

    file: str | None = Field(default=None, description="an audio file in the project")
    generate: GeneratorRef | None = None
    prompt: str = Field(default="", description="what to make, for a sound generator")
    at: Seconds = Field(default=0.0, description="seconds into the shot")
    length: Seconds = Field(default=4.0, description="seconds of sound to generate")
    gain_db: float = 0.0
    loop: bool = Field(
        default=False, description="repeat to fill the rest of the shot (or up to `until`)"
    )
    until: str | None = Field(
        default=None,
        description="scene/shot: the sound runs on to the end of that shot (ambience "
        "under several shots); default: the end of its own shot",
    )
    fade_in: Seconds = 0.0
    fade_out: Seconds = 0.0

    @model_validator(mode="after")
    def _one_source(self) -> Sound:
        if (self.file is None) == (self.generate is None):
            raise ValueError("a sound needs exactly one of `file:` or `generate:`")
        return self


class Look(Strict):
    """A shot's finish, applied to every frame after the layers: grade, then lens and film."""

    grade: str | None = Field(
        default=None, description="a colour grade: a .cube 3D LUT file (Resolve, Photoshop...)"
    )
    grade_amount: Fraction = Field(default=1.0, description="how much of the grade: 0 to 1")
    vignette: Fraction = Field(default=0.0, description="how much the corners darken: 0 to 1")
    grain: Fraction = Field(default=0.0, description="film grain, a new pattern each frame")
    dust: Fraction = Field(default=0.0, description="specks of dust on the print")
    scratches: Fraction = Field(default=0.0, description="how often a scratch runs down a frame")
    lofi: Annotated[int, Field(ge=1, le=64)] = Field(
        default=1, description="show the picture this many times coarser (1: off)"
    )

    def is_plain(self) -> bool:
        """Does this look leave frames as they are?"""
        return (
            (self.grade is None or self.grade_amount == 0)
            and not (self.vignette or self.grain or self.dust or self.scratches)
            and self.lofi == 1
        )


class Shot(Strict):
    """A shot: layers of picture and the lines spoken over it."""

    id: Ident
    duration: Seconds | None = Field(default=None, description="default: follows the dialogue")
    transition: Transition = Transition()
    lead_in: Seconds = Field(default=0.5, description="silence before the first line")
    tail: Seconds = Field(default=0.7, description="silence after the last line")
    layers: list[Layer] = Field(default_factory=list)
    lines: list[LineEntry] = Field(
        default_factory=list,
        description="dialogue: a list (`- mara: Hello.`, `- script: name`) or a block of "
        "Fountain (cue line, optional parenthetical, speech; a blank line between speeches)",
    )
    sounds: list[Sound] = Field(default_factory=list)
    camera: Camera | None = Field(
        default=None, description="focus and parallax over the layers' depths"
    )
    style: Style | None = Field(default=None, description="restyle every frame like a picture")
    look: Look | None = Field(default=None, description="this shot's finish (default: the film's)")
    action: str = Field(
        default="", description="what happens, as screenplay action (not rendered; exported)"
    )

    def spoken(self) -> list[Line]:
        """The shot's lines of dialogue (script references must be expanded first)."""
        return [line for line in self.lines if isinstance(line, Line)]

    @field_validator("transition", mode="before")
    @classmethod
    def _transition_shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value


class Scene(Strict):
    """A scene: a run of shots."""

    id: Ident
    title: str = ""
    heading: str = Field(
        default="", description="screenplay scene heading, e.g. 'INT. WAITING ROOM - DAY'"
    )
    shots: list[Shot] = Field(min_length=1)


class MusicCue(Strict):
    """A piece of score laid under a span of shots: generated, or a file.

    The cue fits its span by itself: music that runs long is cut (and faded
    out), music that runs short loops with a crossfade. A cue rings on for
    ``fade_out`` seconds after its last shot, so a cue that starts there
    crossfades with it.
    """

    id: Ident
    generate: GeneratorRef | None = None
    file: str | None = Field(default=None, description="an audio file (wav, mp3, flac, ogg...)")
    trim: tuple[Seconds, Seconds] | None = Field(
        default=None, description="[start, end] seconds of the file to use"
    )
    loop: bool = Field(default=True, description="loop music shorter than its span")
    start: str = Field(description="first shot, scene/shot")
    end: str | None = Field(default=None, description="last shot, scene/shot; default: start")
    length: Seconds = Field(default=60.0, description="seconds of music to generate")
    gain_db: float = -12.0
    duck_db: float = Field(default=-8.0, le=0, description="gain while someone speaks")
    fade_in: Seconds = 1.0
    fade_out: Seconds = 2.0
    prompt: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> MusicCue:
        if (self.file is None) == (self.generate is None):
            raise ValueError("a music cue needs exactly one of `generate:` or `file:`")
        return self


class Script(Strict):
    """Dialogue a language model writes: several takes of a scene's continuation, one picked.

    The takes are generated once and kept; ``filmkit takes NAME`` lists them
    and ``filmkit pick NAME N`` writes the chosen one to ``file`` (commit it):
    from then on the build speaks that file and calls no model.
    """

    generate: GeneratorRef = Field(description="a script backend: script/lstm, script/ngram, ...")
    prompt: str = Field(
        default="",
        description="the opening the model continues, as Fountain (cue, speech, blank line)",
    )
    prompt_file: str | None = Field(
        default=None, description="a .fountain file with the opening, instead of `prompt`"
    )
    characters: list[Ident] = Field(
        default_factory=list,
        description="who may speak, in turn order; default: the speakers of the prompt",
    )
    takes: Annotated[int, Field(ge=1, le=16)] = Field(default=3, description="takes per round")
    lines: Annotated[int, Field(ge=1, le=60)] = Field(default=6, description="speeches per take")
    length: Annotated[int, Field(ge=20, le=20000)] = Field(
        default=600, description="most characters per take"
    )
    stop: list[str] = Field(default_factory=list, description="a take ends at any of these")
    instructions: str = Field(
        default="", description="style notes for the model (backends that take them)"
    )
    file: str | None = Field(
        default=None, description="where the picked take is kept; default: scripts/NAME.fountain"
    )

    @model_validator(mode="after")
    def _one_prompt(self) -> Script:
        if self.prompt and self.prompt_file:
            raise ValueError("give the opening as `prompt:` or `prompt_file:`, not both")
        return self

    def pick_file(self, name: str) -> str:
        """The project path of the picked take's Fountain file."""
        return self.file or f"scripts/{name}.fountain"


class SoundSettings(Strict):
    """The mix: loudness target, true-peak ceiling and stem levels."""

    loudness: float = Field(
        default=-16.0,
        ge=-40.0,
        le=-5.0,
        description="integrated loudness target in LUFS: -16 for the web, -23 for broadcast "
        "(EBU R128), -14 for some streaming services",
    )
    true_peak: float = Field(
        default=-1.0, ge=-12.0, le=0.0, description="true-peak ceiling in dBTP"
    )
    dialogue_db: float = Field(default=0.0, description="gain of the dialogue stem")
    music_db: float = Field(default=0.0, description="gain of the music stem")
    effects_db: float = Field(default=0.0, description="gain of the effects stem")


class RemoteSettings(Strict):
    """A shared cache on S3 (or an S3-compatible store): generated once, reused everywhere.

    Credentials come from the standard AWS chain (environment, ~/.aws, SSO,
    instance roles), never from the spec.
    """

    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="the S3 bucket")
    prefix: str = Field(default="", description="key prefix inside the bucket, e.g. films/mine")
    region: str | None = Field(default=None, description="AWS region; default: the AWS chain's")
    endpoint_url: str | None = Field(
        default=None, description="for S3-compatible stores (MinIO, R2, Ceph): their URL"
    )


class SubtitleSettings(Strict):
    """Subtitles: always written as SRT and WebVTT; optionally burned into the picture."""

    burn: bool = Field(default=False, description="draw the subtitles into the picture")
    size: int = Field(default=34, gt=0, description="text size in pixels at 720p")
    reading_speed: float = Field(
        default=20.0, gt=0, description="most characters per second a viewer can read"
    )


class Film(Strict):
    """The whole film: settings, cast, generators, music and scenes."""

    title: str
    size: tuple[Annotated[int, Field(ge=16)], Annotated[int, Field(ge=16)]] = (1280, 720)
    fps: Annotated[int, Field(ge=1, le=120)] = 24
    seed: int = 0
    output: str = "build/film.mp4"
    generators: dict[Ident, GeneratorConfig] = Field(default_factory=dict)
    characters: dict[Ident, Character] = Field(default_factory=dict)
    music: list[MusicCue] = Field(default_factory=list)
    scripts: dict[Ident, Script] = Field(
        default_factory=dict, description="dialogue written by language models, with takes"
    )
    sound: SoundSettings = SoundSettings()
    subtitles: SubtitleSettings = SubtitleSettings()
    look: Look | None = Field(
        default=None, description="every shot's finish, unless the shot has its own"
    )
    checks: Literal["warn", "fail"] = Field(
        default="warn",
        description="what a failed sound or subtitle check does: warn, or fail the build",
    )
    remote: RemoteSettings | None = Field(
        default=None, description="a shared cache for `filmkit push`, `pull` and `build --remote`"
    )
    prices: dict[str, dict[str, Annotated[float, Field(ge=0)]]] = Field(
        default_factory=dict,
        description="price overrides in USD per unit, by backend: "
        "{voice/polly: {characters: 0.000016}}",
    )
    scenes: list[Scene] = Field(min_length=1)

    @field_validator("size")
    @classmethod
    def _even_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] % 2 or value[1] % 2:
            raise ValueError("width and height must be even numbers (H.264 needs it)")
        return value

    def shots(self) -> list[tuple[Scene, Shot]]:
        """Every shot in film order with its scene."""
        return [(scene, shot) for scene in self.scenes for shot in scene.shots]
