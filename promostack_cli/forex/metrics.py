"""Performance figures from closed signals, the same for ``forex analytics`` (stored signals) and
``forex backtest`` (replayed trades), and the cumulative-pips plot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable


@dataclass(frozen=True)
class Closed:
    """What the metrics need of one closed signal."""

    opened_at: datetime
    closed_at: datetime
    pips: float
    stage: int  # take-profits reached (0-3)
    result: str  # tp3 | stop | breakeven | locked | expired
    strategy: str = ""
    timeframe: str = ""


def outcome(pips: float) -> str:
    return "win" if pips > 0 else "loss" if pips < 0 else "flat"


def compute(trades: Iterable[Closed]) -> dict:
    trades = sorted(trades, key=lambda t: t.closed_at)
    n = len(trades)
    pips = [t.pips for t in trades]
    wins = [p for p in pips if p > 0]
    losses = [p for p in pips if p < 0]
    gross_win, gross_loss = sum(wins), -sum(losses)
    equity = peak = max_dd = 0.0
    for p in pips:
        equity += p
        peak = max(peak, equity)
        max_dd = max(max_dd, peak - equity)
    hold = [(t.closed_at - t.opened_at).total_seconds() / 3600 for t in trades]
    decided = len(wins) + len(losses)
    return {
        "signals": n,
        "wins": len(wins),
        "losses": len(losses),
        "flat": n - len(wins) - len(losses),
        "win_rate": round(100 * len(wins) / decided, 1) if decided else None,
        "total_pips": round(sum(pips), 1),
        "average_pips": round(sum(pips) / n, 1) if n else None,
        "profit_factor": round(gross_win / gross_loss, 2) if gross_loss else None,
        "expectancy_pips": round(sum(pips) / n, 2) if n else None,
        "average_win_pips": round(gross_win / len(wins), 1) if wins else None,
        "average_loss_pips": round(-gross_loss / len(losses), 1) if losses else None,
        "max_drawdown_pips": round(max_dd, 1),
        "average_hold_hours": round(sum(hold) / n, 2) if n else None,
        "tp1_hit_rate": round(100 * sum(t.stage >= 1 for t in trades) / n, 1) if n else None,
        "tp2_hit_rate": round(100 * sum(t.stage >= 2 for t in trades) / n, 1) if n else None,
        "tp3_hit_rate": round(100 * sum(t.stage >= 3 for t in trades) / n, 1) if n else None,
    }


def by_group(trades: Iterable[Closed]) -> dict[str, dict]:
    groups: dict[str, list[Closed]] = {}
    for t in trades:
        groups.setdefault(f"{t.strategy} {t.timeframe}".strip(), []).append(t)
    return {key: compute(items) for key, items in sorted(groups.items())}


LABELS = {
    "signals": "Signals", "wins": "Wins", "losses": "Losses", "flat": "Flat", "win_rate": "Win rate %",
    "total_pips": "Total pips", "average_pips": "Average pips", "profit_factor": "Profit factor",
    "expectancy_pips": "Expectancy (pips/signal)", "average_win_pips": "Average win (pips)",
    "average_loss_pips": "Average loss (pips)", "max_drawdown_pips": "Max drawdown (pips)",
    "average_hold_hours": "Average hold (hours)", "tp1_hit_rate": "TP1 hit %", "tp2_hit_rate": "TP2 hit %",
    "tp3_hit_rate": "TP3 hit %",
}


def rows(overall: dict, groups: dict[str, dict]) -> tuple[list[str], list[list]]:
    """A table: one row per figure, one column for all signals and one per strategy/timeframe."""
    names = ["All", *groups]
    columns = [overall, *groups.values()]
    return ["Figure", *names], [[LABELS[k], *("-" if c[k] is None else c[k] for c in columns)] for k in LABELS]


def csv_rows(overall: dict, groups: dict[str, dict]) -> tuple[list[str], list[list]]:
    """For a spreadsheet: one row for all signals and one per strategy/timeframe, a column per figure."""
    keys = list(LABELS)
    return ["group", *keys], [["All", *(overall[k] for k in keys)], *([name, *(g[k] for k in keys)] for name, g in groups.items())]


def figure(trades: Iterable[Closed], title: str):
    """The cumulative-pips curve (a matplotlib Figure; the caller closes it). Dates carry their year,
    the axis says the times are UTC."""
    import matplotlib

    matplotlib.use("Agg")
    from datetime import UTC

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    def utc(moment: datetime) -> datetime:
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    trades = sorted(trades, key=lambda t: t.closed_at)
    xs, ys, total = [], [], 0.0
    if trades:  # the curve starts at 0 when the first signal opened
        xs.append(min(utc(t.opened_at) for t in trades))
        ys.append(0.0)
    for t in trades:
        total += t.pips
        xs.append(utc(t.closed_at))
        ys.append(total)
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    ax.plot(xs, ys, drawstyle="steps-post", color="#1f77b4", linewidth=1.4)
    ax.axhline(0, color="#888888", linewidth=0.8)
    ax.set_title(title)
    ax.set_ylabel("cumulative pips")
    ax.set_xlabel("Time (UTC)")
    span = (xs[-1] - xs[0]).total_seconds() if xs else 0
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(tz=UTC))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d" if span > 3 * 86400 else "%Y-%m-%d %H:%M", tz=UTC))
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot(trades: Iterable[Closed], path: str | Path, title: str) -> Path:
    """Cumulative pips over time as a PNG (an SVG, its text searchable, when ``path`` ends in .svg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    svg = path.suffix.lower() == ".svg"
    with plt.rc_context({"svg.fonttype": "none"}):
        fig = figure(trades, title)
        try:
            fig.savefig(path, format="svg" if svg else "png")
        finally:
            plt.close(fig)
    return path
