"""The JSON Schema (draft 2020-12) of journey files, for editors and CI (``promostack journeys schema``).

Built from the parser's own tables in :mod:`.rules` (keys per step type, required keys, enums,
patterns, limits, defaults), so the two cannot drift apart; ``tests/test_journey_schema.py`` also
runs every example and every invalid fixture through both and asserts they agree. What the schema
cannot say is only checked by the parser: anything that needs the whole journey (unique step ids,
goto targets, template variables, Jinja syntax and limits), byte counts, case-insensitive
duplicates, YAML duplicate and merge keys, and the file size and nesting limits.

The schema describes the document as the parser reads it: scalars in text fields are text as
written, so ``choices: [1, 2]`` is two texts; an editor that loads YAML into numbers flags those.
"""

from __future__ import annotations

from typing import Any

from promostack_cli.journeys.spec.rules import (
    BASE_VARIABLES,
    BRANCH_KEYS,
    DEEP_LINK_PATTERN,
    DEFAULTS,
    EVENTS,
    JOURNEY_STATUSES,
    MAX_CHOICE_BYTES,
    MAX_CHOICES,
    MAX_KEYWORD_CHARS,
    MAX_STEPS,
    MAX_TEXT_CHARS,
    NUMBER_PATTERN,
    ON_TIMEOUT,
    RE_ENTRY,
    SLUG_PATTERN,
    SPACE_PATTERN,
    STEP_FIELDS,
    STEP_NEEDS_CHOICES,
    STEP_REQUIRED,
    STEP_TYPES,
    TOP_KEYS,
    TOP_REQUIRED,
    TRIGGER_KINDS,
    UNIT_PATTERN,
    VALIDATE_KINDS,
    VAR_PATTERN,
)

NOT_BLANK = r"\S"  # a text field must not be only whitespace

STEP_DESCRIPTIONS = {
    "message": "Sends its text.",
    "delay": "Waits for duration, then sends its text if it has one.",
    "question": "Asks a question; optionally buttons (choices) and a variable to save the answer in.",
    "wait_for_reply": "Sends its text and waits for a reply; branches jump on a matching reply.",
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/$defs/{name}"}


def _one_key(key: str, schema: dict) -> dict:
    return {"type": "object", "properties": {key: schema}, "required": [key], "additionalProperties": False}


def _anchored(pattern: str) -> str:
    return f"^{pattern}$"


# The schema of each step key (every key of STEP_FIELDS but id and type).
STEP_PROPERTIES: dict[str, dict] = {
    "text": _ref("template"),
    "retry_text": _ref("template"),
    "timeout_text": _ref("template"),
    "duration": _ref("duration"),
    "timeout": _ref("duration"),
    "choices": {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_CHOICES,
        "uniqueItems": True,
        "items": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_CHOICE_BYTES,
            "description": f"At most {MAX_CHOICE_BYTES} bytes of UTF-8.",
        },
    },
    "strict": {"type": "boolean", "default": DEFAULTS["strict"]},
    "save_as": {"type": "string", "pattern": _anchored(VAR_PATTERN), "not": {"enum": sorted(BASE_VARIABLES)}},
    "validate": {"enum": list(VALIDATE_KINDS), "default": DEFAULTS["validate"]},
    "on_timeout": {"default": DEFAULTS["on_timeout"], "oneOf": [{"enum": list(ON_TIMEOUT)}, _one_key("goto", _ref("slug"))]},
    "goto": {**_ref("slug"), "description": "After the message, jump to this later step, or to end to finish."},
    "branches": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"match": {"type": "string", "pattern": NOT_BLANK}, "goto": _ref("slug")},
            "required": list(BRANCH_KEYS),
            "additionalProperties": False,
        },
    },
}

TRIGGER_PROPERTIES: dict[str, dict] = {
    "deep_link": {"type": "string", "pattern": _anchored(DEEP_LINK_PATTERN)},
    "keyword": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEYWORD_CHARS,
        "pattern": r"^[^\r\n]*\S[^\r\n]*$",
        "description": "Matched case-insensitively.",
    },
    "event": {"enum": sorted(EVENTS)},
}

TOP_PROPERTIES: dict[str, dict] = {
    "journey": {**_ref("slug"), "description": "Slug; defaults to the file name stem."},
    "name": {"type": "string", "pattern": NOT_BLANK},
    "status": {"enum": list(JOURNEY_STATUSES), "default": DEFAULTS["status"]},
    "re_entry": {"enum": list(RE_ENTRY), "default": DEFAULTS["re_entry"]},
    "inactivity_timeout": _ref("duration"),
    "triggers": {"type": "array", "minItems": 1, "items": _ref("trigger")},
    "steps": {"type": "array", "minItems": 1, "maxItems": MAX_STEPS, "items": _ref("step")},
}


def _step(step_type: str) -> dict:
    keys = STEP_FIELDS[step_type]
    schema: dict[str, Any] = {
        "type": "object",
        "description": STEP_DESCRIPTIONS[step_type],
        "properties": {
            "id": _ref("slug"),
            "type": {"const": step_type},
            **{key: STEP_PROPERTIES[key] for key in keys if key not in ("id", "type")},
        },
        "required": ["id", "type", *STEP_REQUIRED[step_type]],
        "additionalProperties": False,
    }
    needs_choices = [
        {"if": {"properties": {key: {"const": value}}, "required": [key]}, "then": {"required": ["choices"]}}
        for key, value in STEP_NEEDS_CHOICES
        if key in keys
    ]
    if needs_choices:
        schema["allOf"] = needs_choices
    return schema


def json_schema() -> dict:
    """A JSON Schema (draft 2020-12) for journey files (see the module docstring for what only the parser checks)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://promostack.dev/schemas/journey.schema.json",
        "title": "promostack journey",
        "description": "A multi-step conversation the Telegram message bot runs with one user (one per file).",
        "type": "object",
        "properties": {key: TOP_PROPERTIES[key] for key in TOP_KEYS},
        "required": list(TOP_REQUIRED),
        "additionalProperties": False,
        "$defs": {
            "slug": {"type": "string", "pattern": _anchored(SLUG_PATTERN)},
            "duration": {
                "type": "string",
                # the number must have a digit other than 0 (greater than zero)
                "pattern": rf"^\s*(?=[0-9.]*[1-9]){NUMBER_PATTERN}{SPACE_PATTERN}*{UNIT_PATTERN}\s*$",
                "description": "A number greater than zero with a unit s, m, h or d, e.g. 30s, 10m, 1.5h, 3d.",
            },
            "template": {
                "type": "string",
                "pattern": NOT_BLANK,
                "description": f"A sandboxed Jinja2 template (HTML); at most {MAX_TEXT_CHARS} characters once "
                "rendered. Variables: " + ", ".join(sorted(BASE_VARIABLES))
                + ", every save_as, and the variables of the journey's event triggers.",
            },
            "trigger": {"oneOf": [_one_key(kind, TRIGGER_PROPERTIES[kind]) for kind in TRIGGER_KINDS]},
            "step": {"oneOf": [_ref(f"{step_type}_step") for step_type in STEP_TYPES]},
            **{f"{step_type}_step": _step(step_type) for step_type in STEP_TYPES},
        },
    }
