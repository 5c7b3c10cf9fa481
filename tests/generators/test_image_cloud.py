"""image/openai over real HTTP, against a local scripted stand-in for the OpenAI API.

The backend's own openai client runs unchanged (retries and all); nothing
leaves the machine. The stand-in answers with small PNGs made here, in known
colours, so what the backend does to them (cover-fit, modes) can be checked.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError

from filmkit.errors import GeneratorError
from filmkit.generators.base import Request
from filmkit.generators.image.openai_image import OpenAIImage, OpenAIImageParams
from tests.servers import Reply, ScriptedServer

PROMPT = "A fishing harbour at dusk, gulls over the boats"
RED, GREEN, BLUE = (220, 30, 30), (30, 200, 60), (40, 60, 230)
WHITE = (255, 255, 255)


def bands(width: int, height: int) -> Image.Image:
    """An RGB picture in three equal vertical bands: red, green, blue from the left."""
    image = Image.new("RGB", (width, height), GREEN)
    image.paste(RED, (0, 0, width // 3, height))
    image.paste(BLUE, (2 * width // 3, 0, width, height))
    return image


def cutout(width: int, height: int) -> Image.Image:
    """An RGBA picture: a red box in the middle half, fully transparent around it."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((*RED, 255), (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    return image


def image_reply(image: Image.Image, revised: str | None = None, usage: bool = True) -> Reply:
    """The API's answer: one image as base64 PNG data."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    item: dict[str, object] = {"b64_json": base64.b64encode(buffer.getvalue()).decode()}
    if revised:
        item["revised_prompt"] = revised
    body: dict[str, object] = {"created": 1_700_000_000, "data": [item]}
    if usage:
        body["usage"] = {
            "input_tokens": 50,
            "input_tokens_details": {"image_tokens": 0, "text_tokens": 50},
            "output_tokens": 4160,
            "total_tokens": 4210,
        }
    return Reply(200, json.dumps(body).encode(), {"content-type": "application/json"})


def request_for(
    folder: Path, size: tuple[int, int] | None = (1280, 720), text: str = PROMPT, **params
) -> Request:
    """A request to draw ``text`` at ``size`` into ``folder``."""
    return Request(
        params=OpenAIImageParams(**params),
        seed=42,
        outputs={"image": folder / "image.png"},
        text=text,
        size=size,
    )


def near(pixel: tuple[int, ...], colour: tuple[int, ...], tolerance: int = 12) -> bool:
    """True when ``pixel`` is within ``tolerance`` of ``colour`` in every channel."""
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def test_sends_prompt_style_and_closest_size_and_fits_the_picture(openai_server, tmp_path):
    openai_server.script(image_reply(bands(1536, 1024)))
    request = request_for(
        tmp_path, style="35mm film still, soft window light", quality="high", background="opaque"
    )
    meta = OpenAIImage().generate(request)

    [sent] = openai_server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/images/generations")
    assert sent.headers["authorization"] == "Bearer sk-test-not-a-real-key"
    # 16:9 is closest to 3:2; no seed (the API has none) and no response_format (GPT image
    # models always answer in base64 and refuse it).
    assert sent.json() == {
        "model": "gpt-image-1.5",
        "prompt": f"{PROMPT}\n\nStyle: 35mm film still, soft window light",
        "size": "1536x1024",
        "quality": "high",
        "background": "opaque",
        "output_format": "png",
    }
    with Image.open(request.outputs["image"]) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (1280, 720), "RGB")
        # Scaled to the full width and cropped top and bottom: all three bands, a third each.
        for x, colour in ((5, RED), (420, RED), (440, GREEN), (840, GREEN), (860, BLUE)):
            assert near(image.getpixel((x, 360)), colour), x
        assert near(image.getpixel((1275, 2)), BLUE)
    assert meta == {
        "model": "gpt-image-1.5",
        "size": "1536x1024",
        "width": 1280,
        "height": 720,
        "input_tokens": 50,
        "output_tokens": 4160,
        "tokens": 4210,
        "warnings": [],
    }


def test_a_wider_answer_than_asked_for_is_cropped_about_its_centre(openai_server, tmp_path):
    # A square is asked for; the endpoint answers 3:2. Scaled to 768x512 and cropped to the
    # middle 512 columns: a quarter red, half green, a quarter blue.
    openai_server.script(image_reply(bands(1536, 1024), usage=False))
    request = request_for(tmp_path, size=(512, 512))
    meta = OpenAIImage().generate(request)

    assert openai_server.requests[0].json()["size"] == "1024x1024"
    assert openai_server.requests[0].json()["quality"] == "medium"
    with Image.open(request.outputs["image"]) as image:
        assert (image.size, image.mode) == ((512, 512), "RGB")
        for x, colour in ((2, RED), (120, RED), (136, GREEN), (376, GREEN), (392, BLUE)):
            assert near(image.getpixel((x, 256)), colour), x
        assert near(image.getpixel((509, 509)), BLUE)
    assert "input_tokens" not in meta


def test_no_size_means_a_1024_square(openai_server, tmp_path):
    openai_server.script(image_reply(bands(1024, 1024)))
    request = request_for(tmp_path, size=None)
    OpenAIImage().generate(request)
    assert openai_server.requests[0].json()["size"] == "1024x1024"
    with Image.open(request.outputs["image"]) as image:
        assert image.size == (1024, 1024)


def test_a_transparent_background_keeps_its_alpha(openai_server, tmp_path):
    openai_server.script(image_reply(cutout(1024, 1536)))
    request = request_for(tmp_path, size=(600, 800), background="transparent")
    meta = OpenAIImage().generate(request)

    sent = openai_server.requests[0].json()
    assert (sent["size"], sent["background"], sent["output_format"]) == (
        "1024x1536",
        "transparent",
        "png",
    )
    with Image.open(request.outputs["image"]) as image:
        assert (image.size, image.mode) == ((600, 800), "RGBA")
        assert image.getpixel((10, 10))[3] == 0
        assert image.getpixel((590, 790))[3] == 0
        centre = image.getpixel((300, 400))
        assert near(centre[:3], RED) and centre[3] == 255
    assert meta["warnings"] == []


def test_transparency_the_model_chose_by_itself_is_flattened_onto_white(openai_server, tmp_path):
    openai_server.script(image_reply(cutout(1024, 1024)))
    request = request_for(tmp_path, size=(256, 256))
    meta = OpenAIImage().generate(request)

    with Image.open(request.outputs["image"]) as image:
        assert image.mode == "RGB"
        assert near(image.getpixel((4, 4)), WHITE)
        assert near(image.getpixel((128, 128)), RED)
    assert "flattened onto white" in meta["warnings"][0]


def test_dall_e_3_is_asked_for_base64_and_reports_its_revised_prompt(openai_server, tmp_path):
    openai_server.script(image_reply(bands(1792, 1024), revised="A quiet harbour.", usage=False))
    request = request_for(tmp_path, model="dall-e-3", quality="high", style="oil painting")
    meta = OpenAIImage().generate(request)

    assert openai_server.requests[0].json() == {
        "model": "dall-e-3",
        "prompt": f"{PROMPT}\n\nStyle: oil painting",
        "size": "1792x1024",
        "quality": "hd",
        "response_format": "b64_json",
    }
    with Image.open(request.outputs["image"]) as image:
        assert (image.size, image.mode) == ((1280, 720), "RGB")
    assert (meta["size"], meta["revised_prompt"]) == ("1792x1024", "A quiet harbour.")


def test_a_429_is_retried(openai_server, tmp_path):
    openai_server.script(
        ScriptedServer.openai_error(
            429, "Rate limit reached", "rate_limit_exceeded", retry_after_ms="10"
        ),
        image_reply(bands(1536, 1024)),
    )
    request = request_for(tmp_path)
    OpenAIImage().generate(request)
    assert len(openai_server.requests) == 2, "one 429, then the retry"
    assert openai_server.requests[0].json() == openai_server.requests[1].json()
    assert request.outputs["image"].exists()


def test_a_content_policy_refusal_is_a_clear_error_and_leaves_nothing(openai_server, tmp_path):
    openai_server.script(
        ScriptedServer.openai_error(
            400, "Your request was rejected by the safety system.", "moderation_blocked"
        )
    )
    request = request_for(tmp_path)
    with pytest.raises(
        GeneratorError,
        match=r"gpt-image-1.5 refused the prompt under OpenAI's content policy "
        r"\(400: Your request was rejected by the safety system\.\)",
    ):
        OpenAIImage().generate(request)
    assert len(openai_server.requests) == 1, "a 400 is not retried"
    assert not request.outputs["image"].exists()


def test_other_api_errors_carry_the_servers_message(openai_server, tmp_path):
    openai_server.script(ScriptedServer.openai_error(400, "Invalid value: 'gpt-image-9'."))
    request = request_for(tmp_path, model="gpt-image-9")
    with pytest.raises(
        GeneratorError, match="model gpt-image-9.*400: Invalid value: 'gpt-image-9'"
    ):
        OpenAIImage().generate(request)
    assert not request.outputs["image"].exists()


def test_an_answer_without_image_data_is_an_error(openai_server, tmp_path):
    body = {"created": 1, "data": [{"url": "https://example.invalid/image.png"}]}
    openai_server.script(
        Reply(200, json.dumps(body).encode(), {"content-type": "application/json"})
    )
    request = request_for(tmp_path)
    with pytest.raises(GeneratorError, match="returned no image data .it sent a URL instead"):
        OpenAIImage().generate(request)
    assert not request.outputs["image"].exists()


@pytest.mark.parametrize("text", ["", "   \n"])
def test_an_empty_prompt_is_refused_before_any_request(openai_server, tmp_path, text):
    request = request_for(tmp_path, text=text)
    with pytest.raises(GeneratorError, match="the image prompt is empty"):
        OpenAIImage().generate(request)
    assert openai_server.requests == []


def test_without_a_key_fails_before_any_request(openai_server, monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(GeneratorError, match="OPENAI_API_KEY is not set"):
        OpenAIImage().generate(request_for(tmp_path))
    assert openai_server.requests == []


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"model": "dall-e-3", "background": "transparent"}, "cannot make a transparent"),
        ({"model": "dall-e-2", "background": "transparent"}, "cannot make a transparent"),
        ({"model": "dall-e-2", "moderation": "low"}, "takes no moderation"),
        ({"quality": "ultra"}, "quality"),
        ({"background": "green"}, "background"),
        ({"model": ""}, "model"),
        ({"api_key": "sk-..."}, "extra"),
    ],
)
def test_params_refuse_what_the_api_would(params, error):
    with pytest.raises(ValidationError, match=error):
        OpenAIImageParams(**params)


def test_params_keep_the_backend_contract():
    assert OpenAIImage.id() == "image/openai"
    assert (OpenAIImage.offline, OpenAIImage.deterministic) == (False, False)
    assert OpenAIImage.outputs == {"image": ".png"}
    for field in OpenAIImageParams.model_fields.values():
        assert field.description
    OpenAIImageParams.model_validate({})
    OpenAIImageParams(model="gpt-image-1", background="transparent")


def test_usage_and_prices_by_model_quality_and_size():
    params = OpenAIImageParams()
    assert OpenAIImage.usage({"size": [1280, 720]}, params) == {"calls": 1.0, "large_images": 1.0}
    assert OpenAIImage.usage({"size": [900, 1000]}, params) == {"calls": 1.0, "images": 1.0}
    assert OpenAIImage.usage({}, params) == {"calls": 1.0, "images": 1.0}
    assert OpenAIImage.price_list(params) == OpenAIImage.prices
    high = OpenAIImage.price_list(OpenAIImageParams(quality="high"))
    assert high["images"] > OpenAIImage.prices["images"]
    assert OpenAIImage.price_list(OpenAIImageParams(quality="auto")) == high
    mini = OpenAIImage.price_list(OpenAIImageParams(model="gpt-image-1-mini", quality="low"))
    assert mini["images"] < mini["large_images"] < OpenAIImage.prices["images"]
    unknown = OpenAIImage.price_list(OpenAIImageParams(model="gpt-image-2.5-flare"))
    assert unknown == OpenAIImage.prices
    # dall-e-2 only makes squares, whatever the shape asked for.
    dall_e_2 = OpenAIImageParams(model="dall-e-2")
    assert OpenAIImage.usage({"size": [1280, 720]}, dall_e_2) == {"calls": 1.0, "images": 1.0}
