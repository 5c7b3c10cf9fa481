"""Fountain screenplays (fountain.io): parse plain text into elements and write it back.

Elements record the 1-based source ``line`` they start on. Equality ignores it (where an
element came from is not what it is), so a screenplay equals its parse(write(...)) round trip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Speech:
    """One run of speech inside a dialogue block, with the parenthetical just before it."""

    text: str
    parenthetical: str = ""


@dataclass(frozen=True)
class SceneHeading:
    """A scene heading such as ``INT. KITCHEN - NIGHT``, with its optional scene number."""

    text: str
    number: str = ""
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Action:
    """A paragraph of action (description); ``centered`` for ``>text<`` lines."""

    text: str
    centered: bool = False
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Dialogue:
    """A character cue and what they say; ``dual`` marks both halves of a dual dialogue."""

    character: str
    extension: str = ""
    speeches: tuple[Speech, ...] = ()
    dual: bool = False
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Transition:
    """A transition such as ``CUT TO:``."""

    text: str
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Lyrics:
    """Sung lines (``~`` in the source), one per text line."""

    text: str
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Section:
    """An outline section (``#`` .. ``###``); not printed in the script."""

    text: str
    depth: int = 1
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Synopsis:
    """A one-line synopsis (``= text``); not printed in the script."""

    text: str
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class PageBreak:
    """A forced page break (``===``)."""

    line: int = field(default=0, compare=False)


Element = SceneHeading | Action | Dialogue | Transition | Lyrics | Section | Synopsis | PageBreak


@dataclass(frozen=True)
class Screenplay:
    """A parsed screenplay: title page fields and the body's elements in order."""

    title_page: dict[str, str] = field(default_factory=dict)
    elements: tuple[Element, ...] = ()

    def dialogue(self) -> list[Dialogue]:
        """Every dialogue block, in order."""
        return [element for element in self.elements if isinstance(element, Dialogue)]

    def scenes(self) -> list[tuple[SceneHeading | None, list[Element]]]:
        """Elements grouped under their scene heading (``None`` for material before the first)."""
        groups: list[tuple[SceneHeading | None, list[Element]]] = []
        heading: SceneHeading | None = None
        members: list[Element] = []
        for element in self.elements:
            if isinstance(element, SceneHeading):
                if heading is not None or members:
                    groups.append((heading, members))
                heading, members = element, []
            else:
                members.append(element)
        if heading is not None or members:
            groups.append((heading, members))
        return groups


_HEADING = re.compile(r"(?:INT\.?/EXT|I/E|INT|EXT|EST)[.\s]", re.IGNORECASE)
_SCENE_NUMBER = re.compile(r"\s*#([A-Za-z0-9.\-]+)#$")
_PAGE_BREAK = re.compile(r"={3,}")
_CUE = re.compile(r"([^()]*?)\s*((?:\([^()]*\)\s*)*)")
_TITLE_KEY = re.compile(r"([A-Za-z][A-Za-z0-9 _\-]*):(.*)")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # a backslash before any ASCII punctuation
_EMPHASIS = (
    re.compile(r"\*\*\*(?=\S)([^\n]+?)(?<=\S)\*\*\*"),
    re.compile(r"\*\*(?=\S)([^\n]+?)(?<=\S)\*\*"),
    re.compile(r"\*(?=\S)([^\n]+?)(?<=\S)\*"),
    # underscores inside words (snake_case, e-mail addresses) are not underline
    re.compile(r"(?<!\w)_(?=\S)([^\n]+?)(?<=\S)_(?!\w)"),
)
# Escaped characters hide in the private use area while emphasis is removed.
_HIDDEN = 0xE000
_UNHIDE = re.compile("[\ue021-\ue07e]")


def plain(text: str) -> str:
    """Remove emphasis markup and resolve backslash escapes."""
    text = _ESCAPE.sub(lambda m: chr(_HIDDEN + ord(m[1])), text)
    previous = None
    while previous != text:  # repeat for nested emphasis such as **bold *italic***
        previous = text
        for pattern in _EMPHASIS:
            text = pattern.sub(r"\1", text)
    return _UNHIDE.sub(lambda m: chr(ord(m[0]) - _HIDDEN), text)


def _comment_end(text: str, start: int) -> int | None:
    """Index just past the note or boneyard opening at ``start``, if one does."""
    if text.startswith("/*", start):
        end = text.find("*/", start + 2)
        return None if end < 0 else end + 2
    if text.startswith("[[", start):
        end = text.find("]]", start + 2)
        # a truly empty line ends a note's chance to close (the spec wants two spaces there)
        if end >= 0 and "\n\n" not in text[start:end]:
            return end + 2
    return None


def _uncomment(text: str) -> list[tuple[int, str]]:
    """Source lines with notes and boneyard cut out, each with its original line number."""
    lines: list[tuple[int, str]] = []
    buffer: list[str] = []
    number = start = 1
    touched = False
    index = 0
    while index <= len(text):
        char = text[index : index + 1]
        if char == "\\" and text[index + 1 : index + 2] not in ("", "\n"):
            buffer.append(text[index : index + 2])  # an escaped opener is no comment
            index += 2
            continue
        end = _comment_end(text, index)
        if end is not None:
            number += text.count("\n", index, end)
            index, touched = end, True
            if not buffer or buffer[-1][-1] in " \t":  # no double space where a note was
                while text[index : index + 1] in (" ", "\t"):
                    index += 1
            continue
        if char in ("\n", ""):
            content = "".join(buffer)
            # a line that held nothing but a comment vanishes, so it cannot split a block
            if content.strip() or not touched:
                lines.append((start, content))
            buffer, touched = [], False
            number += 1
            start = number
        else:
            buffer.append(char)
        index += 1
    return lines


def _title_page(lines: list[tuple[int, str]]) -> tuple[dict[str, str], int]:
    """The title page at the very start, and the index where the body begins."""
    fields: dict[str, list[str]] = {}
    key = None
    end = len(lines)
    for index, (_, raw) in enumerate(lines):
        if not raw.strip():
            end = index
            break
        match = _TITLE_KEY.fullmatch(raw.rstrip())
        if match:
            key = match[1].strip().lower()
            fields.setdefault(key, [])
            if value := match[2].strip():
                fields[key].append(value)
        elif key is not None and raw.startswith(("\t", "   ")):
            fields[key].append(raw.strip())
        else:  # one line that is neither key nor continuation: there is no title page
            return {}, 0
    if key is None:
        return {}, 0
    return {name: plain("\n".join(values)) for name, values in fields.items()}, end


def _cue(line: str) -> tuple[str, str, bool] | None:
    """(character, extension, dual) when ``line`` reads as a character cue."""
    forced = line.startswith("@")
    body = line[1:] if forced else line
    dual = body.rstrip().endswith("^") and not _escaped_end(body.rstrip())
    if dual:
        body = body.rstrip()[:-1]
    match = _CUE.fullmatch(body.strip())
    if not match or not match[1].strip():
        return None
    name = match[1].strip()
    if not forced and (name != name.upper() or not any(c.isalpha() for c in name)):
        return None
    extension = " ".join(part.strip() for part in re.findall(r"\(([^()]*)\)", match[2]))
    return plain(name), plain(extension), dual


def _escaped_end(text: str) -> bool:
    """Whether the last character of ``text`` is escaped by a backslash."""
    return (len(text) - len(text[:-1].rstrip("\\")) - 1) % 2 == 1


def _kind(line: str, at_start: bool, next_blank: bool) -> str:
    """What a stripped body line outside dialogue is, given the blank lines around it."""
    first = line[:1]
    if _PAGE_BREAK.fullmatch(line):
        return "page break"
    if first in ("=", "#", "!", "~"):
        return {"=": "synopsis", "#": "section", "!": "forced", "~": "lyrics"}[first]
    if first == ">":
        centered = len(line) > 1 and line.endswith("<") and not _escaped_end(line)
        return "centered" if centered else "transition"
    # everything else needs a blank line (or a heading, section, ...) before it
    if not at_start:
        return "action"
    if (first == "." and line[1:2] not in ("", ".")) or _HEADING.match(line):
        return "heading"
    if next_blank and line.endswith("TO:") and line == line.upper():
        return "transition"
    if not next_blank and _cue(line):
        return "cue"
    return "action"


def _is_parenthetical(line: str) -> bool:
    return line.startswith("(") and line.endswith(")") and bool(line[1:-1].strip())


def _speech(lines: list[str], parenthetical: str | None) -> list[Speech]:
    text = plain("\n".join(lines).strip("\n"))
    if not text and parenthetical is None:
        return []
    return [Speech(text, plain(parenthetical or ""))]


def _dialogue(lines: list[tuple[int, str]], index: int) -> tuple[Dialogue, int]:
    """The dialogue block whose cue is at ``index``, and the index just past it."""
    number, raw = lines[index]
    cue = _cue(raw.strip())
    assert cue is not None
    speeches: list[Speech] = []
    parenthetical: str | None = None
    pending: list[str] = []
    index += 1
    while index < len(lines):
        raw = lines[index][1]
        line = raw.strip()
        if not line and len(raw) < 2:  # two or more spaces keep the dialogue going
            break
        if _is_parenthetical(line):
            speeches += _speech(pending, parenthetical)
            parenthetical, pending = line[1:-1].strip(), []
        else:
            pending.append(line)
        index += 1
    speeches += _speech(pending, parenthetical)
    character, extension, dual = cue
    return Dialogue(character, extension, tuple(speeches), dual, number), index


def _standalone(kind: str, line: str, number: int) -> Element:
    """A one-line element: page break, synopsis, section, transition or scene heading."""
    if kind == "page break":
        return PageBreak(number)
    if kind == "synopsis":
        return Synopsis(plain(line[1:].strip()), number)
    if kind == "section":
        depth = len(line) - len(line.lstrip("#"))
        return Section(plain(line[depth:].strip()), depth, number)
    if kind == "transition":
        return Transition(plain(line[1:].strip() if line.startswith(">") else line), number)
    text = line[1:].strip() if line.startswith(".") else line
    scene = ""
    if match := _SCENE_NUMBER.search(text):
        scene, text = match[1], text[: match.start()]
    return SceneHeading(plain(text.strip()), scene, number)


def _body(lines: list[tuple[int, str]]) -> list[Element]:
    elements: list[Element] = []
    group: tuple[str, int, list[str]] | None = None  # runs of action, centered or lyric lines

    def flush() -> None:
        nonlocal group
        if group:
            kind, number, texts = group
            text = plain("\n".join(texts))
            if kind == "lyrics":
                elements.append(Lyrics(text, number))
            else:
                elements.append(Action(text, kind == "centered", number))
        group = None

    at_start = True
    index = 0
    while index < len(lines):
        number, raw = lines[index]
        line = raw.strip()
        if not line:
            flush()
            at_start, index = True, index + 1
            continue
        next_blank = index + 1 == len(lines) or not lines[index + 1][1].strip()
        kind = _kind(line, at_start, next_blank)
        if kind in ("action", "forced", "centered", "lyrics"):
            if kind == "action":  # action keeps its indentation; other elements drop it
                text = raw.rstrip()
            elif kind == "forced":
                kind, text = "action", line[1:]
            else:
                text = line[1:-1].strip() if kind == "centered" else line[1:].strip()
            if group is None or group[0] != kind:
                flush()
                group = (kind, number, [])
            group[2].append(text)
            at_start, index = False, index + 1
            continue
        flush()
        if kind == "cue":
            dialogue, index = _dialogue(lines, index)
            if dialogue.dual and elements and isinstance(elements[-1], Dialogue):
                elements[-1] = replace(elements[-1], dual=True)
            elements.append(dialogue)
            continue
        elements.append(_standalone(kind, line, number))
        # lenient: what follows a heading, section, ... starts afresh even without a blank line
        at_start, index = True, index + 1
    flush()
    return elements


def parse(text: str) -> Screenplay:
    """Parse Fountain text into a :class:`Screenplay`."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = _uncomment(text)
    title_page, start = _title_page(lines)
    return Screenplay(title_page, tuple(_body(lines[start:])))


def _escape(text: str) -> str:
    """``text`` as Fountain source that :func:`plain` turns back into ``text``."""
    risky = "[[" in text or "/*" in text or text.endswith("\\")
    if not risky and plain(text) == text:
        return text  # nothing to protect: keep the source readable
    return re.sub(r"([\\*_\[])", r"\\\1", text)


def _write_heading(heading: SceneHeading) -> str:
    text = _escape(heading.text)
    if heading.number:
        text += f" #{heading.number}#"
    elif _SCENE_NUMBER.search(text):  # a literal #..# at the end is not a scene number
        text = text[:-1] + "\\#"
    if _HEADING.match(text):
        return text
    return "." + ("\\" + text if text.startswith(".") else text)


def _write_action(action: Action) -> str:
    lines = action.text.split("\n")
    out = []
    for index, line in enumerate(lines):
        text = _escape(line)
        kind = _kind(text.strip(), index == 0, index + 1 == len(lines))
        if action.centered:
            out.append(f">{text}<")
        else:  # "!" only where the line would read as something else (or as a blank line)
            out.append(text if text.strip() and kind == "action" else "!" + text)
    return "\n".join(out)


def _write_dialogue(dialogue: Dialogue, caret: bool) -> str:
    cue = _escape(dialogue.character)
    if cue.endswith("^") and not _escaped_end(cue):
        cue = cue[:-1] + "\\^"  # a name ending in ^ is not a dual dialogue marker
    if dialogue.extension:
        cue += f" ({_escape(dialogue.extension)})"
    if caret:
        cue += " ^"
    wanted = (dialogue.character, dialogue.extension, caret)
    if _kind(cue, True, False) != "cue" or _cue(cue) != wanted:
        cue = "@" + cue
    out = [cue]
    for speech in dialogue.speeches:
        if speech.parenthetical:
            out.append(f"({_escape(speech.parenthetical)})")
        for line in speech.text.split("\n") if speech.text else []:
            text = _escape(line.strip())
            out.append("\\" + text if _is_parenthetical(text) else text or "  ")
    return "\n".join(out)


def _write_transition(transition: Transition) -> str:
    text = _escape(transition.text)
    if not text.startswith(">") and _kind(text, True, True) == "transition":
        return text
    if text.endswith("<") and not _escaped_end(text):
        text = text[:-1] + "\\<"  # or it would read as centered text
    return ">" + text


def _write(element: Element) -> str:
    match element:
        case SceneHeading():
            return _write_heading(element)
        case Action():
            return _write_action(element)
        case Transition():
            return _write_transition(element)
        case Lyrics():
            return "\n".join("~" + _escape(line) for line in element.text.split("\n"))
        case Section():
            text = _escape(element.text)
            text = "\\" + text if text.startswith("#") else text
            return "#" * max(element.depth, 1) + (" " + text if text else "")
        case Synopsis():
            return "=" + (" " + _escape(element.text) if element.text else "")
        case PageBreak():
            return "==="
    raise TypeError(f"not a Fountain element: {element!r}")


def _is_dual(element: Element | None) -> bool:
    return isinstance(element, Dialogue) and element.dual


def write(screenplay: Screenplay) -> str:
    """Conventional Fountain text that :func:`parse` reads back as an equal screenplay."""
    elements = screenplay.elements
    blocks = []
    for index, element in enumerate(elements):
        if isinstance(element, Dialogue):
            before = elements[index - 1] if index else None
            after = elements[index + 1] if index + 1 < len(elements) else None
            # ^ goes on the second half; a dual block with no dual partner before it needs
            # its own ^ unless the next block's ^ will pair them up
            caret = element.dual and (_is_dual(before) or not _is_dual(after))
            blocks.append(_write_dialogue(element, caret))
        else:
            blocks.append(_write(element))
    body = "\n\n".join(blocks)
    title = []
    for key, value in screenplay.title_page.items():
        name = key[:1].upper() + key[1:]
        if "\n" in value:
            title.append(f"{name}:")
            title.extend("    " + _escape(line) for line in value.split("\n"))
        else:
            title.append(f"{name}: {_escape(value)}".rstrip())
    if title:
        return "\n".join(title) + "\n\n" + body + "\n" if body else "\n".join(title) + "\n"
    if _title_page(_uncomment(body))[0]:
        body = "\n" + body  # a title page must start on line 1, so this body cannot pass as one
    return body + "\n" if body else ""
