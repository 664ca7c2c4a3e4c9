"""``forex backtest``: load history, replay it (:func:`engine.replay`), report like analytics."""

from __future__ import annotations

import csv
import sys
import time
from datetime import datetime
from pathlib import Path

from promostack_cli.core.errors import ValidationError
from promostack_cli.forex.metrics import Closed

TRADE_COLUMNS = ("bar", "opened_at", "direction", "entry", "stop", "tp1", "tp2", "tp3", "closed_at", "result",
                 "stage", "close_price", "pips", "reason")


def _config():
    """The tenant's forex config with --tenant / PROMOSTACK_TENANT, else the defaults."""
    from promostack_cli import context as ctx
    from promostack_cli.forex.config import load, resolve

    if not (ctx.options.tenant or ctx.settings().tenant):
        return resolve({})
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        return load(session, tenant.id)


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


def run_backtest(*, candles: Path, strategy: str, timeframe: str | None, symbol: str, pip_size: float,
                 start: datetime | None, end: datetime | None, params: list[str], trades_csv: Path | None,
                 plot: Path | None, naive: bool, json_: bool, emit) -> None:
    from promostack_cli.forex.candles import frames_for, infer_interval, read_csv
    from promostack_cli.forex.engine import replay
    from promostack_cli.forex.strategy_loader import create, load_class

    cfg = _config()
    cls = load_class(strategy)
    stored = {k.split(".", 1)[1]: v for k, v in cfg.stored.items() if k.startswith(cls.name + ".")}
    instance = create(strategy, {**stored, **_params(params)})
    timeframe = timeframe or instance.signal_timeframes[0]
    if timeframe not in instance.signal_timeframes:
        raise ValidationError(f"Strategy '{instance.name}' is checked on {', '.join(instance.signal_timeframes)}, not {timeframe}.")
    frame = read_csv(candles)
    source = infer_interval(frame)
    frames = frames_for(frame, source, instance.needs(timeframe))
    bars = len(frames[timeframe])
    started = time.perf_counter()
    with _progress(bars, f"Backtesting {instance.name} on {bars:,} {timeframe} candles") as advance:
        result = replay(instance, frames, timeframe, pip_size=pip_size, expiry=cfg.expiry, guard=cfg.guard,
                        start=start, end=end, naive=naive, progress=advance)
    seconds = time.perf_counter() - started
    closed = [Closed(t.trade.opened_at, t.trade.closed_at, t.trade.pips, t.trade.stage, t.trade.result or "",
                     instance.name, timeframe) for t in result if t.trade.status == "closed"]
    if trades_csv:
        with open(trades_csv, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=TRADE_COLUMNS)
            writer.writeheader()
            writer.writerows(trade_row(t) for t in result)
    first, last = frames[timeframe].index[0], frames[timeframe].index[-1]
    title = f"{instance.name} {symbol} {timeframe}, {first:%Y-%m-%d} to {last:%Y-%m-%d}"
    extra = {"strategy": instance.name, "symbol": symbol, "timeframe": timeframe, "bars": bars,
             "seconds": round(seconds, 3), "bars_per_second": round(bars / seconds) if seconds else None,
             "trades": [trade_row(t) for t in result] if json_ else None}
    if json_:
        extra = {k: v for k, v in extra.items() if v is not None}
    emit(closed, title, json_, plot, open_count=sum(t.trade.status == "open" for t in result), extra=extra)
    if trades_csv:
        from promostack_cli import context as ctx

        ctx.success(f"Wrote {len(result)} trade(s) to {trades_csv}.")


class _progress:
    """A rich progress bar on a terminal (stderr); nothing under cron or in pipes."""

    def __init__(self, total: int, label: str):
        self.total, self.label, self.bar = total, label, None

    def __enter__(self):
        if not sys.stderr.isatty():
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from promostack_cli import context as ctx

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            console=ctx.err, transient=True)
        self.bar.start()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc):
        if self.bar:
            self.bar.stop()
        return False
