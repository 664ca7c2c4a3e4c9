"""Reading one YAML node as a field of a journey, each problem reported at its line.

Fields that hold text take any non-null scalar as written (``match: yes`` is the text ``"yes"``).
Every reader returns the value, or None after reporting why it is unusable.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from promostack_cli.core.clock import parse_duration
from promostack_cli.journeys.spec.model import SpecError
from promostack_cli.journeys.spec.rules import DURATION_HELP, DURATION_RE, MS_RE, NUMBER_RE, SLUG_HELP, SLUG_RE

NULL_TAG = "tag:yaml.org,2002:null"
BOOL_TAG = "tag:yaml.org,2002:bool"
MERGE_TAG = "tag:yaml.org,2002:merge"

Fields = dict[str, tuple[ScalarNode, Node]]  # a mapping's keys -> (key node, value node)


class Ctx:
    """The problems found in one file."""

    def __init__(self, path: str):
        self.path = path
        self.errors: list[SpecError] = []

    def error(self, where: Node | int, message: str) -> None:
        if isinstance(where, int):
            self.errors.append(SpecError(self.path, where, message))
        else:
            self.errors.append(SpecError(self.path, line(where), message, column=where.start_mark.column + 1))


def line(node: Node) -> int:
    return node.start_mark.line + 1


def suggest(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest option (a different case first), or ``""``."""
    options = sorted(options)
    lowered = {o.lower(): o for o in options}
    if word.lower() in lowered:
        return f" (did you mean '{lowered[word.lower()]}'?)"
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def kind(node: Node) -> str:
    """How a node reads in a message: "a mapping", "a list", "empty" or its value quoted."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == NULL_TAG:
        return "empty"
    return f"'{node.value}'"


def items(ctx: Ctx, node: MappingNode) -> Fields:
    """The mapping's keys; reports merge keys, duplicate and non-text keys (and leaves them out)."""
    out: Fields = {}
    for key_node, value_node in node.value:
        if key_node.tag == MERGE_TAG:
            ctx.error(key_node, "YAML merge keys (<<) are not supported; write the keys out")
            continue
        if not isinstance(key_node, ScalarNode) or key_node.tag == NULL_TAG:
            ctx.error(key_node, "keys must be plain words")
            continue
        key = key_node.value
        if key in out:
            ctx.error(key_node, f"duplicate key '{key}' (first on line {line(out[key][0])})")
            continue
        out[key] = (key_node, value_node)
    return out


def unknown_keys(ctx: Ctx, fields: Fields, known: tuple[str, ...], where: str) -> None:
    for key, (key_node, _value) in fields.items():
        if key not in known:
            ctx.error(key_node, f"unknown key '{key}' {where}{suggest(key, known)}")


def text(ctx: Ctx, node: Node, what: str) -> str | None:
    """A text field: any non-null scalar, taken as written; not only whitespace."""
    if not isinstance(node, ScalarNode) or node.tag == NULL_TAG:
        ctx.error(node, f"{what} must be text, not {kind(node)}")
        return None
    if not node.value.strip():
        ctx.error(node, f"{what} must not be empty")
        return None
    return node.value


def enum(ctx: Ctx, node: Node, what: str, options: tuple[str, ...]) -> str | None:
    value = text(ctx, node, what)
    if value is None:
        return None
    if value not in options:
        ctx.error(node, f"{what} '{value}' is not one of {', '.join(options)}{suggest(value, options)}")
        return None
    return value


def slug(ctx: Ctx, node: Node, what: str) -> str | None:
    value = text(ctx, node, what)
    if value is None:
        return None
    if not SLUG_RE.fullmatch(value):
        ctx.error(node, f"{what} '{value}' is invalid: {SLUG_HELP}")
        return None
    return value


def duration_problem(value: str) -> str | None:
    """Why a text is not a journey duration (a number > 0 with a unit s, m, h or d), or None."""
    stripped = value.strip()
    if MS_RE.fullmatch(stripped):
        return f"'{value}' uses milliseconds; journeys use s, m, h or d"
    if NUMBER_RE.fullmatch(stripped):
        return f"'{value}' has no unit; {DURATION_HELP}"
    if not DURATION_RE.fullmatch(stripped):
        return f"'{value}' is not a duration; {DURATION_HELP}"
    try:
        seconds = parse_duration(stripped)
    except ValueError as exc:
        return str(exc)
    if seconds <= 0:
        return f"'{value}' must be greater than zero"
    return None


def duration(ctx: Ctx, node: Node, what: str) -> str | None:
    """A duration, as written without surrounding whitespace (``"3d"``)."""
    value = text(ctx, node, what)
    if value is None:
        return None
    problem = duration_problem(value)
    if problem:
        ctx.error(node, f"{what}: {problem}")
        return None
    return value.strip()


def sequence(ctx: Ctx, node: Node, what: str) -> list[Node] | None:
    if not isinstance(node, SequenceNode):
        ctx.error(node, f"{what} must be a list, not {kind(node)}")
        return None
    return list(node.value)
