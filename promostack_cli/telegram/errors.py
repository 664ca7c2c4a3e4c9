"""Typed Bot API errors, built from Telegram's envelope ``{"ok": false, "error_code", "description"}``."""

from __future__ import annotations


class TelegramError(Exception):
    """A failed Bot API call. ``transient`` errors are worth retrying with backoff."""

    transient = False

    def __init__(self, description: str, error_code: int | None = None, method: str | None = None):
        super().__init__(description)
        self.description = description
        self.error_code = error_code
        self.method = method

    def __str__(self) -> str:
        code = f"{self.error_code} " if self.error_code else ""
        return f"{code}{self.description}"


class Unauthorized(TelegramError):
    """401: the token was revoked or never existed."""


class Forbidden(TelegramError):
    """403: the bot may not act in this chat (not a member, no rights)."""


class BotBlocked(Forbidden):
    """403 from a user who blocked the bot, or a deactivated user / kicked bot."""


class BadRequest(TelegramError):
    """400: the request itself is wrong; retrying the same request cannot succeed."""


class ChatNotFound(BadRequest):
    pass


class MessageTooLong(BadRequest):
    pass


class CantParseEntities(BadRequest):
    pass


class NotFound(TelegramError):
    """404: the method (or a malformed token in the URL) does not exist."""


class Conflict(TelegramError):
    """409: e.g. getUpdates while a webhook is set."""


class RetryAfter(TelegramError):
    """429: flood control; wait ``retry_after`` seconds before sending again with this bot."""

    transient = True

    def __init__(self, description: str, retry_after: float, method: str | None = None):
        super().__init__(description, 429, method)
        self.retry_after = max(float(retry_after), 0.0)


class ServerError(TelegramError):
    """5xx from Telegram (or a proxy in front of it)."""

    transient = True


class NetworkError(TelegramError):
    """No usable answer: connection refused/reset, DNS failure, timeout, or a non-JSON reply."""

    transient = True


_BLOCKED_MARKERS = ("blocked by the user", "user is deactivated", "bot was kicked", "kicked from")


def error_from_envelope(body: dict, status: int, method: str) -> TelegramError:
    code = int(body.get("error_code") or status)
    description = str(body.get("description") or f"HTTP {status}")
    low = description.lower()
    if code == 429:
        retry_after = (body.get("parameters") or {}).get("retry_after", 1)
        return RetryAfter(description, retry_after, method)
    if code == 401:
        return Unauthorized(description, code, method)
    if code == 403:
        cls = BotBlocked if any(m in low for m in _BLOCKED_MARKERS) else Forbidden
        return cls(description, code, method)
    if code == 400:
        if "chat not found" in low:
            return ChatNotFound(description, code, method)
        if "message is too long" in low:
            return MessageTooLong(description, code, method)
        if "can't parse entities" in low:
            return CantParseEntities(description, code, method)
        return BadRequest(description, code, method)
    if code == 404:
        return NotFound(description, code, method)
    if code == 409:
        return Conflict(description, code, method)
    if code >= 500:
        return ServerError(description, code, method)
    return TelegramError(description, code, method)
