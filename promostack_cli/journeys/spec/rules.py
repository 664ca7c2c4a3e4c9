"""The rules of the journey format, stated once: keys, enums, patterns and limits.

The parser (:mod:`.parser` and the modules it uses) and the JSON Schema (:mod:`.schema`) are
both built from these tables, so a rule changed here changes both. Telegram's and the clock's
own facts are imported from where they live (:mod:`promostack_cli.telegram.html`,
:mod:`promostack_cli.core.clock`), not copied.
"""

from __future__ import annotations

import re

from promostack_cli.core.clock import DURATION_UNITS
from promostack_cli.telegram.html import MAX_MESSAGE_LENGTH

JOURNEY_STATUSES = ("draft", "active", "stopped")
RE_ENTRY = ("block", "restart", "allow")
STEP_TYPES = ("message", "delay", "question", "wait_for_reply")
VALIDATE_KINDS = ("text", "number", "email", "choice")
ON_TIMEOUT = ("end", "continue")
TRIGGER_KINDS = ("deep_link", "keyword", "event")
DEFAULTS = {"status": "draft", "re_entry": "block", "strict": False, "validate": "text", "on_timeout": "end"}

BASE_VARIABLES: frozenset[str] = frozenset({"first_name", "last_name", "username", "tenant_name"})
EVENTS: dict[str, frozenset[str]] = {
    "stripe_payment_successful": frozenset({"vip_link", "plan"}),    # billing granted VIP access
    "stripe_payment_failed": frozenset({"plan", "update_card_link"}),
    "stripe_sub_cancelled": frozenset({"plan"}),                     # billing removed VIP access
}

MAX_TEXT_CHARS = MAX_MESSAGE_LENGTH  # Telegram's limit for one message
MAX_CHOICES = 12
MAX_CHOICE_BYTES = 64
MAX_KEYWORD_CHARS = 64
MAX_FILE_BYTES = 1024 * 1024  # a journey file; checked before it is read
MAX_STEPS = 500  # per journey; counted while the YAML is scanned, before anything is built
MAX_DEPTH = 20  # YAML nesting (a journey needs 5); deeper files are refused before they are composed

TOP_KEYS = ("journey", "name", "status", "re_entry", "inactivity_timeout", "triggers", "steps")
TOP_REQUIRED = ("name", "triggers", "steps")  # `journey` defaults to the file name stem
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
    "goto",
)
END_TARGET = "end"  # a goto to "end" finishes the journey (unless a step is called "end")
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "message": ("id", "type", "text", "goto"),
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
STEP_NEEDS_CHOICES = (("strict", True), ("validate", "choice"))  # these values need `choices`
TEMPLATE_FIELDS = ("text", "retry_text", "timeout_text")
DURATION_FIELDS = ("duration", "timeout")
BRANCH_KEYS = ("match", "goto")

# Journeys take the clock's units except milliseconds, and always need one (no bare seconds).
UNITS = tuple(unit for unit in DURATION_UNITS if unit is not None and unit != "ms")

# Patterns without anchors: the parser uses them with fullmatch, the schema as ^...$.
SLUG_PATTERN = r"[a-z0-9][a-z0-9_-]{0,63}"
DEEP_LINK_PATTERN = r"[A-Za-z0-9_-]{1,64}"  # Telegram's /start payload
VAR_PATTERN = r"[a-z_][a-z0-9_]{0,31}"
NUMBER_PATTERN = r"[0-9]+(?:\.[0-9]+)?"
UNIT_PATTERN = "[" + "".join(UNITS) + "]"
SPACE_PATTERN = r"[ \t\n\r\f\v]"  # ASCII whitespace: \s in a JSON Schema (and in Python's str patterns) is wider
DURATION_PATTERN = rf"({NUMBER_PATTERN}){SPACE_PATTERN}*({UNIT_PATTERN})"  # after str.strip()

SLUG_RE = re.compile(SLUG_PATTERN, re.ASCII)
DEEP_LINK_RE = re.compile(DEEP_LINK_PATTERN, re.ASCII)
VAR_RE = re.compile(VAR_PATTERN, re.ASCII)
DURATION_RE = re.compile(DURATION_PATTERN, re.ASCII)
MS_RE = re.compile(rf"{NUMBER_PATTERN}\s*ms", re.ASCII)
NUMBER_RE = re.compile(NUMBER_PATTERN, re.ASCII)

SLUG_HELP = "use lowercase letters, digits, '_' and '-', starting with a letter or digit (at most 64)"
DURATION_HELP = "use a number followed by s, m, h or d (e.g. 30s, 10m, 1.5h, 3d)"
TOO_MANY_STEPS = f"more than {MAX_STEPS} steps; a journey may have at most {MAX_STEPS} (split it into several)"
TOO_DEEP = f"the YAML is nested more than {MAX_DEPTH} levels deep (a journey needs 5)"
