"""Text drawn once as RGBA sprites: title layers and burned-in subtitles.

The layout follows moviepy's ``TextClip`` (baseline-anchored lines, 4 px
between lines, centred, a margin around the text so descenders and the
stroke are not cropped), so titles and subtitles sit where they sat when
shots were composed with moviepy. The RGB of a sprite is what PIL draws on a
transparent canvas and its alpha the coverage, blended as straight alpha.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

LINE_SPACING = 4


def default_font() -> Path:
    """The bundled title font (Noto Serif, OFL-1.1, from fontpkg-noto-serif)."""
    folder = Path(str(files("fontpkg_noto_serif").joinpath("files")))
    return next(p for p in sorted(folder.glob("*.ttf")) if "Italic" not in p.name)


@lru_cache(maxsize=16)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def text_sprite(
    text: str,
    font: Path,
    size: int,
    color: str,
    *,
    stroke: tuple[str, int] | None = None,
    width: int | None = None,
) -> Image.Image:
    """``text`` drawn in an RGBA image with a margin of half the font size all round.

    ``stroke`` is an outline colour and width; ``width``, when given, wraps
    the text at spaces to that many pixels and makes the sprite that wide
    (plus margins), as a moviepy caption; without it the sprite fits the text.
    """
    pil_font = _font(str(font), size)
    stroke_color, stroke_width = stroke or (None, 0)
    if width is not None:
        text = "\n".join(_wrap(text, pil_font, stroke_width, width))
    left, top, right, bottom = _measure(text, pil_font, stroke_width)
    text_width, text_height = int(right - left), int(bottom - top)
    margin = size // 2
    inner = width if width is not None else text_width
    image = Image.new("RGBA", (inner + 2 * margin, text_height + 2 * margin), (0, 0, 0, 0))
    ascent, _ = pil_font.getmetrics()
    ImageDraw.Draw(image).multiline_text(
        ((inner - text_width) / 2 + margin + stroke_width, ascent + margin + stroke_width),
        text,
        fill=color,
        font=pil_font,
        spacing=LINE_SPACING,
        align="center",
        stroke_width=stroke_width,
        stroke_fill=stroke_color,
        anchor="ls",
    )
    return image


def _measure(
    text: str, font: ImageFont.FreeTypeFont, stroke_width: int
) -> tuple[float, float, float, float]:
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    return draw.multiline_textbbox(
        (0, 0),
        text,
        font=font,
        spacing=LINE_SPACING,
        align="center",
        stroke_width=stroke_width,
        anchor="ls",
    )


def _wrap(text: str, font: ImageFont.FreeTypeFont, stroke_width: int, width: int) -> list[str]:
    """Lines of ``text`` no wider than ``width``, broken at the last space that fits."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        left, _, right, _ = _measure(candidate, font, stroke_width)
        if current and right - left >= width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current] if current else lines
