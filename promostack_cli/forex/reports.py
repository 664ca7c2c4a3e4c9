"""The morning briefing, the daily recap and the weekly recap: their figures and their posts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import select

from promostack_cli.core.errors import OperationalError
from promostack_cli.forex import messages
from promostack_cli.forex.config import parse_session
from promostack_cli.forex.metrics import Closed, compute
from promostack_cli.forex.models import ForexSignal
from promostack_cli.text.facts import Facts, Numbers


@dataclass
class AsianRange:
    high: float
    low: float
    range_pips: float
    average_pips: float | None
    ratio: float | None


def _at(day: date, minutes: int) -> datetime:
    from datetime import UTC

    return datetime.combine(day, time(0), tzinfo=UTC) + timedelta(minutes=minutes)


def pivots(high: float, low: float, close: float) -> dict[str, float]:
    """Classic floor pivots from a day's high, low and close."""
    p = (high + low + close) / 3
    return {"p": p, "r1": 2 * p - low, "s1": 2 * p - high, "r2": p + (high - low), "s2": p - (high - low)}


def briefing_context(frame, cfg, now: datetime) -> dict:
    """Figures for the briefing of ``now``'s day from 1h candles (closed by ``now``)."""
    start, end = parse_session("asian_session", cfg.asian_session)
    today = now.date()
    if frame.empty:
        raise OperationalError(f"No {cfg.symbol} candles to brief on.")
    days = sorted({ts.date() for ts in frame.index})

    def window(day: date):
        lo, hi = _at(day, start), _at(day, end)
        return frame[(frame.index >= lo) & (frame.index < hi)]

    asian_today = window(today)
    if asian_today.empty:
        raise OperationalError(f"No {cfg.symbol} candles in today's Asian session ({cfg.asian_session} UTC) yet.")
    high, low = float(asian_today["high"].max()), float(asian_today["low"].min())
    past = []
    for day in reversed([d for d in days if d < today and d.weekday() < 5]):
        w = window(day)
        if not w.empty:
            past.append(float(w["high"].max() - w["low"].min()) / cfg.pip_size)
        if len(past) == cfg.asian_average_days:
            break
    range_pips = (high - low) / cfg.pip_size
    average = sum(past) / len(past) if past else None
    # the previous trading day: a weekday (Sunday evening's few candles open Monday's week)
    prev_days = [d for d in days if d < today and d.weekday() < 5]
    if not prev_days:
        raise OperationalError("No previous trading day's candles for the pivots.")
    prev = frame[[ts.date() == prev_days[-1] for ts in frame.index]]
    h, l, c = float(prev["high"].max()), float(prev["low"].min()), float(prev["close"].iloc[-1])
    last = float(frame["close"].iloc[-1])
    position = "above" if last > high else "below" if last < low else "inside"
    return {
        "symbol": cfg.symbol, "day": now, "asian_session": cfg.asian_session,
        "asian": AsianRange(high, low, range_pips, average, (range_pips / average) if average else None),
        "last": last, "position": position, "position_ratio": (last - low) / (high - low) if high > low else 0.5,
        "prev_day": datetime.combine(prev_days[-1], time(0)),
        "pivots": pivots(h, l, c),
    }


def _signals_opened(session, tenant_id: int, start: datetime, end: datetime) -> list[ForexSignal]:
    s = ForexSignal
    return list(session.exec(select(s).where(s.tenant_id == tenant_id, s.opened_at >= start, s.opened_at < end)
                             .order_by(s.opened_at)))


def closed_of(signals) -> list[Closed]:
    return [Closed(s.opened_at, s.closed_at, s.pips, s.stage, s.result or "", s.strategy, s.timeframe)
            for s in signals if s.status == "closed"]


def daily_recap_context(session, tenant_id: int, day: date) -> dict:
    signals = _signals_opened(session, tenant_id, _at(day, 0), _at(day + timedelta(days=1), 0))
    totals = compute(closed_of(signals))
    totals["open"] = sum(s.status == "open" for s in signals)
    return {"day": _at(day, 0), "signals": signals, "totals": totals}


def weekly_recap_context(session, tenant_id: int, last_day: date) -> dict:
    first = last_day - timedelta(days=6)
    signals = _signals_opened(session, tenant_id, _at(first, 0), _at(last_day + timedelta(days=1), 0))
    closed = [s for s in signals if s.status == "closed"]
    return {"start": _at(first, 0), "end": _at(last_day, 0), "totals": compute(closed_of(signals)),
            "best": max(closed, key=lambda s: s.pips, default=None), "signals": signals}


TEXT_OF = {"forex_briefing": "briefing", "forex_daily_recap": "daily_recap", "forex_weekly_recap": "weekly_recap"}


@dataclass
class Report:
    kind: str
    period: str
    text: str
    data: dict  # what the text was built from (JSON-ready: signals as dicts)


def build_report(runtime, cfg, market, kind: str, period: str, now: datetime, *, writer=None) -> Report:
    """A briefing or recap written (by ``writer``, the tenant's by default), with the figures it was
    written from: read first, the session closed, then written."""
    day = date.fromisoformat(period)
    if kind == "forex_briefing":
        frames = market.frames(["1h"], now, 24 * (cfg.asian_average_days + 6))
        context = briefing_context(frames["1h"], cfg, now)
    else:
        with runtime.session() as session:
            if kind == "forex_daily_recap":
                context = daily_recap_context(session, runtime.tenant_id, day)
            else:
                context = weekly_recap_context(session, runtime.tenant_id, day)
    writer = writer or messages.writer(runtime, cfg)
    text = writer.write(TEXT_OF[kind], Facts(context, Numbers(cfg.pip_size))).text
    return Report(kind, period, text, _plain(context))


def _plain(context: dict) -> dict:
    """The facts, JSON-ready: dataclasses and signals as dicts."""
    from dataclasses import asdict, is_dataclass

    from promostack_cli.forex.signals import signal_dict

    def plain(value):
        if isinstance(value, ForexSignal):
            return signal_dict(value)
        if is_dataclass(value) and not isinstance(value, type):
            return asdict(value)
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in context.items()}


def queue_report(runtime, report: Report, now: datetime) -> None:
    """Queue ``report`` for the VIP channel (deduplicated per kind and period)."""
    from promostack_cli.forex.service import vip_channel
    from promostack_cli.outbox.service import enqueue

    channel = vip_channel(runtime)
    with runtime.db.transaction() as session:
        enqueue(session, runtime.tenant_id, "signal_bot", channel, report.text, now=now,
                dedupe_key=f"{report.kind}:{report.period}", source=report.kind)


def post_report(runtime, cfg, market, kind: str, period: str, now: datetime, *, dry_run: bool = False,
                writer=None) -> str:
    """Write a briefing or recap and queue it for the VIP channel (deduplicated per period)."""
    report = build_report(runtime, cfg, market, kind, period, now, writer=writer)
    if not dry_run:
        queue_report(runtime, report, now)
    return report.text
