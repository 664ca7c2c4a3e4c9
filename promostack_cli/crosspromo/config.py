"""A tenant's cross-promo settings: defaults in code, what an operator set in ``crosspromo_settings``.

Every value is checked when it is set (one clear error, nothing written) and the whole set again
when loaded, so a bad value never reaches a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from promostack_cli.core.clock import parse_duration
from promostack_cli.core.errors import ValidationError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WIN_LEVELS = ("tp1", "tp2", "tp3")
_HHMM_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_CHANNEL_RE = re.compile(r"^(-100\d{5,15}|@[A-Za-z][A-Za-z0-9_]{3,31})$")
MAX_FEEDS = 10
MAX_CTA_TEXT = 64        # a button's label; Telegram shows about this much
MAX_DISCLAIMER = 500

DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "vip_channel": None,          # None: the signal bot's VIP channel (connections)
    "free_channel": None,         # None: the signal bot's FREE channel
    "cta_url": None,
    "cta_text": "Join VIP",
    "morning_time": "09:00",
    "teaser_time": "10:00",
    "timezone": "UTC",
    "days": "mon-fri",
    "max_wins_per_day": 1,
    "win_level": "tp1",
    "win_delay": "30m",
    "feeds": [],
    "headlines": 3,
    "disclaimer": "Trading involves risk. Past results do not guarantee future results.",
    "late_window": "2h",
    "templates_dir": "",
}


def parse_time_of_day(name: str, text: str) -> time:
    m = _HHMM_RE.match(str(text).strip())
    if not m:
        raise ValidationError(f"--{name} must be a local time like 09:00, not '{text}'.")
    return time(int(m[1]), int(m[2]))


def parse_days(text: str) -> tuple[int, ...]:
    """``mon-fri``, ``mon,wed,fri``, ``sat-sun``, ``daily`` -> weekday numbers (Monday 0)."""
    text = str(text).strip().lower()
    if text in ("daily", "every day", "all"):
        return tuple(range(7))
    days: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, sep, last = part.partition("-")
        if first not in DAY_NAMES or (sep and last not in DAY_NAMES):
            raise ValidationError(f"--days: '{part}' is not a day or range of days (use mon..sun, e.g. mon-fri or mon,wed,fri).")
        a, b = DAY_NAMES.index(first), DAY_NAMES.index(last) if sep else DAY_NAMES.index(first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    if not days:
        raise ValidationError("--days must name at least one day (e.g. mon-fri).")
    return tuple(sorted(days))


def parse_timezone(text: str) -> ZoneInfo:
    """An IANA zone, loaded directly (not checked against ``available_timezones()``, which walks
    the whole tz database: 30 ms on every idle cron tick that reads the settings)."""
    name = str(text).strip()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(f"--timezone '{text}' is not an IANA time zone (e.g. Europe/London, America/New_York, UTC).") from None


def check_channel(name: str, text: str) -> str:
    text = str(text).strip()
    if not _CHANNEL_RE.match(text):
        raise ValidationError(f"--{name} '{text}' is not a channel id (-100 followed by digits) or @channelname.")
    return text


def check_https(name: str, text: str) -> str:
    from urllib.parse import urlsplit

    text = str(text).strip()
    parts = urlsplit(text)
    if parts.scheme != "https" or not parts.netloc or any(c.isspace() for c in text) or len(text) > 2048:
        raise ValidationError(f"--{name} must be an https:// URL, not '{text}'.")
    return text


def _duration(name: str, text: str, *, low: float, high: float) -> str:
    try:
        seconds = parse_duration(str(text).strip())
    except (ValueError, ValidationError):
        raise ValidationError(f"--{name} must be a duration like 30m, 2h or 1d, not '{text}'.") from None
    if not low <= seconds <= high:
        raise ValidationError(f"--{name} must be between {low / 60:g} minutes and {high / 3600:g} hours, not '{text}'.")
    return str(text).strip()


def check(key: str, value: Any) -> Any:
    """The stored form of ``value`` for ``key``; ValidationError with a one-line reason."""
    name = key.replace("_", "-")
    if value is None and key in ("vip_channel", "free_channel", "cta_url"):
        return None
    if key == "enabled":
        return bool(value)
    if key in ("vip_channel", "free_channel"):
        return check_channel(name, value)
    if key == "cta_url":
        return check_https(name, value)
    if key == "cta_text":
        text = str(value).strip()
        if not text or len(text) > MAX_CTA_TEXT:
            raise ValidationError(f"--cta-text must be 1 to {MAX_CTA_TEXT} characters.")
        return text
    if key in ("morning_time", "teaser_time"):
        return parse_time_of_day(name, value).strftime("%H:%M")
    if key == "timezone":
        return parse_timezone(value).key
    if key == "days":
        parse_days(value)
        return str(value).strip().lower()
    if key == "max_wins_per_day":
        n = _int(name, value)
        if not 0 <= n <= 20:
            raise ValidationError("--max-wins-per-day must be between 0 and 20.")
        return n
    if key == "headlines":
        n = _int(name, value)
        if not 0 <= n <= 10:
            raise ValidationError("--headlines must be between 0 and 10.")
        return n
    if key == "win_level":
        level = str(value).strip().lower()
        if level not in WIN_LEVELS:
            raise ValidationError(f"--win-level must be one of {', '.join(WIN_LEVELS)}, not '{value}'.")
        return level
    if key == "win_delay":
        return _duration(name, value, low=0, high=24 * 3600)
    if key == "late_window":
        return _duration(name, value, low=60, high=24 * 3600)
    if key == "feeds":
        feeds = [check_https("feed", f) for f in value]
        if len(feeds) > MAX_FEEDS:
            raise ValidationError(f"At most {MAX_FEEDS} feeds.")
        return list(dict.fromkeys(feeds))
    if key == "disclaimer":
        text = str(value).strip()
        if len(text) > MAX_DISCLAIMER:
            raise ValidationError(f"--disclaimer must be at most {MAX_DISCLAIMER} characters.")
        return text
    if key == "enabled_at":  # recorded when cross promo is switched on: posts due before it are not "missed"
        return datetime.fromisoformat(str(value)).isoformat()
    if key == "templates_dir":
        from pathlib import Path

        if not str(value).strip():
            return ""
        path = Path(str(value)).expanduser()
        if not path.is_dir():
            raise ValidationError(f"--templates-dir {value} is not a directory.")
        return str(path.resolve())
    raise ValidationError(f"Unknown cross-promo setting '{key}'.")


def _int(name: str, value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValidationError(f"--{name} must be a whole number, not '{value}'.") from None


@dataclass(frozen=True)
class PromoSettings:
    values: dict[str, Any]
    stored: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise AttributeError(key) from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.values["timezone"])

    @property
    def weekdays(self) -> tuple[int, ...]:
        return parse_days(self.values["days"])

    def local_time(self, kind: str) -> time:
        return parse_time_of_day(kind, self.values[f"{'morning' if kind == 'morning_news' else 'teaser'}_time"])

    @property
    def win_delay_seconds(self) -> float:
        return parse_duration(self.values["win_delay"])

    @property
    def late_window_seconds(self) -> float:
        return parse_duration(self.values["late_window"])

    @property
    def win_stage(self) -> int:
        return WIN_LEVELS.index(self.values["win_level"]) + 1

    def as_dict(self) -> dict[str, Any]:
        return {k: self.values[k] for k in DEFAULTS}


def resolve(stored: dict[str, Any]) -> PromoSettings:
    values = dict(DEFAULTS)
    for key, value in stored.items():
        if key in DEFAULTS:
            values[key] = check(key, value)
    return PromoSettings(values, dict(stored))


def load(session, tenant_id: int) -> PromoSettings:
    from promostack_cli.crosspromo.models import CrossPromoSettings

    row = session.get(CrossPromoSettings, tenant_id)
    return resolve(dict(row.values) if row else {})


def update(session, tenant_id: int, changes: dict[str, Any], now: datetime) -> PromoSettings:
    """Apply ``changes`` (partial: other keys keep their values); all are checked before any is written."""
    from promostack_cli.crosspromo.models import CrossPromoSettings

    row = session.get(CrossPromoSettings, tenant_id)
    stored = dict(row.values) if row else {}
    for key, value in changes.items():
        stored[key] = check(key, value)
    result = resolve(stored)
    if result.enabled and not result.cta_url:
        raise ValidationError("Set --cta-url before enabling cross promo: every post carries the call to action.")
    if row is None:
        row = CrossPromoSettings(tenant_id=tenant_id, values=stored, updated_at=now)
    else:
        row.values, row.updated_at = stored, now
    session.add(row)
    return result
