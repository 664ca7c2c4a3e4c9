"""Time helpers. Timestamps are timezone-aware UTC (sqlmodel stores them so on both databases)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
# Seconds per unit; None stands for a bare number (seconds).
DURATION_UNITS: dict[str | None, float] = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def utcnow() -> datetime:
    return datetime.now(UTC)


def epoch() -> float:
    return time.time()


def from_epoch(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def as_utc(dt: datetime) -> datetime:
    """An aware datetime in UTC. A naive one is refused: the domain has aware UTC times only (the edges
    that read text or numbers, such as ``parse_utc``, make them so)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()}: the domain uses aware UTC datetimes")
    return dt.astimezone(UTC)


def to_epoch(dt: datetime) -> float:
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def shifted(start: datetime):
    """A clock that reads ``start`` now and runs on in real time from there (``--now`` replays)."""
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


def parse_duration(text: str) -> float:
    """``"30s"`` -> 30.0, ``"10m"`` -> 600.0, ``"1.5h"``, ``"3d"``; a bare number is seconds."""
    m = _DURATION_RE.match(text or "")
    if not m:
        raise ValueError(f"'{text}' is not a duration; use a number with s, m, h or d (e.g. 30s, 10m)")
    return float(m.group(1)) * DURATION_UNITS[m.group(2)]


def parse_utc(text: str) -> datetime:
    """An ISO 8601 date or time as aware UTC: an offset or ``Z`` is converted, a time without one
    is UTC (the CLI's rule for --now, --at). ValueError when it is not ISO 8601."""
    parsed = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def ago(seconds: float, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(seconds=seconds)


def iso_now(ts: float | None = None) -> str:
    """``2026-12-01T13:45:00Z``: the time stamp of cron log lines (UTC, to the second)."""
    dt = datetime.now(UTC) if ts is None else from_epoch(ts)
    return dt.isoformat(timespec="seconds").replace("+00:00", "Z")
