"""``promostack forex`` briefing, recap, analytics and backtest: reports on signals and on replayed history.

Registered on the forex app by :mod:`promostack_cli.forex.cli`. The services return data
(:mod:`.reports`, :mod:`.metrics`, :mod:`.backtest`); these functions only print it.
"""

from pathlib import Path
from typing import List, Optional

import typer

from promostack_cli import context as ctx
from promostack_cli.forex.cli_common import CANDLES_HELP, NOW_HELP, parse_time, print_texts, setup

def briefing(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print it; send nothing"),
    candles: Optional[Path] = typer.Option(None, "--candles", help=CANDLES_HELP),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
) -> None:
    """The morning briefing: Asian range vs its average, where price sits, pivots from the previous day.

    forex tick posts it on weekdays at briefing_time. With the global --json: the text and the figures
    it was built from. Example: promostack -t entrylab forex briefing --dry-run
    """
    from promostack_cli.forex.reports import build_report, queue_report

    runtime, cfg, market, at = setup(candles, now)
    try:
        report = build_report(runtime, cfg, market, "forex_briefing", at.date().isoformat(), at)
        if not dry_run:
            queue_report(runtime, report, at)
    finally:
        runtime.close()
    _report_done(report, dry_run, "briefing")


def recap(
    weekly: bool = typer.Option(False, "--weekly", help="The week ending on --day (default: the last Sunday)"),
    day: Optional[str] = typer.Option(None, "--day", help="The day recapped (default: yesterday)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print it; send nothing"),
) -> None:
    """The daily recap (each signal of the day, result, pips, totals, win rate) or the weekly one.

    With the global --json: the text and the signals and totals it was built from.
    Example: promostack -t entrylab forex recap --dry-run
    """
    from datetime import timedelta

    from promostack_cli.core.clock import utcnow
    from promostack_cli.runtime import TenantRuntime
    from promostack_cli.forex.config import load
    from promostack_cli.forex.reports import build_report, queue_report

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    runtime = TenantRuntime(tenant.id, db=db)
    with db.session() as session:
        cfg = load(session, tenant.id)
    now = utcnow()
    chosen = parse_time(day, "--day")
    if weekly:
        target = chosen.date() if chosen else now.date() - timedelta(days=(now.weekday() + 1) % 7)
        kind = "forex_weekly_recap"
    else:
        target = chosen.date() if chosen else now.date() - timedelta(days=1)
        kind = "forex_daily_recap"
    try:
        report = build_report(runtime, cfg, None, kind, target.isoformat(), now)
        if not dry_run:
            queue_report(runtime, report, now)
    finally:
        runtime.close()
    _report_done(report, dry_run, "weekly recap" if weekly else "daily recap")


def _report_done(report, dry_run: bool, what: str) -> None:
    if ctx.want_json():
        ctx.emit_json({"kind": report.kind, "period": report.period, "queued": not dry_run, "text": report.text,
                       "data": report.data})
    elif dry_run:
        print_texts([report.text], f"{what} (dry run)")
    if not dry_run:
        ctx.success(f"The {what} is queued for the VIP channel. Deliver with: promostack scheduler tick")


def analytics(
    days: int = typer.Option(30, "--days", min=1, max=36500, help="Signals opened in the last N days"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the cumulative-pips curve to this PNG (.svg: SVG)"),
    csv: bool = typer.Option(False, "--csv", help="CSV on stdout: a row for all signals and one per strategy/timeframe"),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Performance of closed signals: win rate, pips, profit factor, expectancy, drawdown, hold time,
    TP hit rates; overall and by strategy and timeframe. Example: promostack -t entrylab forex analytics --days 90

    With no closed signals in the period, --plot writes no file and exits 1.
    """
    from promostack_cli.core.clock import utcnow
    from promostack_cli.forex.reports import closed_of
    from promostack_cli.forex.signals import signals_opened_since

    json_ = ctx.want_json_or_csv(json_, csv)
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        rows = signals_opened_since(session, tenant.id, days, utcnow())
    closed = closed_of(rows)
    _emit_metrics(closed, f"{tenant.slug}, last {days} days", json_, plot, open_count=sum(r.status == "open" for r in rows),
                  csv=csv)
    _no_plot(closed, plot, f"in the last {days} days")


def _emit_metrics(closed, title: str, json_: bool, plot: Optional[Path], open_count: int | None = None, extra: dict | None = None,
                  csv: bool = False) -> None:
    from promostack_cli.forex import metrics

    overall, groups = metrics.compute(closed), metrics.by_group(closed)
    if plot and closed:
        metrics.plot(closed, plot, f"Cumulative pips: {title}")
    if csv:
        ctx.emit_csv(*metrics.csv_rows(overall, groups))
    elif ctx.want_json(json_):
        ctx.emit_json({**(extra or {}), "overall": overall, "by_strategy_timeframe": groups,
                       **({"open": open_count} if open_count is not None else {})})
    else:
        columns, rows = metrics.rows(overall, groups)
        ctx.emit_table(f"Performance: {title}", columns, rows)
    if open_count and not json_:
        ctx.info(f"{open_count} signal(s) still open are not counted.")
    if plot and closed:
        ctx.success(f"Wrote {plot}.")


def _no_plot(closed, plot: Optional[Path], what: str) -> None:
    """--plot with nothing closed: no empty chart; one line and exit 1 (the file asked for is not there)."""
    if plot and not closed:
        raise ctx.fail(f"No closed signals {what}: nothing to plot, {plot} not written.", exit_code=1)


def backtest(
    candles: Path = typer.Option(..., "--candles", help="History as CSV (datetime, open, high, low, close)"),
    strategy: str = typer.Option("raja_banks", "--strategy", help="Strategy name or path/to/file.py:Class"),
    timeframe: Optional[str] = typer.Option(None, "--timeframe", help="Signal timeframe (default: the strategy's first)"),
    symbol: str = typer.Option("XAU/USD", "--symbol", help="Instrument (labels only)"),
    pip_size: float = typer.Option(0.1, "--pip-size", min=1e-8, help="Price units per pip (gold 0.1, EUR/USD 0.0001)"),
    from_: Optional[str] = typer.Option(None, "--from", help="First day or time that may open a signal (UTC)"),
    to: Optional[str] = typer.Option(None, "--to", help="End (exclusive) for opening signals (UTC)"),
    param: List[str] = typer.Option([], "--param", "-p", help="Strategy parameter NAME=VALUE (repeatable); default: the tenant's config when a tenant is selected (promostack -t SLUG forex backtest ...)"),
    trades: Optional[Path] = typer.Option(None, "--trades", help="Write every trade to this CSV"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the cumulative-pips curve to this PNG (.svg: SVG)"),
    naive: bool = typer.Option(False, "--naive", hidden=True, help="Call the strategy on the full history at every candle (slow; for checking)"),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Replay history through the same strategy code and the same monitor rules as live trading.

    Guardrails and expiry come from the tenant's config when a tenant is selected (promostack -t SLUG
    forex backtest ...), else the defaults.
    Example: promostack forex backtest --candles xauusd_15min.csv --timeframe 15min --trades trades.csv
    """
    from promostack_cli.forex.backtest import run_backtest, write_trades
    from promostack_cli.forex.candles import read_csv

    start, end = parse_time(from_, "--from"), parse_time(to, "--to")
    cfg = _config_or_defaults()
    run = run_backtest(cfg, read_csv(candles, note=ctx.info), strategy=strategy, timeframe=timeframe, symbol=symbol, pip_size=pip_size,
                       start=start, end=end, params=param, naive=naive, progress=ctx.progress)
    json_ = ctx.want_json(json_)
    written = write_trades(trades, run) if trades else None
    _emit_metrics(run.closed, run.title, json_, plot, open_count=run.open_count, extra=run.summary(with_trades=json_))
    if written is not None:
        ctx.success(f"Wrote {written} trade(s) to {trades}.")
    _no_plot(run.closed, plot, "in the backtest")


def _config_or_defaults():
    """The tenant's forex config with --tenant / PROMOSTACK_TENANT, else the defaults."""
    from promostack_cli.forex.config import load, resolve

    if not (ctx.options.tenant or ctx.settings().tenant):
        return resolve({})
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        return load(session, tenant.id)
