"""Logging of the short-lived commands: stderr, secrets masked, ISO 8601 UTC times (as cron logs want)."""

from __future__ import annotations

import logging
import sys
import time

# Set by the commands cron runs (scheduler tick, forex tick): every line they write to stderr starts
# with an ISO 8601 UTC time, like the log records, so a cron log reads in order.
_stamp = False


def stamp_lines(on: bool = True) -> None:
    """From now on :func:`stamped` prefixes messages with the time (the tick commands call this)."""
    global _stamp
    _stamp = on


def stamped(message: str) -> str:
    """``message``, prefixed with ``2026-12-01T13:45:00Z`` when lines are being stamped."""
    if not _stamp:
        return message
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return "\n".join(f"{now} {line}" for line in message.split("\n"))


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from promostack_cli.core.secrets import redact

        record.msg = redact(record.getMessage())
        record.args = ()
        return True


def configure_logging(level_name: str) -> None:
    """Log to stderr at ``level_name`` (PROMOSTACK_LOG_LEVEL), secrets masked, ISO UTC times."""
    level = getattr(logging, level_name.upper(), logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RedactFilter())
    handler.setFormatter(_iso_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL (which holds the bot token; the filter above masks it) at INFO:
    # show those only when debugging.
    http_level = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    logging.getLogger("httpx").setLevel(http_level)
    logging.getLogger("httpcore").setLevel(max(http_level, logging.INFO))


def _iso_formatter() -> logging.Formatter:
    """Log lines start with an ISO 8601 UTC time (2026-12-01T13:45:00.123Z), as cron logs want."""
    formatter = logging.Formatter("%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s",
                                  datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    return formatter
