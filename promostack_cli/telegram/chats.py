"""Chat id rules: channels are ``-100…`` or ``@name``; positive ids are users (private chats)."""

from __future__ import annotations

import re

from promostack_cli.core.errors import ValidationError

_CHANNEL_RE = re.compile(r"^(-100\d{5,}|@[A-Za-z][A-Za-z0-9_]{3,31})$")
_ANY_CHAT_RE = re.compile(r"^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")


def validate_channel(value: str, option: str) -> str:
    value = (value or "").strip()
    if not _CHANNEL_RE.match(value):
        raise ValidationError(
            f"{option} '{value}' is not a channel id: use the numeric id (-100…) or @username of the channel."
        )
    return value


def validate_chat(value: str | int) -> str:
    value = str(value).strip()
    if not _ANY_CHAT_RE.match(value):
        raise ValidationError(f"'{value}' is not a Telegram chat id: use a numeric id or @username.")
    return value


def chat_kind(chat_id: str) -> str:
    """``private`` for users (positive ids), ``group`` for groups, supergroups and channels."""
    return "private" if chat_id.lstrip().isdigit() else "group"


def api_chat_id(chat_id: str) -> int | str:
    """The value to send to the Bot API: an integer when numeric, else the @username."""
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
