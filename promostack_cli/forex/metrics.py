"""Performance figures from closed signals, the same for ``forex analytics`` (stored signals) and
``forex backtest`` (replayed trades), and the cumulative-pips plot."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Iterable, Mapping


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


TIME_LABEL = "Time (UTC)"


def curve(trades: Iterable[Closed]) -> tuple[list[datetime], list[float]]:
    """The points of the cumulative-pips curve, times in UTC: 0 when the first signal opened, then the
    running total at each close, in the order they closed."""
    from promostack_cli.core.clock import as_utc as utc

    trades = sorted(trades, key=lambda t: utc(t.closed_at))
    xs, ys, total = [], [], 0.0
    if trades:
        xs.append(min(utc(t.opened_at) for t in trades))
        ys.append(0.0)
    for t in trades:
        total += t.pips
        xs.append(utc(t.closed_at))
        ys.append(total)
    return xs, ys


def time_format(xs: list[datetime]) -> str:
    """The time axis' label format: always the year; hours and minutes too when the curve spans 3 days or less."""
    span = (xs[-1] - xs[0]).total_seconds() if xs else 0
    return "%Y-%m-%d" if span > 3 * 86400 else "%Y-%m-%d %H:%M"


def chart_environment(environ: Mapping[str, str], cache_home: Path) -> dict[str, str]:
    """What to add to the environment before matplotlib's first import in this process.

    matplotlib's first import on a machine builds its font list (scanning the system's font folders
    and running ``fc-list``) and caches it per user. Our charts only use DejaVu Sans, which matplotlib
    ships, so the system's fonts never change a chart, only cost time (seconds on a server with many
    fonts) and make the first render on a new machine differ from the next. So: matplotlib's fonts
    only (``MPL_IGNORE_SYSTEM_FONTS``, matplotlib >= 3.11), with its cache in a folder of ours
    (``<cache_home>/promostack/matplotlib``), so that a font list without the system's fonts never
    replaces the one the user's other matplotlib programs share, and a user's matplotlibrc does not
    restyle the charts we post. Someone who set MPLCONFIGDIR keeps matplotlib exactly as they set it up.
    """
    if environ.get("MPLCONFIGDIR"):
        return {}
    changes = {"MPLCONFIGDIR": str(cache_home / "promostack" / "matplotlib")}
    if "MPL_IGNORE_SYSTEM_FONTS" not in environ:
        changes["MPL_IGNORE_SYSTEM_FONTS"] = "1"
    return changes


def _pyplot():
    """matplotlib.pyplot on the Agg backend; the first time in this process, after :func:`chart_environment`
    (when its folder cannot be made, matplotlib is left to its own defaults)."""
    if "matplotlib" not in sys.modules:
        try:
            changes = chart_environment(os.environ, Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"))
            if "MPLCONFIGDIR" in changes:
                Path(changes["MPLCONFIGDIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
                if not os.access(changes["MPLCONFIGDIR"], os.W_OK):
                    changes = {}
        except (OSError, RuntimeError):  # no home folder, or one we cannot write to
            changes = {}
        os.environ.update(changes)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure(trades: Iterable[Closed], title: str):
    """The cumulative-pips curve (a matplotlib Figure; the caller closes it). Dates carry their year,
    the axis says the times are UTC."""
    plt = _pyplot()
    import matplotlib.dates as mdates

    xs, ys = curve(trades)
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    ax.plot(xs, ys, drawstyle="steps-post", color="#1f77b4", linewidth=1.4)
    ax.axhline(0, color="#888888", linewidth=0.8)
    ax.set_title(title)
    ax.set_ylabel("cumulative pips")
    ax.set_xlabel(TIME_LABEL)
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(tz=UTC))
    ax.xaxis.set_major_formatter(mdates.DateFormatter(time_format(xs), tz=UTC))
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot(trades: Iterable[Closed], path: str | Path, title: str) -> Path:
    """Cumulative pips over time as a PNG (an SVG, its text searchable, when ``path`` ends in .svg)."""
    plt = _pyplot()
    path = Path(path)
    svg = path.suffix.lower() == ".svg"
    with plt.rc_context({"svg.fonttype": "none"}):
        fig = figure(trades, title)
        try:
            fig.savefig(path, format="svg" if svg else "png")
        finally:
            plt.close(fig)
    return path
