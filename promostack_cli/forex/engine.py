"""What live checks and backtests share: guardrails, turning an intent into a trade, and the replay.

The replay walks the signal timeframe candle by candle: first the open trade meets the candle
(the monitor's rules, :mod:`lifecycle`), then, if the guardrails allow, the strategy decides on
the candle (the check). A live ``forex tick`` does the same, in the same order, every minute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable, Mapping

from promostack_cli.forex.base_strategy import SignalIntent, truncate, validated
from promostack_cli.forex.intervals import INTERVAL_SECONDS
from promostack_cli.forex.lifecycle import Trade, price_decimals, round_price


@dataclass(frozen=True)
class GuardConfig:
    max_signals_per_day: int = 4
    min_minutes_between: float = 15
    daily_loss_limit_pips: float = 50
    max_open: int = 1


@dataclass
class Guardrails:
    """Counts of the current UTC day, fed by opens and closes; live code rebuilds it from the database."""

    config: GuardConfig
    day: date | None = None
    opened_today: int = 0
    realised_today: float = 0.0
    last_opened_at: datetime | None = None
    open_count: int = 0

    def _roll(self, now: datetime) -> None:
        if self.day != now.date():
            self.day, self.opened_today, self.realised_today = now.date(), 0, 0.0

    def record_open(self, at: datetime) -> None:
        self._roll(at)
        self.opened_today += 1
        self.open_count += 1
        self.last_opened_at = at

    def record_close(self, at: datetime, pips: float, *, was_open: bool = True) -> None:
        self._roll(at)
        self.realised_today += pips
        if was_open:
            self.open_count -= 1

    def blocked(self, now: datetime) -> str | None:
        """Why no new signal may open at ``now`` (None: it may)."""
        self._roll(now)
        c = self.config
        if self.open_count >= c.max_open:
            return f"{self.open_count} signal(s) still open (max_open_signals {c.max_open})"
        if self.opened_today >= c.max_signals_per_day:
            return f"{self.opened_today} signals today (max_signals_per_day {c.max_signals_per_day})"
        if self.last_opened_at and now - self.last_opened_at < timedelta(minutes=c.min_minutes_between):
            return f"last signal at {self.last_opened_at:%H:%M} UTC (min_minutes_between_signals {c.min_minutes_between:g})"
        if self.realised_today <= -c.daily_loss_limit_pips:
            return f"today's realised result is {self.realised_today:+.1f} pips (daily_loss_limit_pips {c.daily_loss_limit_pips:g})"
        return None


def open_trade(intent: SignalIntent, *, pip_size: float, opened_at: datetime, expiry: timedelta) -> Trade | None:
    """A trade from an intent, prices rounded to the quote precision the posts show; None when
    rounding collapses a level onto the entry or out of order (no tradeable signal)."""
    d = price_decimals(pip_size)
    trade = Trade(
        direction=intent.direction,
        entry=round_price(intent.entry, d),
        stop=round_price(intent.stop, d),
        targets=[round_price(tp.price, d) for tp in intent.take_profits],
        close_percents=[tp.close_percent for tp in intent.take_profits],
        pip_size=pip_size,
        opened_at=opened_at,
        expires_at=opened_at + expiry,
    )
    sign = trade.sign
    levels = [trade.entry, *trade.targets]
    if sign * (trade.entry - trade.stop) <= 0 or any(sign * (b - a) <= 0 for a, b in zip(levels, levels[1:])):
        return None
    return trade


@dataclass
class BacktestTrade:
    trade: Trade
    intent: SignalIntent
    bar_ts: datetime
    events: list = field(default_factory=list)


def first_ready(frames: Mapping, timeframe: str) -> int:
    """The first signal candle by whose close every timeframe has a closed candle (and a previous
    signal candle exists): the strategy is never asked about an empty history."""
    import numpy as np

    from promostack_cli.forex.candles import epoch_seconds

    closes = epoch_seconds(frames[timeframe].index) + INTERVAL_SECONDS[timeframe]
    ready = 1
    for tf, frame in frames.items():
        if tf != timeframe:
            if frame.empty:
                return len(closes)
            first_close = int(epoch_seconds(frame.index[:1])[0]) + INTERVAL_SECONDS[tf]
            ready = max(ready, int(np.searchsorted(closes, first_close, side="left")))
    return ready


def replay(strategy, frames: Mapping, timeframe: str, *, pip_size: float, expiry: timedelta,
           guard: GuardConfig, start: datetime | None = None, end: datetime | None = None,
           naive: bool = False, chunk: int = 5000, progress: Callable[[int], None] | None = None) -> list[BacktestTrade]:
    """Backtest ``strategy`` over ``frames``; signals open only on candles in [start, end).

    ``naive=True`` calls ``strategy.generate`` on the history up to each candle (the plain way,
    for the benchmark and for checking); otherwise indicators are computed once (``prepare``) and
    each candle costs one ``signal_at``. Both give the same trades for a causal strategy.
    ``chunk`` only sets how often ``progress`` is told; it never changes a result.
    """
    from promostack_cli.forex.strategy_loader import run_guarded

    sig = frames[timeframe]
    n = len(sig)
    prepared = None if naive else run_guarded(strategy, strategy.prepare, frames, timeframe)
    ts = sig.index.to_pydatetime()
    high, low, close = sig["high"].to_numpy(), sig["low"].to_numpy(), sig["close"].to_numpy()
    step = timedelta(seconds=INTERVAL_SECONDS[timeframe])
    guards = Guardrails(guard)
    ready = first_ready(frames, timeframe)
    trades: list[BacktestTrade] = []
    current: BacktestTrade | None = None
    chunk = max(1, int(chunk))
    for lo in range(0, n, chunk):
        for i in range(lo, min(n, lo + chunk)):
            at = ts[i] + step
            if current is not None:
                events = current.trade.apply(at, float(high[i]), float(low[i]), float(close[i]))
                current.events.extend(events)
                if current.trade.status != "open":
                    guards.record_close(at, current.trade.pips)
                    current = None
            if i < ready or (start is not None and ts[i] < start) or (end is not None and ts[i] >= end):
                continue
            if guards.blocked(at):
                continue
            if naive:
                intent = run_guarded(strategy, strategy.generate, truncate(frames, timeframe, i), timeframe)
            else:
                intent = run_guarded(strategy, strategy.signal_at, prepared, i)
            intent = validated(strategy, intent)
            if intent is None:
                continue
            trade = open_trade(intent, pip_size=pip_size, opened_at=at, expiry=expiry)
            if trade is None:
                continue
            current = BacktestTrade(trade, intent, ts[i])
            trades.append(current)
            guards.record_open(at)
        if progress:
            progress(min(n, lo + chunk) - lo)
    return trades
