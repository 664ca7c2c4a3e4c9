"""HTML for ``parse_mode=HTML``: Telegram accepts a few tags; every other ``<``, ``>``, ``&`` must be escaped.

Length is measured as Telegram does: the visible text (tags removed, the entities Telegram knows
decoded) in UTF-16 code units, so an emoji outside the Basic Multilingual Plane counts 2.
:func:`split_message` cuts a text that is too long into parts that each fit, at a newline or a
space where it can, never inside a tag or an entity, closing the tags open at a cut at the end of
one part and opening them again at the start of the next.
"""

from __future__ import annotations

import html
import re

MAX_MESSAGE_LENGTH = 4096

# A tag (quoted attribute values may hold '>') or an entity Telegram decodes. TDLib knows only
# these four named entities and numeric ones; any other '&name;' is shown as written.
_TAG = r"""<(?:[^<>"']|"[^"]*"|'[^']*')*>"""
_ENTITY = r"&(?:lt|gt|amp|quot|#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8});"
_TAG_RE = re.compile(_TAG)
_ENTITY_RE = re.compile(_ENTITY)
_TOKEN_RE = re.compile(f"{_TAG}|{_ENTITY}")
_TAG_NAME_RE = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9-]*)")
_SEPARATORS = {"\n": 2, " ": 1, "\t": 1}  # where to prefer a cut: newline first, then a space


def escape(text: object) -> str:
    """Escape user-supplied text (names, answers) for an HTML message or an href attribute."""
    return html.escape("" if text is None else str(text), quote=True)


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts (characters beyond U+FFFF count 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


_NAMED = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"'}


def _decode_entity(entity: str) -> str:
    """The character an entity stands for; an invalid code point stays as written (as in TDLib)."""
    if entity in _NAMED:
        return _NAMED[entity]
    code = int(entity[3:-1], 16) if entity[2] in "xX" else int(entity[2:-1])
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return entity
    return chr(code)


def visible_text(text: str) -> str:
    """What Telegram shows for an HTML text: tags removed, entities decoded."""
    text = _TAG_RE.sub("", text) if "<" in text else text
    if "&#" in text:
        return _ENTITY_RE.sub(lambda m: _decode_entity(m.group()), text)
    # named entities only (the usual case, fast): '&amp;' last, so '&amp;lt;' stays '&lt;'
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")


def visible_length(text: str, parse_mode: str | None = "HTML") -> int:
    """The length Telegram checks against :data:`MAX_MESSAGE_LENGTH` (UTF-16 code units)."""
    if parse_mode and parse_mode.upper() == "HTML":
        text = visible_text(text)
    return utf16_length(text)


def fits(text: str, limit: int = MAX_MESSAGE_LENGTH) -> bool:
    return visible_length(text) <= limit


# -- splitting --------------------------------------------------------------------------------


def _atoms(text: str) -> list[tuple[str, int, str | None]]:
    """(raw text, visible width, tag) per character, entity or tag; tag is '<name' or '/name'."""
    atoms: list[tuple[str, int, str | None]] = []
    pos = 0
    for m in _TOKEN_RE.finditer(text):
        atoms.extend((c, 2 if c > "\uffff" else 1, None) for c in text[pos:m.start()])
        raw = m.group()
        if raw[0] == "&":
            atoms.append((raw, utf16_length(_decode_entity(raw)), None))
        else:
            name = _TAG_NAME_RE.match(raw)
            tag = ("/" if raw[1:].lstrip().startswith("/") else "<") + (name.group(1).lower() if name else "")
            atoms.append((raw, 0, tag))
        pos = m.end()
    atoms.extend((c, 2 if c > "\uffff" else 1, None) for c in text[pos:])
    return atoms


def _update(stack: list[tuple[str, str]], raw: str, tag: str | None) -> None:
    """Follow the open tags: push an opening tag, pop a closing one (and anything left open inside it)."""
    if tag is None:
        return
    name = tag[1:]
    if tag[0] == "<":
        stack.append((name, raw))
        return
    for i in range(len(stack) - 1, -1, -1):
        if stack[i][0] == name or not name:
            del stack[i:]
            return


def _cut(atoms: list, start: int, limit: int) -> tuple[int, int]:
    """Where the part starting at ``start`` ends: (end index, separator atoms to drop after it)."""
    width, end, best, best_rank = 0, start, None, 0
    while end < len(atoms) and width + atoms[end][1] <= limit:
        width += atoms[end][1]
        rank = _SEPARATORS.get(atoms[end][0], 0) if atoms[end][2] is None else 0
        # a separator in the second half of the part wins; a newline beats a space
        if rank and width > limit // 2 and rank >= best_rank:
            best, best_rank = end, rank
        end += 1
    if end >= len(atoms):
        return len(atoms), 0
    if best is not None:
        return best, 1
    while end > start + 1 and atoms[end - 1][2] is not None and atoms[end - 1][2][0] == "<":
        end -= 1  # an opening tag right at a hard cut belongs to the next part
    return end, 0


def split_message(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """``text`` as consecutive messages that each fit ``limit`` (one part when it already fits).

    Parts with no visible text are left out."""
    if visible_length(text) <= limit:
        return [text] if visible_text(text).strip() else []
    atoms = _atoms(text)
    parts: list[str] = []
    stack: list[tuple[str, str]] = []  # tags open at the current position: (name, opening tag)
    start = 0
    while start < len(atoms):
        end, skip = _cut(atoms, start, limit)
        prefix = "".join(raw for _name, raw in stack)
        body = []
        for raw, _width, tag in atoms[start:end]:
            body.append(raw)
            _update(stack, raw, tag)
        suffix = "".join(f"</{name}>" for name, _raw in reversed(stack))
        part = prefix + "".join(body) + suffix
        if visible_text(part).strip():
            parts.append(part)
        start = end + skip
    return parts
