"""``forex backtest``: load history, replay it (:func:`engine.replay`), report like analytics."""

from __future__ import annotations

import csv
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, ContextManager

from promostack_cli.core.errors import ValidationError
from promostack_cli.forex.metrics import Closed

TRADE_COLUMNS = ("bar", "opened_at", "direction", "entry", "stop", "tp1", "tp2", "tp3", "closed_at", "result",
                 "stage", "close_price", "pips", "reason")


def _params(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValidationError(f"--param '{pair}' is not NAME=VALUE.")
        out[name.strip()] = value.strip()
    return out


def trade_row(t) -> dict:
    tr = t.trade
    tps = list(tr.targets) + [None] * (3 - len(tr.targets))
    return {"bar": t.bar_ts, "opened_at": tr.opened_at, "direction": tr.direction, "entry": tr.entry,
            "stop": tr.initial_stop, "tp1": tps[0], "tp2": tps[1], "tp3": tps[2], "closed_at": tr.closed_at,
            "result": tr.result or "open", "stage": tr.stage, "close_price": tr.close_price, "pips": tr.pips,
            "reason": t.intent.reason}


@dataclass
class Backtest:
    """The result of one replay: what the CLI prints, writes to CSV or returns as JSON."""

    strategy: str
    symbol: str
    timeframe: str
    bars: int
    seconds: float
    first: datetime
    last: datetime
    trades: list          # engine.Traded, in the order they opened
    closed: list[Closed]

    @property
    def title(self) -> str:
        return f"{self.strategy} {self.symbol} {self.timeframe}, {self.first:%Y-%m-%d} to {self.last:%Y-%m-%d}"

    @property
    def open_count(self) -> int:
        return sum(t.trade.status == "open" for t in self.trades)

    def summary(self, *, with_trades: bool) -> dict:
        out = {"strategy": self.strategy, "symbol": self.symbol, "timeframe": self.timeframe, "bars": self.bars,
               "seconds": round(self.seconds, 3),
               "bars_per_second": round(self.bars / self.seconds) if self.seconds else None}
        if with_trades:
            out["trades"] = [trade_row(t) for t in self.trades]
        return out


Progress = Callable[[int, str], ContextManager[Callable[[int], None] | None]]


@contextmanager
def _no_progress(total: int, label: str):
    yield None


def run_backtest(cfg, frame, *, strategy: str, timeframe: str | None, symbol: str, pip_size: float,
                 start: datetime | None, end: datetime | None, params: list[str], naive: bool = False,
                 progress: Progress = _no_progress) -> Backtest:
    """Replay ``frame`` (candles) through ``strategy`` with ``cfg``'s guardrails and expiry.

    ``progress(total, label)`` is a context manager giving a callable that is told how many
    candles were replayed (or None for no progress); the CLI passes a progress bar.
    """
    from promostack_cli.forex.candles import frames_for, infer_interval
    from promostack_cli.forex.engine import replay
    from promostack_cli.forex.strategy_loader import create, load_class

    cls = load_class(strategy)
    stored = {k.split(".", 1)[1]: v for k, v in cfg.stored.items() if k.startswith(cls.name + ".")}
    instance = create(strategy, {**stored, **_params(params)})
    timeframe = timeframe or instance.signal_timeframes[0]
    if timeframe not in instance.signal_timeframes:
        raise ValidationError(f"Strategy '{instance.name}' is checked on {', '.join(instance.signal_timeframes)}, not {timeframe}.")
    frames = frames_for(frame, infer_interval(frame), instance.needs(timeframe))
    bars = len(frames[timeframe])
    started = time.perf_counter()
    with progress(bars, f"Backtesting {instance.name} on {bars:,} {timeframe} candles") as advance:
        result = replay(instance, frames, timeframe, pip_size=pip_size, expiry=cfg.expiry, guard=cfg.guard,
                        start=start, end=end, naive=naive, progress=advance)
    seconds = time.perf_counter() - started
    closed = [Closed(t.trade.opened_at, t.trade.closed_at, t.trade.pips, t.trade.stage, t.trade.result or "",
                     instance.name, timeframe) for t in result if t.trade.status == "closed"]
    return Backtest(instance.name, symbol, timeframe, bars, seconds, frames[timeframe].index[0],
                    frames[timeframe].index[-1], result, closed)


def write_trades(path: Path, run: Backtest) -> int:
    """Every trade of ``run`` as CSV rows (TRADE_COLUMNS); returns how many."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=TRADE_COLUMNS)
        writer.writeheader()
        writer.writerows(trade_row(t) for t in run.trades)
    return len(run.trades)
