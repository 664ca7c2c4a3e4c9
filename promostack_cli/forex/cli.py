"""``promostack forex``: signals, their lifecycle, reports, analytics and backtests.

pandas, pandas-ta and matplotlib load inside the commands; ``promostack --help`` never imports them.
"""

from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from promostack_cli import context as ctx

app = typer.Typer(help="Forex signals: Twelve Data candles, strategies, signal lifecycle, briefings, recaps, analytics, backtests.",
                  no_args_is_help=True)
config_app = typer.Typer(help="The tenant's forex settings (symbol, strategy parameters, guardrails, schedule).", no_args_is_help=True)
app.add_typer(config_app, name="config")
signal_app = typer.Typer(help="One signal.", no_args_is_help=True)
app.add_typer(signal_app, name="signal")

CANDLES_HELP = "Offline: read candles from a CSV (datetime, open, high, low, close) instead of Twelve Data"
NOW_HELP = "Pretend it is this UTC time (replays, tests); default: now, or the end of --candles"


class Timeframe(str, Enum):
    m15 = "15min"
    h1 = "1h"


class SignalStatus(str, Enum):
    open = "open"
    closed = "closed"
    all = "all"


def _time(value: Optional[str], name: str) -> Optional[datetime]:
    if value is None:
        return None
    from datetime import UTC

    from promostack_cli.core.errors import ValidationError

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{name} '{value}' is not a date or time like 2025-03-01 or 2025-03-01T07:15.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _setup(candles: Optional[Path], now_opt: Optional[str]):
    """(runtime, config, market, now) for the current tenant."""
    from promostack_cli.core.clock import utcnow
    from promostack_cli.runtime import TenantRuntime
    from promostack_cli.forex.config import load
    from promostack_cli.forex.market import FileMarket, live_market

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    runtime = TenantRuntime(tenant.id, db=db)
    with db.session() as session:
        cfg = load(session, tenant.id)
    if candles:
        market = FileMarket.from_csv(candles)
        now = _time(now_opt, "--now") or market.end
    else:
        market = live_market(runtime, ctx.settings(), cfg.symbol)
        now = _time(now_opt, "--now") or utcnow()
    return runtime, cfg, market, now


def _print_texts(texts: list[str], heading: str) -> None:
    for text in texts:
        ctx.err.print(f"--- {heading} ---", style="cyan", markup=False)
        ctx.out.print(text, markup=False, highlight=False)


@app.command("strategies")
def strategies(json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """List the strategies: built-in, from installed packages (entry point group promostack.strategies).

    A file works too: --strategy path/to/file.py:ClassName. Example: promostack forex strategies
    """
    from promostack_cli.forex.strategy_loader import StrategyError, available, load_class

    rows = []
    for info in available():
        try:
            cls = load_class(info.name)
            rows.append({"name": info.name, "source": info.source, "timeframes": ",".join(cls.signal_timeframes),
                         "description": cls.description,
                         "parameters": {p.name: p.default for p in cls.parameters}})
        except StrategyError as exc:
            rows.append({"name": info.name, "source": info.source, "timeframes": "", "description": f"(broken) {exc}", "parameters": {}})
    if ctx.want_json(json_):
        ctx.emit_json(rows)
        return
    ctx.emit_table("Strategies", ["name", "source", "checked on", "description"],
                   [(r["name"], r["source"], r["timeframes"], r["description"]) for r in rows])


@app.command("check")
def check(
    timeframe: Timeframe = typer.Option(Timeframe.m15, "--timeframe", help="Candle timeframe to check"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the signal that would be posted; store and send nothing"),
    candles: Optional[Path] = typer.Option(None, "--candles", help=CANDLES_HELP),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="Strategy name or path/to/file.py:Class (default: config)"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Run the strategy on the newest closed candle; a new signal is stored and queued for the VIP channel.

    A repeated check of the same candle never posts twice. Example: promostack -t entrylab forex check --timeframe 15min
    """
    from promostack_cli.forex import service

    runtime, cfg, market, at = _setup(candles, now)
    try:
        chosen = cfg.strategy(strategy) if strategy else None
        out = service.check(runtime, cfg, market, timeframe.value, at, strategy=chosen, dry_run=dry_run,
                            live=candles is None and now is None)
    finally:
        runtime.close()
    if ctx.want_json(json_):
        ctx.emit_json({"status": out.status, "detail": out.detail, "timeframe": out.timeframe, "bar": out.bar_ts,
                       "signal": _signal_dict(out.signal) if out.signal else None, "text": out.text})
        return
    if out.text and dry_run:
        _print_texts([out.text], "would post to the VIP channel")
    ctx.info(f"{timeframe.value}: {out.status}: {out.detail}")


@app.command("monitor")
def monitor(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the updates that would be posted; change nothing"),
    candles: Optional[Path] = typer.Option(None, "--candles", help="Offline: 1min candles from a CSV"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Follow open signals with the 1min candles since the last check: TP/stop hits, expiry, guidance.

    A wick that touched a level between checks counts; when one candle reaches both the stop and a
    target, the stop is assumed first. Example: promostack -t entrylab forex monitor
    """
    from promostack_cli.forex import service

    runtime, cfg, market, at = _setup(candles, now)
    error = None
    try:
        outs = service.monitor(runtime, cfg, market, at, dry_run=dry_run)
    except service.MonitorIncomplete as exc:  # cached candles were applied; say so, then fail
        outs, error = exc.outcomes, exc
    finally:
        runtime.close()
    if ctx.want_json(json_):
        ctx.emit_json([{"signal": o.signal_id, "status": o.status, "events": [e.__dict__ for e in o.events]} for o in outs])
        return
    if dry_run:
        _print_texts([t for o in outs for t in o.texts], "would reply in the VIP channel")
    if not outs:
        ctx.info("No open signals.")
    for o in outs:
        ctx.info(f"signal #{o.signal_id}: {', '.join(e.kind for e in o.events) or 'no change'} ({o.status})")
    if error is not None:
        raise error


@app.command("tick")
def tick(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be posted; store and claim nothing"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
    json_: bool = typer.Option(False, "--json", help="JSON summary"),
) -> None:
    """Cron, every minute: monitor open signals, check each timeframe when its candle closes, post
    the briefing and recaps when due, each once per period across overlapping ticks.

    Without --tenant it serves every tenant with a signal bot. Example: * * * * * promostack forex tick
    """
    from promostack_cli.core.clock import utcnow
    from jobs.forex_tick import run

    db = ctx.open_db()
    tenant = ctx.current_tenant(db, required=False)
    report = run(db, ctx.settings(), _time(now, "--now") or utcnow(), box=None if dry_run else ctx.secret_box(), tenant_id=tenant.id if tenant else None, dry_run=dry_run)
    if ctx.want_json(json_):
        ctx.emit_json({"lines": report.lines, "errors": report.errors, "texts": report.texts if dry_run else []})
    elif dry_run:
        _print_texts(report.texts, "would post")
    for line in report.lines:
        ctx.info(line)
    if report.errors:
        raise ctx.fail("; ".join(report.errors[:3]) + (f" (+{len(report.errors) - 3} more)" if len(report.errors) > 3 else ""))


def _signal_dict(s) -> dict:
    keys = ("id", "strategy", "symbol", "timeframe", "direction", "bar_ts", "opened_at", "entry", "initial_stop", "stop",
            "targets", "close_percents", "pip_size", "status", "stage", "result", "pips", "closed_at", "close_price",
            "expires_at", "guidance", "indicators", "reason")
    return {k: getattr(s, k) for k in keys}


@app.command("signals")
def signals(
    status: SignalStatus = typer.Option(SignalStatus.all, "--status", help="open, closed or all"),
    limit: int = typer.Option(50, "--limit", min=1, max=100000, help="Newest N signals"),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """List signals, newest first. Example: promostack -t entrylab forex signals --status open"""
    from promostack_cli.forex.signals import list_signals

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        rows = list_signals(session, tenant.id, limit=limit,
                            status=None if status == SignalStatus.all else status.value)
    if ctx.want_json(json_):
        ctx.emit_json([_signal_dict(s) for s in rows])
        return
    ctx.emit_table(f"Signals of {tenant.slug}", ["id", "opened (UTC)", "signal", "entry", "stop", "TP1/TP2/TP3", "status", "pips"],
                   [(s.id, f"{s.opened_at:%Y-%m-%d %H:%M}", f"{s.direction} {s.symbol} {s.timeframe}", s.entry, s.stop,
                     " / ".join(str(t) for t in s.targets),
                     s.status if s.status == "open" else f"{s.result} (TP{s.stage})" if s.stage else s.result,
                     f"{s.pips:+.1f}") for s in rows], empty="No signals.")


@signal_app.command("show")
def signal_show(
    signal_id: int = typer.Argument(..., help="Signal id"),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Show one signal with its events. Example: promostack -t entrylab forex signal show 12"""
    from promostack_cli.forex.signals import signal_with_events

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        s, events = signal_with_events(session, tenant.id, signal_id, tenant.slug)
    data = _signal_dict(s)
    data["events"] = [{"kind": e.kind, "at": e.at, "price": e.price, "pips": e.pips, "data": e.data} for e in events]
    if ctx.want_json(json_):
        ctx.emit_json(data)
        return
    ctx.emit_table(f"Signal {signal_id}", ["field", "value"], [(k, v) for k, v in data.items() if k != "events"])
    ctx.emit_table("Events", ["at (UTC)", "event", "price", "pips"],
                   [(f"{e['at']:%Y-%m-%d %H:%M}", e["kind"], e["price"], "" if e["pips"] is None else f"{e['pips']:+.1f}")
                    for e in data["events"]], empty="No events.")


@config_app.command("show")
def config_show(json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Every key with its value and whether it was set or is the default.

    Example: promostack -t entrylab forex config show
    """
    from promostack_cli.forex.config import describe, load

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        cfg = load(session, tenant.id)
    rows = describe(cfg)
    if ctx.want_json(json_):
        ctx.emit_json({k: v for k, v, _, _ in rows})
        return
    ctx.emit_table(f"Forex config of {tenant.slug}", ["key", "value", "", "meaning"], rows)


@config_app.command("set")
def config_set(pairs: List[str] = typer.Argument(..., metavar="KEY VALUE [KEY VALUE...]",
                                                 help="Keys and values; several are validated together")) -> None:
    """Set keys (validated: ranges, session hours, TP percentages summing to 100). Nothing is written on error.

    Example: promostack -t entrylab forex config set raja_banks.tp1_percent 60 raja_banks.tp2_percent 20
    """
    from promostack_cli.core.clock import utcnow
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.forex.config import update

    if len(pairs) % 2:
        raise ValidationError("Give keys and values in pairs: forex config set KEY VALUE [KEY VALUE...]")
    changes = dict(zip(pairs[::2], pairs[1::2]))
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        update(session, tenant.id, changes, utcnow())
    ctx.success("Set " + ", ".join(f"{k} = {v}" for k, v in changes.items()) + f" for {tenant.slug}.")


@config_app.command("unset")
def config_unset(keys: List[str] = typer.Argument(..., help="Keys back to their defaults")) -> None:
    """Return keys to their defaults. Example: promostack -t entrylab forex config unset expiry_hours"""
    from promostack_cli.core.clock import utcnow
    from promostack_cli.forex.config import update

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        update(session, tenant.id, {k: None for k in keys}, utcnow())
    ctx.success(f"Unset {', '.join(keys)} for {tenant.slug}.")


@app.command("briefing")
def briefing(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print it; send nothing"),
    candles: Optional[Path] = typer.Option(None, "--candles", help=CANDLES_HELP),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
) -> None:
    """The morning briefing: Asian range vs its average, where price sits, pivots from the previous day.

    forex tick posts it on weekdays at briefing_time. Example: promostack -t entrylab forex briefing --dry-run
    """
    from promostack_cli.forex.reports import post_report

    runtime, cfg, market, at = _setup(candles, now)
    try:
        text = post_report(runtime, cfg, market, "forex_briefing", at.date().isoformat(), at, dry_run=dry_run)
    finally:
        runtime.close()
    _report_done(text, dry_run, "briefing")


@app.command("recap")
def recap(
    weekly: bool = typer.Option(False, "--weekly", help="The week ending on --day (default: the last Sunday)"),
    day: Optional[str] = typer.Option(None, "--day", help="The day recapped (default: yesterday)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print it; send nothing"),
) -> None:
    """The daily recap (each signal of the day, result, pips, totals, win rate) or the weekly one.

    Example: promostack -t entrylab forex recap --dry-run
    """
    from datetime import timedelta

    from promostack_cli.core.clock import utcnow
    from promostack_cli.runtime import TenantRuntime
    from promostack_cli.forex.config import load
    from promostack_cli.forex.reports import post_report

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    runtime = TenantRuntime(tenant.id, db=db)
    with db.session() as session:
        cfg = load(session, tenant.id)
    now = utcnow()
    chosen = _time(day, "--day")
    if weekly:
        target = chosen.date() if chosen else now.date() - timedelta(days=(now.weekday() + 1) % 7)
        kind = "forex_weekly_recap"
    else:
        target = chosen.date() if chosen else now.date() - timedelta(days=1)
        kind = "forex_daily_recap"
    text = post_report(runtime, cfg, None, kind, target.isoformat(), now, dry_run=dry_run)
    _report_done(text, dry_run, "weekly recap" if weekly else "daily recap")


def _report_done(text: str, dry_run: bool, what: str) -> None:
    if dry_run:
        _print_texts([text], f"{what} (dry run)")
    else:
        ctx.success(f"The {what} is queued for the VIP channel. Deliver with: promostack scheduler tick")


@app.command("analytics")
def analytics(
    days: int = typer.Option(30, "--days", min=1, max=36500, help="Signals opened in the last N days"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the cumulative-pips curve to this PNG"),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Performance of closed signals: win rate, pips, profit factor, expectancy, drawdown, hold time,
    TP hit rates; overall and by strategy and timeframe. Example: promostack -t entrylab forex analytics --days 90
    """
    from promostack_cli.core.clock import utcnow
    from promostack_cli.forex.reports import closed_of
    from promostack_cli.forex.signals import signals_opened_since

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        rows = signals_opened_since(session, tenant.id, days, utcnow())
    closed = closed_of(rows)
    _emit_metrics(closed, f"{tenant.slug}, last {days} days", json_, plot, open_count=sum(r.status == "open" for r in rows))


def _emit_metrics(closed, title: str, json_: bool, plot: Optional[Path], open_count: int | None = None, extra: dict | None = None) -> None:
    from promostack_cli.forex import metrics

    overall, groups = metrics.compute(closed), metrics.by_group(closed)
    if plot:
        metrics.plot(closed, plot, f"Cumulative pips: {title}")
    if ctx.want_json(json_):
        ctx.emit_json({**(extra or {}), "overall": overall, "by_strategy_timeframe": groups,
                       **({"open": open_count} if open_count is not None else {})})
    else:
        columns, rows = metrics.rows(overall, groups)
        ctx.emit_table(f"Performance: {title}", columns, rows)
        if open_count:
            ctx.info(f"{open_count} signal(s) still open are not counted.")
    if plot:
        ctx.success(f"Wrote {plot}.")


@app.command("backtest")
def backtest(
    candles: Path = typer.Option(..., "--candles", help="History as CSV (datetime, open, high, low, close)"),
    strategy: str = typer.Option("raja_banks", "--strategy", help="Strategy name or path/to/file.py:Class"),
    timeframe: Optional[str] = typer.Option(None, "--timeframe", help="Signal timeframe (default: the strategy's first)"),
    symbol: str = typer.Option("XAU/USD", "--symbol", help="Instrument (labels only)"),
    pip_size: float = typer.Option(0.1, "--pip-size", min=1e-8, help="Price units per pip (gold 0.1, EUR/USD 0.0001)"),
    from_: Optional[str] = typer.Option(None, "--from", help="First day or time that may open a signal (UTC)"),
    to: Optional[str] = typer.Option(None, "--to", help="End (exclusive) for opening signals (UTC)"),
    param: List[str] = typer.Option([], "--param", "-p", help="Strategy parameter NAME=VALUE (repeatable); default: the tenant's config when --tenant is given"),
    trades: Optional[Path] = typer.Option(None, "--trades", help="Write every trade to this CSV"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the cumulative-pips curve to this PNG"),
    naive: bool = typer.Option(False, "--naive", hidden=True, help="Call the strategy on the full history at every candle (slow; for checking)"),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Replay history through the same strategy code and the same monitor rules as live trading.

    Guardrails and expiry come from the tenant's config with --tenant, else the defaults.
    Example: promostack forex backtest --candles xauusd_15min.csv --timeframe 15min --trades trades.csv
    """
    from promostack_cli.forex.backtest import run_backtest

    run_backtest(candles=candles, strategy=strategy, timeframe=timeframe, symbol=symbol, pip_size=pip_size,
                 start=_time(from_, "--from"), end=_time(to, "--to"), params=param, trades_csv=trades,
                 plot=plot, naive=naive, json_=ctx.want_json(json_), emit=_emit_metrics)


@app.command("templates")
def templates(directory: Path = typer.Argument(..., help="Where to write the built-in templates")) -> None:
    """Copy the built-in message templates to DIRECTORY to edit them; then: forex config set templates_dir DIRECTORY.

    Existing files are not overwritten. Example: promostack forex templates ./forex-templates
    """
    import shutil

    from promostack_cli.forex.messages import BUILTIN_DIR, TEMPLATES

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TEMPLATES:
        target = directory / name
        if not target.exists():
            shutil.copyfile(BUILTIN_DIR / name, target)
            written.append(name)
    ctx.success(f"Wrote {', '.join(written) or 'nothing (all files exist)'} in {directory}.")
