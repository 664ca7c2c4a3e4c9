"""The journey YAML format: parsing with line numbers, validation, JSON Schema and canonical dump.

A journey is a multi-step conversation the message bot runs with one user. Journeys are YAML files,
one journey per file. This module is the contract for that format; nothing here touches a database.

Format
======

.. code-block:: yaml

    journey: welcome                 # slug [a-z0-9][a-z0-9_-]{0,63}; defaults to the file name stem
    name: Welcome funnel             # required, non-empty string
    status: active                   # draft | active | stopped   (default: draft)
    re_entry: restart                # block | restart | allow     (default: block)
    inactivity_timeout: 3d           # optional duration
    triggers:                        # at least one trigger, each with exactly one key:
      - deep_link: welcome           #   [A-Za-z0-9_-]{1,64} (https://t.me/<bot>?start=welcome)
      - keyword: gold                #   one word or phrase, 1-64 characters, matched case-insensitively
      - event: stripe_payment_successful   # one of EVENTS
    steps:                           # at least one step
      - id: hello                    # [a-z0-9][a-z0-9_-]{0,63}, unique in the journey
        type: message                # message | delay | question | wait_for_reply
        text: "Hi {{ first_name }}!"

Top-level keys: ``journey``, ``name``, ``status``, ``re_entry``, ``inactivity_timeout``,
``triggers``, ``steps``. Every step has ``id`` and ``type``; the other keys depend on the type:

``message``
    ``text`` (required).
``delay``
    ``duration`` (required); ``text`` (optional, sent after the delay).
``question``
    ``text`` (required); ``choices``: 1 to 12 distinct non-empty strings, each at most 64 bytes of
    UTF-8 (they become buttons); ``strict``: true/false (default false; true requires ``choices``);
    ``save_as``: variable name ``[a-z_][a-z0-9_]{0,31}`` (not a built-in variable);
    ``validate``: text | number | email | choice (default text; ``choice`` requires ``choices``);
    ``retry_text``.
``wait_for_reply``
    ``text`` and ``timeout`` (required); ``on_timeout``: ``end`` | ``continue`` |
    ``{goto: step_id}`` (default end); ``timeout_text``; ``branches``: a list of
    ``{match: text, goto: step_id}``.

Durations are a number with a unit: ``30s``, ``10m``, ``1.5h``, ``3d``; greater than zero. Bare
numbers and ``ms`` are rejected. They are kept as written (``"3d"``); ``duration_seconds`` converts.

Fields that hold text (names, ids, codes, choices, texts) take a YAML scalar as written, so
``match: yes`` is the text ``"yes"`` and ``choices: [1, 2]`` are ``"1"`` and ``"2"``.
``strict`` must be a real boolean (``true``/``false``).

Texts (``text``, ``retry_text``, ``timeout_text``) are Jinja2 templates rendered in a sandbox with
autoescape (messages use ``parse_mode=HTML``) and strict undefined variables. The variables are
``first_name``, ``last_name``, ``username`` (BASE_VARIABLES), every ``save_as`` in the journey, and
the variables of the journey's event triggers (EVENTS). Validation rejects: syntax errors, undefined
variables, whatever :mod:`promostack_cli.journeys.templates` refuses (the same rules and limits
apply at run time: other files, macros, call blocks, blocks, recursive loops, autoescape off, Python
internals, filters and methods outside its lists), constant operations over its size limits even
in a branch that is never taken, templates that fail or hit a limit when rendered with every
variable set to ``"x"``, and texts longer than 4096 characters (as Telegram counts) rendered that way.

Errors
======

Every problem is a :class:`SpecError` printed as ``path:line: message``, where ``line`` is the
1-based line of the offending YAML node (the key for unknown keys, the value for bad values, the
step for a missing step field). All problems in a file are reported, sorted by line. A file over
MAX_FILE_BYTES, nested deeper than MAX_DEPTH or with more than MAX_STEPS steps is refused with one
problem, found before the YAML is composed (so the check costs no stack and little time).
:func:`validate_paths` adds cross-file problems: a journey slug used by two files (reported on the
second) and a deep-link code used by two *active* journeys (reported on the later one).

Canonical form
==============

:meth:`JourneySpec.to_dict` gives the canonical dict (``status`` and ``re_entry`` always present;
step keys only when the file set them, in a fixed order) and :func:`dump_yaml` its YAML;
``parse_text(dump_yaml(spec))`` gives an equal spec and dumping that again is byte-identical.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from promostack_cli.core.clock import parse_duration
from promostack_cli.journeys import templates
from promostack_cli.telegram import html

__all__ = [
    "BASE_VARIABLES",
    "EVENTS",
    "JOURNEY_STATUSES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_STEPS",
    "MAX_TEXT_CHARS",
    "RE_ENTRY",
    "STEP_TYPES",
    "JourneySpec",
    "SpecError",
    "collect_files",
    "dump_yaml",
    "json_schema",
    "parse_file",
    "parse_text",
    "validate_paths",
]

JOURNEY_STATUSES = ("draft", "active", "stopped")
RE_ENTRY = ("block", "restart", "allow")
STEP_TYPES = ("message", "delay", "question", "wait_for_reply")
VALIDATE_KINDS = ("text", "number", "email", "choice")
ON_TIMEOUT = ("end", "continue")
TRIGGER_KINDS = ("deep_link", "keyword", "event")

BASE_VARIABLES: frozenset[str] = frozenset({"first_name", "last_name", "username"})
EVENTS: dict[str, frozenset[str]] = {
    "stripe_payment_successful": frozenset({"vip_link", "plan"}),
    "stripe_subscription_canceled": frozenset({"plan"}),
}

MAX_TEXT_CHARS = 4096  # Telegram's limit for one message
MAX_CHOICES = 12
MAX_CHOICE_BYTES = 64
MAX_KEYWORD_CHARS = 64
MAX_FILE_BYTES = 1024 * 1024  # a journey file; checked before it is read
MAX_STEPS = 500  # per journey; counted while the YAML is scanned, before anything is built
MAX_DEPTH = 20  # YAML nesting (a journey needs 5); deeper files are refused before they are composed
_TOO_MANY_STEPS = f"more than {MAX_STEPS} steps; a journey may have at most {MAX_STEPS} (split it into several)"
_TOO_DEEP = f"the YAML is nested more than {MAX_DEPTH} levels deep (a journey needs 5)"

TOP_KEYS = ("journey", "name", "status", "re_entry", "inactivity_timeout", "triggers", "steps")
STEP_KEYS = (
    "id",
    "type",
    "text",
    "duration",
    "choices",
    "strict",
    "save_as",
    "validate",
    "retry_text",
    "timeout",
    "on_timeout",
    "timeout_text",
    "branches",
)
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "message": ("id", "type", "text"),
    "delay": ("id", "type", "text", "duration"),
    "question": ("id", "type", "text", "choices", "strict", "save_as", "validate", "retry_text"),
    "wait_for_reply": ("id", "type", "text", "timeout", "on_timeout", "timeout_text", "branches"),
}
STEP_REQUIRED: dict[str, tuple[str, ...]] = {
    "message": ("text",),
    "delay": ("duration",),
    "question": ("text",),
    "wait_for_reply": ("text", "timeout"),
}
TEMPLATE_FIELDS = ("text", "retry_text", "timeout_text")

_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}", re.ASCII)
_DEEP_LINK_RE = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_VAR_RE = re.compile(r"[a-z_][a-z0-9_]{0,31}", re.ASCII)
_DURATION_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhd])", re.ASCII)
_MS_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?\s*ms", re.ASCII)
_NUMBER_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)

_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_MERGE_TAG = "tag:yaml.org,2002:merge"

_SLUG_HELP = "use lowercase letters, digits, '_' and '-', starting with a letter or digit (at most 64)"
_DURATION_HELP = "use a number followed by s, m, h or d (e.g. 30s, 10m, 1.5h, 3d)"


# --------------------------------------------------------------------------------------------------
# Public data types


@dataclass(frozen=True)
class SpecError:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class JourneySpec:
    slug: str
    name: str
    status: str
    re_entry: str
    inactivity_timeout: str | None  # the duration as written, e.g. "3d"
    triggers: list[dict]  # each exactly one of {"deep_link": c} | {"keyword": w} | {"event": e}
    steps: list[dict]  # normalized: only the keys the file set, in STEP_KEYS order
    source: str = field(default="", compare=False)  # the path it came from; not part of equality

    def to_dict(self) -> dict:
        """The canonical JSON-able form (see the module docstring)."""
        out: dict[str, Any] = {
            "journey": self.slug,
            "name": self.name,
            "status": self.status,
            "re_entry": self.re_entry,
        }
        if self.inactivity_timeout is not None:
            out["inactivity_timeout"] = self.inactivity_timeout
        out["triggers"] = [copy.deepcopy(dict(t)) for t in self.triggers]
        out["steps"] = [_ordered_step(s) for s in self.steps]
        return out

    @classmethod
    def from_dict(cls, data: dict, source: str = "") -> JourneySpec:
        """The inverse of :meth:`to_dict`. No validation: use :func:`parse_text` for untrusted data."""
        return cls(
            slug=data["journey"],
            name=data["name"],
            status=data.get("status", "draft"),
            re_entry=data.get("re_entry", "block"),
            inactivity_timeout=data.get("inactivity_timeout"),
            triggers=[copy.deepcopy(dict(t)) for t in data.get("triggers", [])],
            steps=[_ordered_step(s) for s in data.get("steps", [])],
            source=source,
        )

    def deep_links(self) -> list[str]:
        return [t["deep_link"] for t in self.triggers if "deep_link" in t]

    def keywords(self) -> list[str]:
        """Keywords as written; match them case-insensitively (``str.casefold``)."""
        return [t["keyword"] for t in self.triggers if "keyword" in t]

    def events(self) -> list[str]:
        return [t["event"] for t in self.triggers if "event" in t]

    def step_ids(self) -> list[str]:
        return [s["id"] for s in self.steps]

    def duration_seconds(self, text: str) -> float:
        """``"10m"`` -> 600.0 (for ``inactivity_timeout``, ``duration`` and ``timeout`` values)."""
        return parse_duration(text)


def _ordered_step(step: dict) -> dict:
    known = {k: copy.deepcopy(step[k]) for k in STEP_KEYS if k in step}
    extra = {k: copy.deepcopy(v) for k, v in step.items() if k not in known}
    return {**known, **extra}


# --------------------------------------------------------------------------------------------------
# Parsing


class _Ctx:
    def __init__(self, path: str):
        self.path = path
        self.errors: list[SpecError] = []

    def error(self, where: Node | int, message: str) -> None:
        line = where if isinstance(where, int) else _line(where)
        self.errors.append(SpecError(self.path, line, message))


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _suggest(word: str, options: tuple[str, ...] | list[str] | set[str] | frozenset[str]) -> str:
    options = sorted(options)
    lowered = {o.lower(): o for o in options}
    if word.lower() in lowered:
        return f" (did you mean '{lowered[word.lower()]}'?)"
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _NULL_TAG:
        return "empty"
    return f"'{node.value}'"


def _items(ctx: _Ctx, node: MappingNode) -> dict[str, tuple[ScalarNode, Node]]:
    """The mapping's keys -> (key node, value node); reports duplicate and non-text keys."""
    out: dict[str, tuple[ScalarNode, Node]] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            ctx.error(key_node, "YAML merge keys (<<) are not supported; write the keys out")
            continue
        if not isinstance(key_node, ScalarNode) or key_node.tag == _NULL_TAG:
            ctx.error(key_node, "keys must be plain words")
            continue
        key = key_node.value
        if key in out:
            ctx.error(key_node, f"duplicate key '{key}' (first on line {_line(out[key][0])})")
            continue
        out[key] = (key_node, value_node)
    return out


def _text(ctx: _Ctx, node: Node, what: str) -> str | None:
    """A text field: any non-null scalar, taken as written."""
    if not isinstance(node, ScalarNode) or node.tag == _NULL_TAG:
        ctx.error(node, f"{what} must be text, not {_kind(node)}")
        return None
    if not node.value.strip():
        ctx.error(node, f"{what} must not be empty")
        return None
    return node.value


def _enum(ctx: _Ctx, node: Node, what: str, options: tuple[str, ...]) -> str | None:
    value = _text(ctx, node, what)
    if value is None:
        return None
    if value not in options:
        ctx.error(node, f"{what} '{value}' is not one of {', '.join(options)}{_suggest(value, options)}")
        return None
    return value


def _slug(ctx: _Ctx, node: Node, what: str) -> str | None:
    value = _text(ctx, node, what)
    if value is None:
        return None
    if not _SLUG_RE.fullmatch(value):
        ctx.error(node, f"{what} '{value}' is invalid: {_SLUG_HELP}")
        return None
    return value


def _duration_problem(text: str) -> str | None:
    stripped = text.strip()
    if _MS_RE.fullmatch(stripped):
        return f"'{text}' uses milliseconds; journeys use s, m, h or d"
    if _NUMBER_RE.fullmatch(stripped):
        return f"'{text}' has no unit; {_DURATION_HELP}"
    if not _DURATION_RE.fullmatch(stripped):
        return f"'{text}' is not a duration; {_DURATION_HELP}"
    try:
        seconds = parse_duration(stripped)
    except ValueError as exc:
        return str(exc)
    if seconds <= 0:
        return f"'{text}' must be greater than zero"
    return None


def _duration(ctx: _Ctx, node: Node, what: str) -> str | None:
    value = _text(ctx, node, what)
    if value is None:
        return None
    problem = _duration_problem(value)
    if problem:
        ctx.error(node, f"{what}: {problem}")
        return None
    return value.strip()


def _list(ctx: _Ctx, node: Node, what: str) -> list[Node] | None:
    if not isinstance(node, SequenceNode):
        ctx.error(node, f"{what} must be a list, not {_kind(node)}")
        return None
    return list(node.value)


def _unknown_keys(
    ctx: _Ctx, fields: dict[str, tuple[ScalarNode, Node]], known: tuple[str, ...], where: str
) -> None:
    for key, (key_node, _value) in fields.items():
        if key not in known:
            ctx.error(key_node, f"unknown key '{key}' {where}{_suggest(key, known)}")


@dataclass
class _Template:
    node: Node
    field: str
    text: str


@dataclass
class _Parsed:
    spec: JourneySpec | None
    errors: list[SpecError]
    slug_line: int = 1
    deep_link_lines: dict[str, int] = field(default_factory=dict)


def _parse_trigger(ctx: _Ctx, node: Node, seen: dict[tuple[str, str], int], lines: dict[str, int]) -> dict | None:
    shape = "a trigger is one of `deep_link: code`, `keyword: word` or `event: name`"
    if not isinstance(node, MappingNode):
        ctx.error(node, f"{shape}, not {_kind(node)}")
        return None
    fields = _items(ctx, node)
    _unknown_keys(ctx, fields, TRIGGER_KINDS, "in a trigger")
    kinds = [k for k in fields if k in TRIGGER_KINDS]
    if not fields:
        ctx.error(node, shape)
        return None
    if len(kinds) > 1:
        ctx.error(node, f"a trigger has exactly one key; this one has {' and '.join(kinds)} (use one list item each)")
        return None
    if not kinds:
        return None  # already reported as unknown keys
    kind = kinds[0]
    value_node = fields[kind][1]
    if kind == "deep_link":
        value = _text(ctx, value_node, "deep_link")
        if value is None:
            return None
        if not _DEEP_LINK_RE.fullmatch(value):
            ctx.error(value_node, f"deep_link code '{value}' is invalid: use 1-64 letters, digits, '_' or '-'")
            return None
        identity = value
    elif kind == "keyword":
        value = _text(ctx, value_node, "keyword")
        if value is None:
            return None
        value = value.strip()
        if "\n" in value or "\r" in value:
            ctx.error(value_node, "keyword must be one word or phrase on one line")
            return None
        if len(value) > MAX_KEYWORD_CHARS:
            ctx.error(value_node, f"keyword is {len(value)} characters; at most {MAX_KEYWORD_CHARS}")
            return None
        identity = value.casefold()
    else:
        value = _text(ctx, value_node, "event")
        if value is None:
            return None
        if value not in EVENTS:
            ctx.error(
                value_node,
                f"unknown event '{value}'; events are {', '.join(sorted(EVENTS))}{_suggest(value, tuple(EVENTS))}",
            )
            return None
        identity = value
    if (kind, identity) in seen:
        ctx.error(value_node, f"duplicate trigger {kind}: {value} (first on line {seen[(kind, identity)]})")
        return None
    seen[(kind, identity)] = _line(value_node)
    if kind == "deep_link":
        lines[value] = _line(value_node)
    return {kind: value}


def _parse_step(
    ctx: _Ctx, node: Node, templates: list[_Template], gotos: list[tuple[Node, str]]
) -> tuple[dict | None, Node | None]:
    """The normalized step (None when its type is unusable) and the node of its id."""
    if not isinstance(node, MappingNode):
        ctx.error(node, f"a step is a mapping with at least `id` and `type`, not {_kind(node)}")
        return None, None
    fields = _items(ctx, node)
    id_node = fields["id"][1] if "id" in fields else None
    step: dict[str, Any] = {}

    step_type: str | None = None
    if "type" not in fields:
        ctx.error(node, f"step is missing required key 'type' (one of {', '.join(STEP_TYPES)})")
    else:
        type_node = fields["type"][1]
        value = _text(ctx, type_node, "type")
        if value is not None and value not in STEP_TYPES:
            ctx.error(
                type_node,
                f"unknown step type '{value}'; expected one of {', '.join(STEP_TYPES)}{_suggest(value, STEP_TYPES)}",
            )
        elif value is not None:
            step_type = value

    allowed = STEP_FIELDS[step_type] if step_type else STEP_KEYS
    for key, (key_node, _value) in fields.items():
        if key in allowed:
            continue
        if key in STEP_KEYS:
            ctx.error(key_node, f"'{key}' is not allowed in a {step_type} step (allowed: {', '.join(allowed)})")
        else:
            hint = _suggest(key, allowed) or _suggest(key, STEP_KEYS)
            ctx.error(key_node, f"unknown step key '{key}'{hint}")

    if "id" not in fields:
        ctx.error(node, "step is missing required key 'id'")
    else:
        step_id = _slug(ctx, fields["id"][1], "step id")
        if step_id is not None:
            step["id"] = step_id
    if step_type is None:
        return None, id_node
    step["type"] = step_type

    for key in STEP_REQUIRED[step_type]:
        if key not in fields:
            ctx.error(node, f"{step_type} step is missing required key '{key}'")

    def present(key: str) -> Node | None:
        return fields[key][1] if key in fields and key in allowed else None

    for key in TEMPLATE_FIELDS:
        value_node = present(key)
        if value_node is not None:
            value = _text(ctx, value_node, key)
            if value is not None:
                step[key] = value
                templates.append(_Template(value_node, key, value))

    for key in ("duration", "timeout"):
        value_node = present(key)
        if value_node is not None:
            value = _duration(ctx, value_node, key)
            if value is not None:
                step[key] = value

    if (value_node := present("choices")) is not None:
        items = _list(ctx, value_node, "choices")
        if items is not None:
            choices, seen, ok = [], {}, True
            if not 1 <= len(items) <= MAX_CHOICES:
                ctx.error(value_node, f"choices must list 1 to {MAX_CHOICES} options, not {len(items)}")
                ok = False
            for item in items:
                choice = _text(ctx, item, "a choice")
                if choice is None:
                    ok = False
                    continue
                size = len(choice.encode("utf-8"))
                if size > MAX_CHOICE_BYTES:
                    ctx.error(item, f"choice '{choice}' is {size} bytes of UTF-8; at most {MAX_CHOICE_BYTES}")
                    ok = False
                folded = choice.strip().casefold()
                if folded in seen:
                    ctx.error(item, f"duplicate choice '{choice}' (first on line {seen[folded]})")
                    ok = False
                seen.setdefault(folded, _line(item))
                choices.append(choice)
            if ok:
                step["choices"] = choices

    if (value_node := present("strict")) is not None:
        if isinstance(value_node, ScalarNode) and value_node.tag == _BOOL_TAG:
            strict = value_node.value.lower() in ("true", "yes", "on", "y")
            step["strict"] = strict
            if strict and "choices" not in fields:
                ctx.error(value_node, "strict: true needs choices (the only accepted replies)")
        else:
            ctx.error(value_node, f"strict must be true or false, not {_kind(value_node)}")

    if (value_node := present("save_as")) is not None:
        var = _text(ctx, value_node, "save_as")
        if var is not None:
            if not _VAR_RE.fullmatch(var):
                ctx.error(
                    value_node,
                    f"save_as '{var}' is not a variable name: use lowercase letters, digits and '_', "
                    "not starting with a digit (at most 32)",
                )
            elif var in BASE_VARIABLES:
                ctx.error(value_node, f"save_as '{var}' would overwrite a built-in variable")
            else:
                step["save_as"] = var

    if (value_node := present("validate")) is not None:
        kind = _enum(ctx, value_node, "validate", VALIDATE_KINDS)
        if kind is not None:
            step["validate"] = kind
            if kind == "choice" and "choices" not in fields:
                ctx.error(value_node, "validate: choice needs choices")

    if (value_node := present("on_timeout")) is not None:
        if isinstance(value_node, MappingNode):
            sub = _items(ctx, value_node)
            _unknown_keys(ctx, sub, ("goto",), "in on_timeout")
            if "goto" not in sub:
                ctx.error(value_node, "on_timeout is end, continue or {goto: step_id}")
            else:
                target = _text(ctx, sub["goto"][1], "goto")
                if target is not None and set(sub) == {"goto"}:
                    step["on_timeout"] = {"goto": target}
                    gotos.append((sub["goto"][1], target))
        else:
            value = _text(ctx, value_node, "on_timeout")
            if value is not None:
                if value in ON_TIMEOUT:
                    step["on_timeout"] = value
                else:
                    ctx.error(
                        value_node,
                        f"on_timeout '{value}' is not end, continue or {{goto: step_id}}{_suggest(value, ON_TIMEOUT)}",
                    )

    if (value_node := present("branches")) is not None:
        items = _list(ctx, value_node, "branches")
        if items is not None:
            branches, seen, ok = [], {}, True
            for item in items:
                if not isinstance(item, MappingNode):
                    ctx.error(item, f"a branch is a mapping with match and goto, not {_kind(item)}")
                    ok = False
                    continue
                sub = _items(ctx, item)
                _unknown_keys(ctx, sub, ("match", "goto"), "in a branch")
                branch = {}
                for key in ("match", "goto"):
                    if key not in sub:
                        ctx.error(item, f"branch is missing required key '{key}'")
                        continue
                    value = _text(ctx, sub[key][1], key)
                    if value is not None:
                        branch[key] = value
                if "match" in branch:
                    folded = branch["match"].strip().casefold()
                    if folded in seen:
                        ctx.error(sub["match"][1], f"duplicate branch match '{branch['match']}' (first on line {seen[folded]})")
                        ok = False
                    seen.setdefault(folded, _line(sub["match"][1]))
                if "goto" in branch:
                    gotos.append((sub["goto"][1], branch["goto"]))
                if set(branch) == {"match", "goto"} and set(sub) == {"match", "goto"}:
                    branches.append(branch)
                else:
                    ok = False
            if ok:
                step["branches"] = branches
    return step, id_node


def _check_template(ctx: _Ctx, tpl: _Template, allowed: set[str], event_only: dict[str, list[str]]) -> None:
    """The rules and limits of :mod:`.templates` (as at run time), the variables, a render with "x" for each."""
    node, what = tpl.node, tpl.field
    try:
        ast = templates.parse(tpl.text)
    except templates.TemplateProblem as exc:
        message = exc.message
        if "\n" in tpl.text.strip() and exc.lineno:  # "... (template line 2): detail" or "... (template line 2); ..."
            cut = message.find(": " if message.startswith("template syntax error") else "; ")
            cut = cut if cut >= 0 else len(message)
            message = f"{message[:cut]} (template line {exc.lineno}){message[cut:]}"
        ctx.error(node, f"{what}: {message}")
        return
    undefined = sorted(templates.variables(ast) - allowed)
    for var in undefined:
        if var in event_only:
            events = " or ".join(f"'{e}'" for e in event_only[var])
            ctx.error(node, f"{what}: variable '{var}' is only available in journeys with an {events} event trigger")
        else:
            hint = _suggest(var, allowed)
            ctx.error(node, f"{what}: undefined variable '{var}'{hint}; available: {', '.join(sorted(allowed))}")
    if undefined:
        return
    try:
        templates.constant_limits(ast)
        out = templates.render(templates.compile_template(ast), dict.fromkeys(allowed, "x"))
    except templates.TemplateProblem as exc:
        ctx.error(node, f"{what}: {exc.message}")
        return
    except Exception as exc:  # noqa: BLE001 - reported as a validation error
        ctx.error(node, f"{what}: template fails to render with sample values: {str(exc) or type(exc).__name__}")
        return
    if html.visible_length(out) > MAX_TEXT_CHARS:
        ctx.error(node, f"{what}: longer than {MAX_TEXT_CHARS} characters when rendered with sample values "
                  "(Telegram's limit for one message)")


class _TooBig(Exception):
    """(line, message): a file refused while it is scanned."""


class _Replay(yaml.composer.Composer, yaml.resolver.Resolver):
    """PyYAML's composer (and SafeLoader's tag resolver) fed from events already scanned."""

    def __init__(self, events: list[yaml.Event]):
        yaml.composer.Composer.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._events, self._next = events, 0

    def check_event(self, *choices: type) -> bool:
        return self._next < len(self._events) and (not choices or isinstance(self._events[self._next], choices))

    def peek_event(self) -> yaml.Event:
        return self._events[self._next]

    def get_event(self) -> yaml.Event:
        self._next += 1
        return self._events[self._next - 1]


def _scan(text: str) -> list[yaml.Event]:
    """The YAML's events, refused past MAX_DEPTH levels or MAX_STEPS steps. PyYAML's parser is a
    state machine (its composer recurses), so this costs no stack however deep the file is."""
    loader = yaml.SafeLoader(text)
    events: list[yaml.Event] = []
    frames: list[list] = []  # per open collection: [is_mapping, children seen, last key, is the steps list]
    try:
        while loader.check_event():
            event = loader.get_event()
            events.append(event)
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frames.pop()
                continue
            starts_steps = False
            if isinstance(event, yaml.NodeEvent) and frames:
                frame = frames[-1]
                frame[1] += 1
                if frame[0] and frame[1] % 2 == 1:
                    frame[2] = event.value if isinstance(event, yaml.ScalarEvent) else None
                if frame[3] and frame[1] > MAX_STEPS:
                    raise _TooBig(event.start_mark.line + 1, _TOO_MANY_STEPS)
                starts_steps = len(frames) == 1 and frame[0] and frame[1] % 2 == 0 and frame[2] == "steps"
            if isinstance(event, yaml.CollectionStartEvent):
                if len(frames) >= MAX_DEPTH:
                    raise _TooBig(event.start_mark.line + 1, _TOO_DEEP)
                frames.append([isinstance(event, yaml.MappingStartEvent), 0, None, starts_steps])
    finally:
        loader.dispose()
    return events


def _parse(text: str, path: str, default_slug: str | None) -> _Parsed:
    ctx = _Ctx(path)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        return _Parsed(None, [SpecError(path, 1, _too_large(size))])
    try:
        root = _Replay(_scan(text)).get_single_node()
    except _TooBig as exc:
        return _Parsed(None, [SpecError(path, *exc.args)])
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "syntax error"
        context = f"{exc.context}, " if exc.context else ""
        return _Parsed(None, [SpecError(path, mark.line + 1 if mark else 1, f"invalid YAML: {context}{problem}")])
    except yaml.YAMLError as exc:
        return _Parsed(None, [SpecError(path, 1, f"invalid YAML: {exc}")])

    if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL_TAG):
        return _Parsed(None, [SpecError(path, 1, "the file is empty; expected a journey (name, triggers, steps)")])
    if not isinstance(root, MappingNode):
        return _Parsed(None, [SpecError(path, _line(root), f"a journey file is a mapping, not {_kind(root)}")])

    top = _items(ctx, root)
    _unknown_keys(ctx, top, TOP_KEYS, "at the top level")
    result = _Parsed(None, ctx.errors, slug_line=1)

    slug: str | None = None
    if "journey" in top:
        slug = _slug(ctx, top["journey"][1], "journey slug")
        result.slug_line = _line(top["journey"][1])
    elif default_slug is None:
        ctx.error(root, "missing required key 'journey'")
    elif _SLUG_RE.fullmatch(default_slug):
        slug = default_slug
    else:
        ctx.error(
            root,
            f"the journey slug defaults to the file name '{default_slug}', which is invalid ({_SLUG_HELP}); "
            "add `journey: <slug>`",
        )

    name = None
    if "name" in top:
        name = _text(ctx, top["name"][1], "name")
    else:
        ctx.error(root, "missing required key 'name'")

    status = _enum(ctx, top["status"][1], "status", JOURNEY_STATUSES) if "status" in top else "draft"
    re_entry = _enum(ctx, top["re_entry"][1], "re_entry", RE_ENTRY) if "re_entry" in top else "block"
    inactivity = None
    if "inactivity_timeout" in top:
        inactivity = _duration(ctx, top["inactivity_timeout"][1], "inactivity_timeout")

    triggers: list[dict] = []
    if "triggers" not in top:
        ctx.error(root, "missing required key 'triggers' (at least one deep_link, keyword or event)")
    elif (items := _list(ctx, top["triggers"][1], "triggers")) is not None:
        if not items:
            ctx.error(top["triggers"][1], "triggers must list at least one trigger")
        seen: dict[tuple[str, str], int] = {}
        for item in items:
            trigger = _parse_trigger(ctx, item, seen, result.deep_link_lines)
            if trigger is not None:
                triggers.append(trigger)

    steps: list[dict] = []
    templates: list[_Template] = []
    gotos: list[tuple[Node, str]] = []
    if "steps" not in top:
        ctx.error(root, "missing required key 'steps' (at least one step)")
    elif (items := _list(ctx, top["steps"][1], "steps")) is not None:
        if not items:
            ctx.error(top["steps"][1], "steps must list at least one step")
        if len(items) > MAX_STEPS:  # a steps list reached through an alias escapes the scan's count
            return _Parsed(None, [SpecError(path, _line(items[MAX_STEPS]), _TOO_MANY_STEPS)])
        id_lines: dict[str, int] = {}
        for item in items:
            step, id_node = _parse_step(ctx, item, templates, gotos)
            if step is None:
                continue
            if "id" in step and id_node is not None:
                if step["id"] in id_lines:
                    ctx.error(id_node, f"duplicate step id '{step['id']}' (first on line {id_lines[step['id']]})")
                else:
                    id_lines[step["id"]] = _line(id_node)
            steps.append(step)
        for target_node, target in gotos:
            if target not in id_lines:
                ctx.error(target_node, f"goto '{target}' is not a step id{_suggest(target, tuple(id_lines))}")

    # Template variables depend on the whole journey: every save_as and the event triggers.
    events = {t["event"] for t in triggers if "event" in t}
    allowed = set(BASE_VARIABLES) | {s["save_as"] for s in steps if "save_as" in s}
    for event in events:
        allowed |= EVENTS[event]
    event_only: dict[str, list[str]] = {}
    for event, variables in sorted(EVENTS.items()):
        for var in variables - allowed:
            event_only.setdefault(var, []).append(event)
    for tpl in templates:
        _check_template(ctx, tpl, allowed, event_only)

    ctx.errors.sort(key=lambda e: e.line)
    result.errors = ctx.errors
    if not ctx.errors:
        result.spec = JourneySpec(
            slug=slug or "",
            name=name or "",
            status=status or "draft",
            re_entry=re_entry or "block",
            inactivity_timeout=inactivity,
            triggers=triggers,
            steps=[_ordered_step(s) for s in steps],
            source=path,
        )
    return result


# --------------------------------------------------------------------------------------------------
# Public functions


def parse_text(text: str, path: str, default_slug: str | None = None) -> tuple[JourneySpec | None, list[SpecError]]:
    """Parse and validate one journey. The spec is None exactly when there are errors (sorted by line)."""
    parsed = _parse(text, str(path), default_slug)
    return parsed.spec, parsed.errors


def _too_large(size: int) -> str:
    return f"the file is {size:,} bytes; a journey file may be at most 1 MiB ({MAX_FILE_BYTES:,} bytes)"


def _read(path: str | Path) -> tuple[str | None, SpecError | None]:
    try:
        if (size := Path(path).stat().st_size) > MAX_FILE_BYTES:
            return None, SpecError(str(path), 1, _too_large(size))
        return Path(path).read_text(encoding="utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return None, SpecError(str(path), 1, f"cannot read the file: not UTF-8 ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return None, SpecError(str(path), 1, f"cannot read the file: {exc.strerror or exc}")


def _parse_path(path: str | Path) -> _Parsed:
    text, error = _read(path)
    if error is not None:
        return _Parsed(None, [error])
    return _parse(text or "", str(path), Path(path).stem)


def parse_file(path: str | Path) -> tuple[JourneySpec | None, list[SpecError]]:
    """Parse one file; the slug defaults to the file name without its extension."""
    parsed = _parse_path(path)
    return parsed.spec, parsed.errors


def collect_files(paths: list[str | Path]) -> list[Path]:
    """Files as given, directories as their ``*.yaml``/``*.yml`` files (recursive, sorted).
    A path given twice is listed once. Raises FileNotFoundError for a path that does not exist."""
    out: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(str(raw))
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            found = [path]
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                out.append(file)
    return out


def validate_paths(paths: list[str | Path]) -> tuple[list[JourneySpec], list[SpecError]]:
    """Parse every file (see :func:`collect_files`) and check them against each other.

    Returns the journeys that are valid on their own and against the others, and every error,
    ordered by file (in collect_files order) and then by line. Raises FileNotFoundError like
    :func:`collect_files`."""
    files = collect_files(paths)
    parsed = [_parse_path(f) for f in files]
    extra: list[list[SpecError]] = [[] for _ in files]
    slugs: dict[str, str] = {}
    active_links: dict[str, tuple[str, str]] = {}
    for i, item in enumerate(parsed):
        spec = item.spec
        if spec is None:
            continue
        if spec.slug in slugs:
            extra[i].append(
                SpecError(spec.source, item.slug_line, f"journey '{spec.slug}' is already defined in {slugs[spec.slug]}")
            )
        else:
            slugs[spec.slug] = spec.source
        if spec.status == "active":
            for code in spec.deep_links():
                if code in active_links:
                    other_slug, other_path = active_links[code]
                    extra[i].append(
                        SpecError(
                            spec.source,
                            item.deep_link_lines.get(code, 1),
                            f"deep_link '{code}' is already used by active journey '{other_slug}' ({other_path})",
                        )
                    )
                else:
                    active_links[code] = (spec.slug, spec.source)
    specs: list[JourneySpec] = []
    errors: list[SpecError] = []
    for item, more in zip(parsed, extra):
        errors.extend(sorted(item.errors + more, key=lambda e: e.line))
        if item.spec is not None and not more:
            specs.append(item.spec)
    return specs, errors


def dump_yaml(spec: JourneySpec) -> str:
    """The canonical YAML of :meth:`JourneySpec.to_dict` (stable: dump → parse → dump is identical)."""
    return yaml.safe_dump(
        spec.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )


def json_schema() -> dict:
    """A JSON Schema (draft 2020-12) for journey files.

    Checks that need the whole journey (unique step ids, goto targets, template variables, Jinja
    syntax) or byte counts are only done by :func:`parse_text`."""
    slug = {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_-]{0,63}$"}
    duration = {
        "type": "string",
        "pattern": r"^\s*(?=[0-9.]*[1-9])[0-9]+(\.[0-9]+)?\s*[smhd]\s*$",
        "description": "A number greater than zero with a unit s, m, h or d, e.g. 30s, 10m, 1.5h, 3d.",
    }
    template = {
        "type": "string",
        "pattern": r"\S",
        "description": "A sandboxed Jinja2 template (HTML); at most 4096 characters once rendered. Variables: "
        + ", ".join(sorted(BASE_VARIABLES))
        + ", every save_as, and the variables of the journey's event triggers.",
    }

    def step(step_type: str, props: dict, description: str, **extra: Any) -> dict:
        return {
            "type": "object",
            "description": description,
            "properties": {"id": {"$ref": "#/$defs/slug"}, "type": {"const": step_type}, **props},
            "required": ["id", "type", *STEP_REQUIRED[step_type]],
            "additionalProperties": False,
            **extra,
        }

    def one_key(key: str, schema: dict) -> dict:
        return {"type": "object", "properties": {key: schema}, "required": [key], "additionalProperties": False}

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://promostack.dev/schemas/journey.schema.json",
        "title": "promostack journey",
        "description": "A multi-step conversation the Telegram message bot runs with one user (one per file).",
        "type": "object",
        "properties": {
            "journey": {"$ref": "#/$defs/slug", "description": "Slug; defaults to the file name stem."},
            "name": {"type": "string", "pattern": r"\S"},
            "status": {"enum": list(JOURNEY_STATUSES), "default": "draft"},
            "re_entry": {"enum": list(RE_ENTRY), "default": "block"},
            "inactivity_timeout": {"$ref": "#/$defs/duration"},
            "triggers": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/trigger"}},
            "steps": {"type": "array", "minItems": 1, "maxItems": MAX_STEPS, "items": {"$ref": "#/$defs/step"}},
        },
        "required": ["name", "triggers", "steps"],
        "additionalProperties": False,
        "$defs": {
            "slug": slug,
            "duration": duration,
            "template": template,
            "trigger": {
                "oneOf": [
                    one_key("deep_link", {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$"}),
                    one_key(
                        "keyword",
                        {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_KEYWORD_CHARS,
                            "pattern": r"^[^\r\n]*\S[^\r\n]*$",
                            "description": "Matched case-insensitively.",
                        },
                    ),
                    one_key("event", {"enum": sorted(EVENTS)}),
                ]
            },
            "step": {
                "oneOf": [
                    {"$ref": "#/$defs/message_step"},
                    {"$ref": "#/$defs/delay_step"},
                    {"$ref": "#/$defs/question_step"},
                    {"$ref": "#/$defs/wait_for_reply_step"},
                ]
            },
            "message_step": step("message", {"text": {"$ref": "#/$defs/template"}}, "Sends its text."),
            "delay_step": step(
                "delay",
                {"duration": {"$ref": "#/$defs/duration"}, "text": {"$ref": "#/$defs/template"}},
                "Waits for duration, then sends its text if it has one.",
            ),
            "question_step": step(
                "question",
                {
                    "text": {"$ref": "#/$defs/template"},
                    "choices": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_CHOICES,
                        "uniqueItems": True,
                        "items": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_CHOICE_BYTES,
                            "description": "At most 64 bytes of UTF-8.",
                        },
                    },
                    "strict": {"type": "boolean", "default": False},
                    "save_as": {
                        "type": "string",
                        "pattern": r"^[a-z_][a-z0-9_]{0,31}$",
                        "not": {"enum": sorted(BASE_VARIABLES)},
                    },
                    "validate": {"enum": list(VALIDATE_KINDS), "default": "text"},
                    "retry_text": {"$ref": "#/$defs/template"},
                },
                "Asks a question; optionally buttons (choices) and a variable to save the answer in.",
                allOf=[
                    {
                        "if": {"properties": {"strict": {"const": True}}, "required": ["strict"]},
                        "then": {"required": ["choices"]},
                    },
                    {
                        "if": {"properties": {"validate": {"const": "choice"}}, "required": ["validate"]},
                        "then": {"required": ["choices"]},
                    },
                ],
            ),
            "wait_for_reply_step": step(
                "wait_for_reply",
                {
                    "text": {"$ref": "#/$defs/template"},
                    "timeout": {"$ref": "#/$defs/duration"},
                    "on_timeout": {
                        "default": "end",
                        "oneOf": [
                            {"enum": list(ON_TIMEOUT)},
                            one_key("goto", {"$ref": "#/$defs/slug"}),
                        ],
                    },
                    "timeout_text": {"$ref": "#/$defs/template"},
                    "branches": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "match": {"type": "string", "pattern": r"\S"},
                                "goto": {"$ref": "#/$defs/slug"},
                            },
                            "required": ["match", "goto"],
                            "additionalProperties": False,
                        },
                    },
                },
                "Sends its text and waits for a reply; branches jump on a matching reply.",
            ),
        },
    }
