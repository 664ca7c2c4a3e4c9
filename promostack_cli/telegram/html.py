"""HTML for ``parse_mode=HTML``: Telegram accepts a few tags; every other ``<``, ``>``, ``&`` must be escaped.

Length is measured as Telegram does: the visible text (tags removed, the entities Telegram knows
decoded) in UTF-16 code units, so an emoji outside the Basic Multilingual Plane counts 2.
:func:`split_message` cuts a text that is too long into parts that each fit, at a newline or a
space where it can, never inside a tag or an entity, closing the tags open at a cut at the end of
one part and opening them again at the start of the next. :func:`check_html` refuses, with the
place and the fix, what Telegram's HTML parse mode would answer with "can't parse entities".
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


# -- checking ---------------------------------------------------------------------------------

# Tags Telegram's HTML parse mode knows (TDLib ``parse_html``); any other start tag is refused with
# "can't parse entities: Unsupported start tag".
SUPPORTED_TAGS = ("b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler",
                  "tg-emoji", "blockquote", "span")
_ATTR_RE = re.compile(r"""\s+([A-Za-z0-9_-]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>"']+))?""")
_FIX = "write a literal '<' as &lt; (or send with --parse-mode none)"


class HTMLError(ValueError):
    """Text Telegram would refuse with parse_mode=HTML; the message names the place ("at position N")
    and the fix. ``position`` is that 1-based character."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.position = position


def _attributes(text: str, start: int, name: str, pos: int) -> tuple[dict[str, str], int]:
    """The attributes of the start tag whose name ends at ``start``, and the index after its '>'."""
    attrs: dict[str, str] = {}
    i = start
    while True:
        m = _ATTR_RE.match(text, i)
        if m:
            value = m.group(2) or ""
            attrs[m.group(1).lower()] = value[1:-1] if value[:1] in "\"'" else value
            i = m.end()
            continue
        while i < len(text) and text[i].isspace():
            i += 1
        if text.startswith(">", i):
            return attrs, i + 1
        raise HTMLError(f"The tag <{name}> at position {pos} has no closing '>' or a malformed attribute; {_FIX}.", pos)


def check_html(text: str) -> None:
    """Raise :class:`HTMLError` where Telegram's HTML parse mode would refuse ``text``.

    As Telegram parses it: a '<' must start a supported tag (``a < b`` is refused), tags must be closed
    in order, ``span`` needs ``class="tg-spoiler"`` and ``tg-emoji`` an ``emoji-id``. The Bot API also
    asks for every '&' to be part of an entity (``&lt; &gt; &amp; &quot;`` or numeric): one that is not
    is refused here too. A '>' outside a tag is shown as written by Telegram and accepted.
    Positions are 1-based characters of ``text``.
    """
    open_tags: list[tuple[str, int]] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        pos = i + 1
        if c == "&":
            m = _ENTITY_RE.match(text, i)
            if not m:
                raise HTMLError(f"'&' at position {pos} is not part of an entity (&lt; &gt; &amp; &quot; or &#NN;); "
                                "write it as &amp; (or send with --parse-mode none).", pos)
            i = m.end()
            continue
        if c != "<":
            i += 1
            continue
        if text.startswith("</", i):
            j = i + 2
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            name = text[i + 2:j].lower()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise HTMLError(f"The end tag at position {pos} is not closed by '>'; {_FIX}.", pos)
            if not open_tags:
                raise HTMLError(f"</{name}> at position {pos} closes no open tag; remove it or escape '<' as &lt;.",
                                pos)
            expected, opened = open_tags.pop()
            if name and name != expected:
                raise HTMLError(f"</{name}> at position {pos} does not close <{expected}> opened at position "
                                f"{opened}; close tags in the reverse order they were opened.", pos)
            i = j + 1
            continue
        j = i + 1
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        name = text[i + 1:j].lower()
        if name not in SUPPORTED_TAGS:
            if not name:
                raise HTMLError(f"'<' at position {pos} does not start a tag; write it as &lt; "
                                "(or send with --parse-mode none).", pos)
            raise HTMLError(f"<{name}> at position {pos} is not a tag Telegram supports "
                            f"({', '.join(SUPPORTED_TAGS)}); {_FIX}.", pos)
        attrs, i = _attributes(text, j, name, pos)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise HTMLError(f'<span> at position {pos} needs class="tg-spoiler" (the only span Telegram supports).',
                            pos)
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise HTMLError(f"<tg-emoji> at position {pos} needs an emoji-id attribute.", pos)
        open_tags.append((name, pos))
    if open_tags:
        name, opened = open_tags[-1]
        raise HTMLError(f"<{name}> at position {opened} is never closed; add </{name}>.", opened)
