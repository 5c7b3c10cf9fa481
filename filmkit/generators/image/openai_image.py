"""Image backend: OpenAI's image generation API (paid), e.g. gpt-image-1.5.

The prompt is ``request.text`` with the optional ``style`` appended; it goes
to ``POST /images/generations`` for one image. The API makes only a few sizes,
so the backend asks for the one whose aspect ratio is closest to
``request.size`` (GPT image models: 1024x1024, 1536x1024 or 1024x1536;
dall-e-3: 1024x1024, 1792x1024 or 1024x1792; dall-e-2: 1024x1024) and fits
the answer to exactly ``request.size`` (default 1024x1024): scaled with
Lanczos to cover it and cropped about the centre. GPT image models always
answer with base64 PNG data (they refuse ``response_format``); the dall-e
models are asked for ``b64_json``. With ``background: transparent`` the PNG
keeps its alpha channel (RGBA), which is what a character's face wants;
otherwise it is RGB, and any transparency the model chose by itself is
flattened onto white.

The API takes no seed: ``request.seed`` is not sent, and the same request
gives a different picture each time, so the backend is not deterministic:
an image is generated once and pinned by ``film.lock``.

The API key comes only from ``OPENAI_API_KEY`` (never from the spec); the
client also honours ``OPENAI_BASE_URL`` for a compatible endpoint. Rate
limits (429), server errors (5xx) and timeouts are retried by the openai
client itself, ``max_retries`` times with backoff. A prompt refused by
OpenAI's content policy is an error that says so.

The dall-e models were retired by OpenAI on 2026-05-12 and gpt-image-1 on
2026-10-23 (per the openai package's own documentation); they stay usable
here for compatible endpoints that still serve them.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from filmkit.errors import GeneratorError
from filmkit.generators.base import Generator, Request
from filmkit.generators.openai_api import api_errors, open_client, reason

DEFAULT_MODEL = "gpt-image-1.5"
DEFAULT_SIZE = (1024, 1024)
# Sizes the API makes, by model family, as (width, height).
GPT_IMAGE_SIZES = ((1024, 1024), (1536, 1024), (1024, 1536))
DALL_E_3_SIZES = ((1024, 1024), (1792, 1024), (1024, 1792))
DALL_E_2_SIZES = ((1024, 1024),)
# Longest prompt each family takes, in characters.
MAX_PROMPT = {"gpt-image": 32_000, "dall-e-3": 4_000, "dall-e-2": 1_000}
# Error codes OpenAI answers (400) when its content policy refuses a prompt.
REFUSED = ("moderation_blocked", "content_policy_violation")

# USD per image, (square 1024x1024, larger non-square), by model and quality:
# OpenAI list prices as of 2025 (gpt-image-1.5 from December 2025), standard tier.
# Quality "auto" is priced as "high", the most a GPT image model may pick. Estimates for plans
# and budgets only; override them under `prices:` in film.yaml (units `images`
# and `large_images`), and the ledger keeps the tokens really used.
MODEL_PRICES: dict[str, dict[str, tuple[float, float]]] = {
    "gpt-image-1.5": {"low": (0.009, 0.013), "medium": (0.034, 0.050), "high": (0.133, 0.200)},
    "gpt-image-1": {"low": (0.011, 0.016), "medium": (0.042, 0.063), "high": (0.167, 0.250)},
    "gpt-image-1-mini": {"low": (0.005, 0.006), "medium": (0.011, 0.015), "high": (0.036, 0.052)},
    # dall-e-3 has standard and hd only: low and medium ask for standard, high for hd.
    "dall-e-3": {"low": (0.040, 0.080), "medium": (0.040, 0.080), "high": (0.080, 0.120)},
    "dall-e-2": {"low": (0.020, 0.020), "medium": (0.020, 0.020), "high": (0.020, 0.020)},
}


def is_dall_e(model: str) -> bool:
    """True for the dall-e models (they take ``response_format`` and no background)."""
    return model.startswith("dall-e")


class OpenAIImageParams(BaseModel):
    """Params of the OpenAI image backend."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        DEFAULT_MODEL,
        min_length=1,
        description="OpenAI image model, e.g. gpt-image-1.5, gpt-image-1-mini, "
        "gpt-image-2.5-flare or gpt-image-2.5-sunburst (dall-e-3 and dall-e-2 are retired)",
    )
    quality: Literal["low", "medium", "high", "auto"] = Field(
        "medium",
        description="rendering quality (and price): low, medium, high or auto (the model "
        "picks); dall-e-3 gets hd for high and standard otherwise, dall-e-2 has one quality",
    )
    background: Literal["auto", "transparent", "opaque"] = Field(
        "auto",
        description="transparent: a PNG with alpha, e.g. a character's face to composite; "
        "opaque: a filled background; auto: the model decides (the file is then RGB)",
    )
    style: str = Field(
        "",
        max_length=1000,
        description="free text appended to every prompt as its style, e.g. '35mm film still, "
        "soft window light'",
    )
    moderation: Literal["auto", "low"] = Field(
        "auto",
        description="content moderation of GPT image models: auto (standard) or low (less "
        "restrictive); not for dall-e",
    )
    max_retries: int = Field(
        3,
        ge=0,
        le=10,
        description="retries, with backoff, after rate limits (429), server errors and timeouts",
    )
    timeout: float = Field(
        300.0,
        gt=0.0,
        le=900.0,
        description="seconds to wait for each attempt (high quality can take minutes)",
    )

    @model_validator(mode="after")
    def _model_takes_these(self) -> OpenAIImageParams:
        """Refuse what the API would refuse for the dall-e models, before paying for a call."""
        if is_dall_e(self.model):
            if self.background == "transparent":
                raise ValueError(
                    f"model {self.model} cannot make a transparent background; "
                    "use a GPT image model such as gpt-image-1.5"
                )
            if self.moderation != "auto":
                raise ValueError(f"model {self.model} takes no moderation setting")
        return self


def api_sizes(model: str) -> tuple[tuple[int, int], ...]:
    """The sizes ``model`` makes."""
    if model.startswith("dall-e-2"):
        return DALL_E_2_SIZES
    if model.startswith("dall-e-3"):
        return DALL_E_3_SIZES
    return GPT_IMAGE_SIZES


def closest_size(model: str, size: tuple[int, int]) -> tuple[int, int]:
    """The API size for ``model`` whose aspect ratio is closest to ``size``'s."""
    target = math.log(size[0] / size[1])
    return min(api_sizes(model), key=lambda s: abs(math.log(s[0] / s[1]) - target))


def compose_prompt(text: str, style: str) -> str:
    """The prompt with the standing style appended."""
    style = style.strip()
    return f"{text}\n\nStyle: {style}" if style else text


def request_body(
    prompt: str, api_size: tuple[int, int], params: OpenAIImageParams
) -> dict[str, Any]:
    """The ``images.generate`` arguments for one image."""
    body: dict[str, Any] = {
        "model": params.model,
        "prompt": prompt,
        "size": f"{api_size[0]}x{api_size[1]}",
    }
    if is_dall_e(params.model):
        body["response_format"] = "b64_json"
        if params.model.startswith("dall-e-3"):
            body["quality"] = "hd" if params.quality == "high" else "standard"
        return body
    # GPT image models always answer in base64 and refuse response_format.
    body["quality"] = params.quality
    body["background"] = params.background
    body["output_format"] = "png"
    if params.moderation != "auto":
        body["moderation"] = params.moderation
    return body


def create(client: Any, body: dict[str, Any], params: OpenAIImageParams) -> Any:
    """One image request; returns the response or raises a clear GeneratorError."""
    import openai

    with api_errors(client, f"model {params.model}", params.max_retries, params.timeout):
        try:
            return client.images.generate(**body)
        except openai.BadRequestError as exc:
            if exc.code in REFUSED:
                raise GeneratorError(
                    f"openai: model {params.model} refused the prompt under OpenAI's content "
                    f"policy (400: {reason(exc)}); reword the prompt or the style"
                ) from exc
            raise


def decode_image(response: Any, model: str) -> Any:
    """The first image of the response as a PIL image; raises if there is none."""
    from PIL import Image, UnidentifiedImageError

    data = getattr(response, "data", None) or []
    if not data or not data[0].b64_json:
        hint = " (it sent a URL instead)" if data and getattr(data[0], "url", None) else ""
        raise GeneratorError(f"openai: model {model} returned no image data{hint}")
    try:
        raw = base64.b64decode(data[0].b64_json, validate=True)
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (binascii.Error, ValueError, OSError, UnidentifiedImageError) as exc:
        raise GeneratorError(f"openai: model {model} returned an unreadable image ({exc})") from exc
    return image


def to_mode(image: Any, transparent: bool, warnings: list[str]) -> Any:
    """RGBA when a transparent background was asked for, else RGB flattened onto white."""
    from PIL import Image

    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if transparent:
        if not has_alpha:
            warnings.append("the model returned no alpha channel; the image is fully opaque")
        return image.convert("RGBA")
    if not has_alpha:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    if rgba.getchannel("A").getextrema()[0] < 255:
        warnings.append(
            "the model made a transparent background; flattened onto white "
            "(set background: transparent to keep it)"
        )
    flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat.alpha_composite(rgba)
    return flat.convert("RGB")


def cover(image: Any, size: tuple[int, int]) -> Any:
    """``image`` scaled (Lanczos) to cover ``size`` and cropped about its centre."""
    from PIL import Image, ImageOps

    if image.size == size:
        return image
    return ImageOps.fit(image, size, method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


class OpenAIImage(Generator):
    """OpenAI image generation (paid API): a picture from a text prompt."""

    kind = "image"
    name = "openai"
    version = "1"
    Params = OpenAIImageParams
    outputs: ClassVar[dict[str, str]] = {"image": ".png"}
    deterministic = False
    offline = False
    licence = "OpenAI API: paid service under OpenAI's terms; the output is yours to use"
    prices: ClassVar[dict[str, float]] = {
        "calls": 0.0,
        "images": MODEL_PRICES[DEFAULT_MODEL]["medium"][0],
        "large_images": MODEL_PRICES[DEFAULT_MODEL]["medium"][1],
    }

    @classmethod
    def price_list(cls, params: BaseModel) -> dict[str, float]:
        """Estimated USD per square and per larger image, by model and quality."""
        assert isinstance(params, OpenAIImageParams)
        by_quality = MODEL_PRICES.get(params.model, MODEL_PRICES[DEFAULT_MODEL])
        quality = params.quality
        if quality == "auto":  # the most a GPT image model may pick; dall-e gets standard
            quality = "medium" if is_dall_e(params.model) else "high"
        square, large = by_quality[quality]
        return {"calls": 0.0, "images": square, "large_images": large}

    @classmethod
    def usage(cls, request: Mapping[str, Any], params: BaseModel) -> dict[str, float]:
        """One call for one image: ``images`` when the API size is square, else ``large_images``."""
        assert isinstance(params, OpenAIImageParams)
        size = request.get("size") or DEFAULT_SIZE
        width, height = closest_size(params.model, (int(size[0]), int(size[1])))
        return {"calls": 1.0, "images" if width == height else "large_images": 1.0}

    def __init__(self, client: Any = None) -> None:
        """``client``: an ``openai.OpenAI`` to use (tests); default: one per image from the env."""
        self.client = client

    def generate(self, request: Request) -> dict[str, Any]:
        """Draw ``request.text`` into ``outputs["image"]``, exactly ``request.size``.

        ``request.seed`` is not used: the API takes no seed.
        """
        params = request.params
        assert isinstance(params, OpenAIImageParams)
        text = request.text.strip()
        if not text:
            raise GeneratorError("openai: the image prompt is empty; describe the picture")
        size = tuple(request.size or DEFAULT_SIZE)
        if len(size) != 2 or min(size) < 1:
            raise GeneratorError(f"openai: cannot make an image of size {size}")
        width, height = int(size[0]), int(size[1])
        prompt = compose_prompt(text, params.style)
        family = params.model[:8] if is_dall_e(params.model) else "gpt-image"
        limit = MAX_PROMPT.get(family, MAX_PROMPT["gpt-image"])
        if len(prompt) > limit:
            raise GeneratorError(
                f"openai: the prompt has {len(prompt)} characters with its style; model "
                f"{params.model} takes at most {limit}"
            )
        api_size = closest_size(params.model, (width, height))
        body = request_body(prompt, api_size, params)
        if self.client is not None:
            response = create(self.client, body, params)
        else:
            with open_client(params.max_retries, params.timeout) as client:
                response = create(client, body, params)
        warnings: list[str] = []
        image = decode_image(response, params.model)
        image = to_mode(image, params.background == "transparent", warnings)
        cover(image, (width, height)).save(request.outputs["image"], format="PNG")
        request.progress(1.0)
        meta: dict[str, Any] = {
            "model": params.model,
            "size": body["size"],
            "width": width,
            "height": height,
        }
        revised = getattr(response.data[0], "revised_prompt", None)
        if revised:
            meta["revised_prompt"] = revised
        usage = getattr(response, "usage", None)
        if usage is not None:
            meta["input_tokens"] = usage.input_tokens
            meta["output_tokens"] = usage.output_tokens
            meta["tokens"] = usage.total_tokens
        meta["warnings"] = warnings
        return meta
