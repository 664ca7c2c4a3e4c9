"""Triggers and steps: each YAML node to its normalized dict, every problem reported at its line.

Checks that need the whole journey are left to :mod:`.parser`: a step's templates are collected
(for :mod:`.template_check`) and its goto targets too (to be checked against every step id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from promostack_cli.journeys.spec import read
from promostack_cli.journeys.spec.read import Ctx, Fields
from promostack_cli.journeys.spec.rules import (
    BASE_VARIABLES,
    BRANCH_KEYS,
    DEEP_LINK_RE,
    DURATION_FIELDS,
    EVENTS,
    MAX_CHOICE_BYTES,
    MAX_CHOICES,
    MAX_KEYWORD_CHARS,
    ON_TIMEOUT,
    STEP_FIELDS,
    STEP_KEYS,
    STEP_REQUIRED,
    STEP_TYPES,
    TEMPLATE_FIELDS,
    TRIGGER_KINDS,
    VAR_RE,
    VALIDATE_KINDS,
)


@dataclass
class Template:
    """A text field to check once the journey's variables are known."""

    node: Node
    field: str
    text: str


Gotos = list[tuple[Node, str]]  # (node of the target, target step id)


def parse_trigger(ctx: Ctx, node: Node, seen: dict[tuple[str, str], int], lines: dict[str, int]) -> dict | None:
    shape = "a trigger is one of `deep_link: code`, `keyword: word` or `event: name`"
    if not isinstance(node, MappingNode):
        ctx.error(node, f"{shape}, not {read.kind(node)}")
        return None
    fields = read.items(ctx, node)
    read.unknown_keys(ctx, fields, TRIGGER_KINDS, "in a trigger")
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
        value = read.text(ctx, value_node, "deep_link")
        if value is None:
            return None
        if not DEEP_LINK_RE.fullmatch(value):
            ctx.error(value_node, f"deep_link code '{value}' is invalid: use 1-64 letters, digits, '_' or '-'")
            return None
        identity = value
    elif kind == "keyword":
        value = read.text(ctx, value_node, "keyword")
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
        value = read.text(ctx, value_node, "event")
        if value is None:
            return None
        if value not in EVENTS:
            ctx.error(
                value_node,
                f"unknown event '{value}'; events are {', '.join(sorted(EVENTS))}{read.suggest(value, tuple(EVENTS))}",
            )
            return None
        identity = value
    if (kind, identity) in seen:
        ctx.error(value_node, f"duplicate trigger {kind}: {value} (first on line {seen[(kind, identity)]})")
        return None
    seen[(kind, identity)] = read.line(value_node)
    if kind == "deep_link":
        lines[value] = read.line(value_node)
    return {kind: value}


def parse_step(ctx: Ctx, node: Node, templates: list[Template], gotos: Gotos) -> tuple[dict | None, Node | None]:
    """The normalized step (None when its type is unusable) and the node of its id."""
    if not isinstance(node, MappingNode):
        ctx.error(node, f"a step is a mapping with at least `id` and `type`, not {read.kind(node)}")
        return None, None
    fields = read.items(ctx, node)
    id_node = fields["id"][1] if "id" in fields else None
    step: dict[str, Any] = {}
    step_type = _step_type(ctx, node, fields)
    allowed = STEP_FIELDS[step_type] if step_type else STEP_KEYS
    _check_keys(ctx, fields, step_type, allowed)

    if "id" not in fields:
        ctx.error(node, "step is missing required key 'id'")
    elif (step_id := read.slug(ctx, fields["id"][1], "step id")) is not None:
        step["id"] = step_id
    if step_type is None:
        return None, id_node
    step["type"] = step_type
    for key in STEP_REQUIRED[step_type]:
        if key not in fields:
            ctx.error(node, f"{step_type} step is missing required key '{key}'")

    for key, reader in _READERS:
        if key in fields and key in allowed:
            value_node = fields[key][1]
            value = reader(ctx, value_node, key, fields, gotos)
            if value is not None:
                step[key] = value
                if key in TEMPLATE_FIELDS:
                    templates.append(Template(value_node, key, value))
    return step, id_node


def _step_type(ctx: Ctx, node: Node, fields: Fields) -> str | None:
    if "type" not in fields:
        ctx.error(node, f"step is missing required key 'type' (one of {', '.join(STEP_TYPES)})")
        return None
    type_node = fields["type"][1]
    value = read.text(ctx, type_node, "type")
    if value is not None and value not in STEP_TYPES:
        ctx.error(
            type_node,
            f"unknown step type '{value}'; expected one of {', '.join(STEP_TYPES)}{read.suggest(value, STEP_TYPES)}",
        )
        return None
    return value


def _check_keys(ctx: Ctx, fields: Fields, step_type: str | None, allowed: tuple[str, ...]) -> None:
    for key, (key_node, _value) in fields.items():
        if key in allowed:
            continue
        if key in STEP_KEYS:
            ctx.error(key_node, f"'{key}' is not allowed in a {step_type} step (allowed: {', '.join(allowed)})")
        else:
            hint = read.suggest(key, allowed) or read.suggest(key, STEP_KEYS)
            ctx.error(key_node, f"unknown step key '{key}'{hint}")


# Each reader: (ctx, value node, key, the step's fields, gotos) -> the value, or None (reported).


def _template(ctx: Ctx, node: Node, key: str, fields: Fields, gotos: Gotos) -> str | None:
    return read.text(ctx, node, key)


def _duration(ctx: Ctx, node: Node, key: str, fields: Fields, gotos: Gotos) -> str | None:
    return read.duration(ctx, node, key)


def _choices(ctx: Ctx, node: Node, key: str, fields: Fields, gotos: Gotos) -> list[str] | None:
    entries = read.sequence(ctx, node, "choices")
    if entries is None:
        return None
    choices, seen, ok = [], {}, True
    if not 1 <= len(entries) <= MAX_CHOICES:
        ctx.error(node, f"choices must list 1 to {MAX_CHOICES} options, not {len(entries)}")
        ok = False
    for item in entries:
        choice = read.text(ctx, item, "a choice")
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
        seen.setdefault(folded, read.line(item))
        choices.append(choice)
    return choices if ok else None


def _strict(ctx: Ctx, node: Node, key: str, fields: Fields, gotos: Gotos) -> bool | None:
    if not (isinstance(node, ScalarNode) and node.tag == read.BOOL_TAG):
        ctx.error(node, f"strict must be true or false, not {read.kind(node)}")
        return None
    strict = node.value.lower() in ("true", "yes", "on", "y")
    if strict and "choices" not in fields:
        ctx.error(node, "strict: true needs choices (the only accepted replies)")
    return strict


def _save_as(ctx: Ctx, node: Node, key: str, fields: Fields, gotos: Gotos) -> str | None:
    var = read.text(ctx, node, "save_as")
    if var is None:
        return None
    if not VAR_RE.fullmatch(var):
        ctx.error(
            node,
            f"save_as '{var}' is not a variable name: use lowercase letters, digits and '_', "
            "not starting with a digit (at most 32)",
        )
        return None
    if var in BASE_VARIABLES:
        ctx.error(node, f"save_as '{var}' would overwrite a built-in variable")
        return None
    return var


def _validate(ctx: Ctx, node: Node, key: str, fields: Fields, gotos: Gotos) -> str | None:
    kind = read.enum(ctx, node, "validate", VALIDATE_KINDS)
    if kind == "choice" and "choices" not in fields:
        ctx.error(node, "validate: choice needs choices")
    return kind


def _on_timeout(ctx: Ctx, node: Node, key: str, fields: Fields, gotos: Gotos) -> str | dict | None:
    if isinstance(node, MappingNode):
        sub = read.items(ctx, node)
        read.unknown_keys(ctx, sub, ("goto",), "in on_timeout")
        if "goto" not in sub:
            ctx.error(node, "on_timeout is end, continue or {goto: step_id}")
            return None
        target = read.text(ctx, sub["goto"][1], "goto")
        if target is None or set(sub) != {"goto"}:
            return None
        gotos.append((sub["goto"][1], target))
        return {"goto": target}
    value = read.text(ctx, node, "on_timeout")
    if value is None:
        return None
    if value not in ON_TIMEOUT:
        ctx.error(node, f"on_timeout '{value}' is not end, continue or {{goto: step_id}}{read.suggest(value, ON_TIMEOUT)}")
        return None
    return value


def _goto(ctx: Ctx, node: Node, key: str, fields: Fields, gotos: Gotos) -> str | None:
    target = read.text(ctx, node, "goto")
    if target is not None:
        gotos.append((node, target))
    return target


def _branches(ctx: Ctx, node: Node, key: str, fields: Fields, gotos: Gotos) -> list[dict] | None:
    entries = read.sequence(ctx, node, "branches")
    if entries is None:
        return None
    branches, seen, ok = [], {}, True
    for item in entries:
        if not isinstance(item, MappingNode):
            ctx.error(item, f"a branch is a mapping with match and goto, not {read.kind(item)}")
            ok = False
            continue
        sub = read.items(ctx, item)
        read.unknown_keys(ctx, sub, BRANCH_KEYS, "in a branch")
        branch = {}
        for name in BRANCH_KEYS:
            if name not in sub:
                ctx.error(item, f"branch is missing required key '{name}'")
                continue
            value = read.text(ctx, sub[name][1], name)
            if value is not None:
                branch[name] = value
        if "match" in branch:
            folded = branch["match"].strip().casefold()
            if folded in seen:
                ctx.error(sub["match"][1], f"duplicate branch match '{branch['match']}' (first on line {seen[folded]})")
                ok = False
            seen.setdefault(folded, read.line(sub["match"][1]))
        if "goto" in branch:
            gotos.append((sub["goto"][1], branch["goto"]))
        if set(branch) == set(BRANCH_KEYS) and set(sub) == set(BRANCH_KEYS):
            branches.append(branch)
        else:
            ok = False
    return branches if ok else None


# The order in which a step's fields are read (it orders the problems found on one line).
_READERS = (
    *((key, _template) for key in TEMPLATE_FIELDS),
    *((key, _duration) for key in DURATION_FIELDS),
    ("choices", _choices),
    ("strict", _strict),
    ("save_as", _save_as),
    ("validate", _validate),
    ("on_timeout", _on_timeout),
    ("branches", _branches),
    ("goto", _goto),
)
