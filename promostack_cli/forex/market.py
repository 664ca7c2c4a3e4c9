"""Candles for checks and the monitor: from the database cache (refreshed from Twelve Data with only
the bars it lacks) or from a CSV file, and the credit budget every process shares."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import delete, func, update
from sqlmodel import select

from promostack_cli.core.clock import utcnow
from promostack_cli.core.errors import OperationalError, ValidationError
from promostack_cli.core.upsert import upsert
from promostack_cli.forex.models import ApiCreditUsage, ForexCandle



def step_of(interval: str) -> timedelta:
    from promostack_cli.forex.intervals import interval_delta

    return interval_delta(interval)


def closed_by(interval: str, now: datetime) -> datetime:
    """Bars opening before this have closed by ``now`` (``load(until=...)`` is exclusive)."""
    return now - step_of(interval) + timedelta(microseconds=1)


def market_closed(now: datetime) -> bool:
    """The FX/gold weekend: from Friday 22:00 to Sunday 21:00 UTC (the market closes at 21:00 or
    22:00 and opens at 21:00-23:00 depending on daylight saving; this window is closed in both)."""
    wd, minutes = now.weekday(), now.hour * 60 + now.minute
    return (wd == 4 and minutes >= 22 * 60) or wd == 5 or (wd == 6 and minutes < 21 * 60)


class CreditsExhausted(OperationalError):
    """The shared Twelve Data budget cannot cover the requests a command needs."""


class CreditBudget:
    """The plan's per-minute and per-day credits, counted in the database so that concurrent
    processes (and every tenant using the key) share them. Windows are UTC calendar minutes and days,
    as Twelve Data counts them."""

    def __init__(self, db, api_key: str, per_minute: int, per_day: int, *, clock=utcnow):
        self.db = db
        self.clock = clock
        self.account = "twelvedata:" + hashlib.sha256(api_key.encode()).hexdigest()[:40]
        self.limits = {"minute": per_minute, "day": per_day}

    def reserve(self, credits: int, now: datetime | None = None) -> None:
        """Take ``credits`` from both windows or none (CreditsExhausted says which ran out).

        Windows follow the budget's clock (the real one, Twelve Data's, whatever time a replay
        pretends it is)."""
        if credits <= 0:
            return
        now = now or self.clock()
        windows = {"minute": now.replace(second=0, microsecond=0),
                   "day": now.replace(hour=0, minute=0, second=0, microsecond=0)}
        t = ApiCreditUsage
        with self.db.transaction() as session:
            for window, start in windows.items():
                upsert(session, t, {"account": self.account, "scope": window, "window_start": start, "used": 0},
                       ["account", "scope", "window_start"])
                limit = self.limits[window]
                taken = session.exec(
                    update(t).where(t.account == self.account, t.scope == window, t.window_start == start,
                                    t.used + credits <= limit)
                    .values(used=t.used + credits).returning(t.used)
                ).first()
                if taken is None:
                    session.rollback()
                    used = self.used(window, start)
                    if window == "minute":
                        wait = 60 - now.second
                        raise CreditsExhausted(
                            f"Twelve Data credits for this minute are spent ({used}/{limit} used, {credits} needed); "
                            f"nothing was fetched. Try again in {wait} s or raise PROMOSTACK_TWELVEDATA_CREDITS_PER_MINUTE if your plan allows.")
                    raise CreditsExhausted(
                        f"Twelve Data credits for today (UTC) are spent ({used}/{limit} used, {credits} needed); "
                        "nothing was fetched. They reset at 00:00 UTC; use --candles FILE.csv meanwhile.")
            session.exec(delete(t).where(t.account == self.account, t.window_start < windows["day"] - timedelta(days=2)))

    def used(self, window: str, start: datetime) -> int:
        with self.db.session() as session:
            row = session.get(ApiCreditUsage, (self.account, window, start))
            return row.used if row else 0


class Prepaid:
    """The client's per-request budget hook, drawing on credits reserved up front."""

    def __init__(self, budget: CreditBudget | None, credits: int):
        self.budget, self.left = budget, credits

    def __call__(self, n: int) -> None:
        if self.left >= n:
            self.left -= n
            return
        if self.budget is not None:
            self.budget.reserve(n)


# --- the cache ----------------------------------------------------------------------------------

def last_cached(session, tenant_id: int, symbol: str, interval: str) -> datetime | None:
    c = ForexCandle
    return session.exec(select(func.max(c.ts)).where(c.tenant_id == tenant_id, c.symbol == symbol,
                                                     c.interval == interval)).first()


def store(session, tenant_id: int, symbol: str, interval: str, bars: Iterable, now: datetime) -> int:
    """Insert the closed bars among ``bars`` that the cache lacks; returns how many were new."""
    from promostack_cli.forex.intervals import interval_delta

    step = interval_delta(interval)
    rows = [{"tenant_id": tenant_id, "symbol": symbol, "interval": interval, "ts": b.ts, "open": b.open,
             "high": b.high, "low": b.low, "close": b.close} for b in bars if b.ts + step <= now]
    if not rows:
        return 0
    before = _count(session, tenant_id, symbol, interval)
    for chunk in range(0, len(rows), 500):
        upsert(session, ForexCandle, rows[chunk:chunk + 500], ["tenant_id", "symbol", "interval", "ts"])
    return _count(session, tenant_id, symbol, interval) - before


def _count(session, tenant_id, symbol, interval) -> int:
    c = ForexCandle
    return session.exec(select(func.count()).select_from(c).where(
        c.tenant_id == tenant_id, c.symbol == symbol, c.interval == interval)).one()


def load(session, tenant_id: int, symbol: str, interval: str, *, limit: int | None = None,
         since: datetime | None = None, until: datetime | None = None):
    """Cached candles as a frame (ascending); ``limit`` keeps the newest ones."""
    from promostack_cli.forex.candles import frame_from_rows

    c = ForexCandle
    stmt = select(c.ts, c.open, c.high, c.low, c.close).where(c.tenant_id == tenant_id, c.symbol == symbol,
                                                               c.interval == interval)
    if since is not None:
        stmt = stmt.where(c.ts >= since)
    if until is not None:
        stmt = stmt.where(c.ts < until)
    stmt = stmt.order_by(c.ts.desc())
    if limit:
        stmt = stmt.limit(limit)
    return frame_from_rows(reversed(session.exec(stmt).all()))


def prune(session, now: datetime, tenant_id: int | None = None) -> int:
    """Delete the 1min candles the monitor no longer needs (:func:`.due.stale_minutes`); how many."""
    from promostack_cli.forex.due import stale_minutes

    q = delete(ForexCandle).where(stale_minutes(ForexCandle.__table__.c, now))
    if tenant_id is not None:
        q = q.where(ForexCandle.tenant_id == tenant_id)
    return session.exec(q).rowcount or 0


@dataclass
class Fetch:
    interval: str
    start: datetime | None  # None: first fetch, take ``outputsize`` bars
    outputsize: int | None


class Market:
    """Where a command's candles come from."""

    monitor_step = timedelta(minutes=1)   # the duration of the bars minute_bars returns

    def frames(self, intervals: Iterable[str], now: datetime, bars: int) -> dict:
        raise NotImplementedError

    def minute_bars(self, since: datetime, now: datetime):
        raise NotImplementedError

    def last_close(self, now: datetime) -> float | None:
        raise NotImplementedError

    def cached_minute_bars(self, since: datetime, now: datetime):
        return self.minute_bars(since, now)


class LiveMarket(Market):
    """The database cache, topped up from Twelve Data first (one credit per interval that can have
    a newly closed bar; all credits are reserved before the first request)."""

    def __init__(self, db, tenant_id: int, symbol: str, client_factory, budget: CreditBudget | None):
        self.db, self.tenant_id, self.symbol = db, tenant_id, symbol
        self.client_factory, self.budget = client_factory, budget
        self.fetched: dict[str, int] = {}

    def plan(self, intervals: Iterable[str], now: datetime, bars: int, since: dict | None = None) -> list[Fetch]:
        from promostack_cli.forex.intervals import interval_delta

        plans = []
        with self.db.session() as session:
            for interval in intervals:
                step = interval_delta(interval)
                last = last_cached(session, self.tenant_id, self.symbol, interval)
                if last is not None and last + 2 * step > now:
                    continue  # the next bar has not closed yet: nothing to fetch
                first = (since or {}).get(interval)
                if last is None or (first is not None and last < first - step):
                    if first is not None:
                        plans.append(Fetch(interval, first, None))
                    else:
                        plans.append(Fetch(interval, None, min(5000, bars + 1)))
                else:
                    plans.append(Fetch(interval, last + step, None))
        for p in plans:
            if p.start is not None:  # with a start date the default outputsize may still be 30: ask for the gap
                p.outputsize = max(1, min(5000, int((now - p.start) / step_of(p.interval)) + 2))
        return plans

    def refresh(self, plans: list[Fetch], now: datetime) -> None:
        if not plans:
            return
        if self.budget is not None:
            self.budget.reserve(len(plans))
        client = self.client_factory(Prepaid(self.budget, len(plans)))
        try:
            for p in plans:
                got = client.time_series(self.symbol, p.interval, outputsize=p.outputsize, start_date=p.start)
                with self.db.transaction() as session:
                    self.fetched[p.interval] = self.fetched.get(p.interval, 0) + store(
                        session, self.tenant_id, self.symbol, p.interval, got, now)
        finally:
            client.close()

    def frames(self, intervals: Iterable[str], now: datetime, bars: int) -> dict:
        intervals = list(dict.fromkeys(intervals))
        self.refresh(self.plan(intervals, now, bars), now)
        with self.db.session() as session:
            return {i: load(session, self.tenant_id, self.symbol, i, limit=bars, until=closed_by(i, now)) for i in intervals}

    def minute_bars(self, since: datetime, now: datetime):
        if not market_closed(now):  # no requests (credits) while the market sleeps at the weekend
            self.refresh(self.plan(["1min"], now, 0, since={"1min": since}), now)
        return self.cached_minute_bars(since, now)

    def cached_minute_bars(self, since: datetime, now: datetime):
        with self.db.session() as session:
            return load(session, self.tenant_id, self.symbol, "1min", since=since, until=closed_by("1min", now))

    def last_close(self, now: datetime) -> float | None:
        """The newest cached 1min close, else Twelve Data's current price (one credit)."""
        c = ForexCandle
        with self.db.session() as session:
            cached = session.exec(select(c.close).where(c.tenant_id == self.tenant_id, c.symbol == self.symbol,
                                                        c.interval == "1min", c.ts < now).order_by(c.ts.desc()).limit(1)).first()
        if cached is not None:
            return cached
        if self.budget is not None:
            self.budget.reserve(1)
        client = self.client_factory(Prepaid(self.budget, 1))
        try:
            return client.price(self.symbol)
        finally:
            client.close()


class FileMarket(Market):
    """Candles from ``--candles FILE.csv``; coarser timeframes are built from the file's bars."""

    def __init__(self, frame, interval: str):
        self.frame, self.interval = frame, interval

    @classmethod
    def from_csv(cls, path, note=None) -> "FileMarket":
        from promostack_cli.forex.candles import infer_interval, read_csv

        frame = read_csv(path, note=note)
        return cls(frame, infer_interval(frame))

    @property
    def monitor_step(self) -> timedelta:
        """Offline, the monitor applies the file's own candles (coarser ones whole, as a backtest does)."""
        from promostack_cli.forex.intervals import interval_delta

        return interval_delta(self.interval)

    @property
    def end(self) -> datetime:
        from promostack_cli.forex.intervals import interval_delta

        return self.frame.index[-1].to_pydatetime() + interval_delta(self.interval)

    def frames(self, intervals: Iterable[str], now: datetime, bars: int) -> dict:
        from promostack_cli.forex.candles import closed_only, frames_for

        out = frames_for(closed_only(self.frame, self.interval, now), self.interval, intervals)
        return {k: v.iloc[-bars:] if bars else v for k, v in out.items()}

    def minute_bars(self, since: datetime, now: datetime):
        from promostack_cli.forex.candles import closed_only

        frame = closed_only(self.frame, self.interval, now)
        return frame[frame.index >= since]

    def last_close(self, now: datetime) -> float | None:
        from promostack_cli.forex.candles import closed_only

        frame = closed_only(self.frame, self.interval, now)
        return float(frame["close"].iloc[-1]) if len(frame) else None


def live_market(runtime, settings, symbol: str) -> LiveMarket:
    """The cache topped up from Twelve Data with the configured key and the shared credit budget."""
    key = settings.twelvedata_api_key.get_secret_value() if settings.twelvedata_api_key else ""
    if not key:
        raise ValidationError("Twelve Data API key not set: set PROMOSTACK_TWELVEDATA_API_KEY (check, backtest and monitor "
                              "also read a candle file: --candles FILE.csv).")
    budget = CreditBudget(runtime.db, key, settings.twelvedata_credits_per_minute, settings.twelvedata_credits_per_day)

    def client(hook):
        from promostack_cli.forex.twelvedata import TwelveDataClient

        return TwelveDataClient(key, base_url=settings.twelvedata_api_url, timeout=settings.twelvedata_timeout, budget=hook)

    return LiveMarket(runtime.db, runtime.tenant_id, symbol, client, budget)
