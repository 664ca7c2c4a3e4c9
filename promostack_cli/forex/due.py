"""What ``forex tick``'s steps have to do, written once: the schedule functions below decide, per
tenant, which checks, reports and monitor runs are due; the steps (:mod:`.steps`) run exactly those,
and the idle checks (``*_due``, SQLAlchemy Core, no ORM, no pandas) ask the same functions and the
``job_runs`` rows (:func:`promostack_cli.core.claims.period_open`) whether any is left to do.

An idle minute (a Saturday, no signal open, every period done) loads neither pandas nor the models.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import JSON, Integer, String, and_, column, exists, select, table

from promostack_cli.core.types import UTCDateTime
from promostack_cli.core import claims

MONITOR_EVERY = "monitor_every_minutes"
CHECK_ATTEMPTS = 10   # a candle late at Twelve Data ("stale") is retried by the next ticks for ~10 minutes
REPORT_ATTEMPTS = 3
LATE = {"forex_briefing": timedelta(hours=3), "forex_daily_recap": timedelta(hours=6),
        "forex_weekly_recap": timedelta(hours=6)}

connections = table("bot_connections", column("tenant_id", Integer), column("role", String))
settings_t = table("forex_settings", column("tenant_id", Integer), column("values", JSON()))
signals = table("forex_signals", column("id", Integer), column("tenant_id", Integer), column("status", String))
candles = table("forex_candles", column("tenant_id", Integer), column("interval", String),
                column("ts", UTCDateTime()))
job_runs = table("job_runs", column("tenant_id", Integer), column("kind", String), column("period", String),
                 column("status", String), column("attempts", Integer), column("lease_expires_at", UTCDateTime()))
ONE_MINUTE_RETENTION = timedelta(days=3)


def _value(values: dict, key: str):
    from promostack_cli.forex.config import ENGINE_BY_NAME

    param = ENGINE_BY_NAME[key]
    return param.coerce(values[key]) if key in values else param.default


def monitor_minute(values: dict, now: datetime) -> bool:
    """The monitor runs every ``monitor_every_minutes`` (every 1min candle is applied at the next run)."""
    return (now.hour * 60 + now.minute) % int(_value(values, MONITOR_EVERY)) == 0


def check_periods(values: dict, now: datetime) -> list[tuple[str, datetime, str]]:
    """``(timeframe, bar_open, period)`` of each configured timeframe's newest closed candle."""
    from promostack_cli.forex.intervals import INTERVAL_SECONDS

    found = []
    for tf in [t.strip() for t in str(_value(values, "timeframes")).split(",") if t.strip()]:
        secs = INTERVAL_SECONDS[tf]
        bar_open = datetime.fromtimestamp((int(now.timestamp()) // secs - 1) * secs, now.tzinfo)
        found.append((tf, bar_open, f"{tf}@{bar_open:%Y-%m-%dT%H:%M}"))
    return found


def due_reports(values: dict, now: datetime) -> list[tuple[str, str]]:
    """``(kind, period)`` of the briefing (weekdays), the daily recap (after weekdays) and the weekly
    recap (Sundays) whose time has come and whose late window has not passed."""
    from promostack_cli.forex.config import parse_hhmm

    def within(kind: str, key: str) -> bool:
        start = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
            minutes=parse_hhmm(key, _value(values, key)))
        return start <= now < start + LATE[kind]

    weekday, due = now.weekday(), []
    if weekday < 5 and within("forex_briefing", "briefing_time"):
        due.append(("forex_briefing", now.date().isoformat()))
    if 1 <= weekday <= 5 and within("forex_daily_recap", "daily_recap_time"):
        due.append(("forex_daily_recap", (now.date() - timedelta(days=1)).isoformat()))
    if weekday == 6 and within("forex_weekly_recap", "weekly_recap_time"):
        due.append(("forex_weekly_recap", now.date().isoformat()))
    return due


def _tenants(conn, tenant_id: int | None) -> list[tuple[int, dict]]:
    """(tenant id, stored forex settings) of every tenant with a signal bot."""
    c, s = connections.c, settings_t.c
    q = (select(c.tenant_id, s["values"]).select_from(connections.outerjoin(settings_t, s.tenant_id == c.tenant_id))
         .where(c.role == "signal_bot"))
    if tenant_id is not None:
        q = q.where(c.tenant_id == tenant_id)
    return [(tid, dict(values or {})) for tid, values in conn.execute(q)]


def _open(conn, tenant_id: int, kind: str, period: str, now: datetime, attempts: int) -> bool:
    """No run of the period yet, or one that may be taken again."""
    j = job_runs.c
    key = and_(j.tenant_id == tenant_id, j.kind == kind, j.period == period)
    started = conn.execute(select(exists(select(j.kind).where(key)))).scalar()
    return not started or bool(conn.execute(select(exists(select(j.kind).where(
        key, claims.period_open(j, now, attempts))))).scalar())


def _each(conn, tenant_id, now, wanted) -> bool:
    for tid, values in _tenants(conn, tenant_id):
        try:
            if wanted(tid, values):
                return True
        except Exception:  # noqa: BLE001 - a setting that no longer checks: the step reports it
            return True
    return False


def monitor_due(conn, now: datetime, deadline: datetime, tenant_id: int | None = None) -> bool:
    s = signals.c
    return _each(conn, tenant_id, now, lambda tid, values: monitor_minute(values, now) and conn.execute(
        select(exists(select(s.id).where(s.tenant_id == tid, s.status == "open")))).scalar())


def checks_due(conn, now: datetime, deadline: datetime, tenant_id: int | None = None) -> bool:
    return _each(conn, tenant_id, now, lambda tid, values: any(
        _open(conn, tid, "forex_check", period, now, CHECK_ATTEMPTS) for _tf, _bar, period in check_periods(values, now)))


def reports_due(conn, now: datetime, deadline: datetime, tenant_id: int | None = None) -> bool:
    return _each(conn, tenant_id, now, lambda tid, values: any(
        _open(conn, tid, kind, period, now, REPORT_ATTEMPTS) for kind, period in due_reports(values, now)))


def stale_minutes(c, now: datetime):
    """``c``: forex_candles' columns. 1min candles older than the monitor can need (3 days)."""
    return and_(c.interval == "1min", c.ts < now - ONE_MINUTE_RETENTION)


def prune_due(conn, now: datetime, deadline: datetime, tenant_id: int | None = None) -> bool:
    c = candles.c
    q = select(c.ts).where(stale_minutes(c, now))
    if tenant_id is not None:
        q = q.where(c.tenant_id == tenant_id)
    return bool(conn.execute(select(exists(q))).scalar())
