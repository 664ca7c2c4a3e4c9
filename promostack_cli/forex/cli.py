"""``promostack forex``: signals, their lifecycle, reports, analytics and backtests.

pandas, pandas-ta and matplotlib load inside the commands; ``promostack --help`` never imports them.
"""

from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from promostack_cli import context as ctx
from promostack_cli.forex.domain import DOMAIN
from promostack_cli.forex import cli_reports
from promostack_cli.forex.cli_common import CANDLES_HELP, NOW_HELP, parse_time, print_texts, setup

app = typer.Typer(help=DOMAIN.commands[0].help,
                  no_args_is_help=True)
config_app = typer.Typer(help="The tenant's forex settings (symbol, strategy parameters, guardrails, schedule).", no_args_is_help=True)
app.add_typer(config_app, name="config")
signal_app = typer.Typer(help="One signal.", no_args_is_help=True)
app.add_typer(signal_app, name="signal")

def signal_dict(s) -> dict:
    from promostack_cli.forex.signals import signal_dict as as_dict

    return as_dict(s)


class Timeframe(str, Enum):
    m15 = "15min"
    h1 = "1h"


class SignalStatus(str, Enum):
    open = "open"
    closed = "closed"
    all = "all"


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
    timeframe: Optional[Timeframe] = typer.Option(None, "--timeframe", help="Candle timeframe to check (default: each of the config's timeframes)",
                                                  show_default=False),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the signal that would be posted; store and send nothing"),
    candles: Optional[Path] = typer.Option(None, "--candles", help=CANDLES_HELP),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="Strategy name or path/to/file.py:Class (default: config)"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
    json_: bool = typer.Option(False, "--json", help="JSON output: a list, one object per timeframe checked"),
) -> None:
    """Run the strategy on the newest closed candle of each timeframe (--timeframe, else the config's
    timeframes the strategy signals on); a new signal is stored and queued for the VIP channel.

    A repeated check of the same candle never posts twice. Example: promostack -t entrylab forex check --timeframe 15min
    """
    from promostack_cli.forex import service

    runtime, cfg, market, at = setup(candles, now)
    outs = []
    try:
        chosen = cfg.strategy(strategy) if strategy else None
        for tf in _timeframes_to_check(timeframe, cfg, chosen):
            outs.append(service.check(runtime, cfg, market, tf, at, strategy=chosen, dry_run=dry_run,
                                      live=candles is None and now is None))
    finally:
        runtime.close()
    if ctx.want_json(json_):
        ctx.emit_json([{"status": out.status, "detail": out.detail, "timeframe": out.timeframe, "bar": out.bar_ts,
                        "signal": signal_dict(out.signal) if out.signal else None, "text": out.text} for out in outs])
        return
    for out in outs:
        if out.text and dry_run:
            print_texts([out.text], "would post to the VIP channel")
        ctx.info(f"{out.timeframe}: {out.status}: {out.detail}")


def _timeframes_to_check(timeframe: Optional[Timeframe], cfg, strategy) -> list[str]:
    """--timeframe; else the configured timeframes (those a --strategy signals on, or its first)."""
    if timeframe is not None:
        return [timeframe.value]
    if strategy is None:
        return cfg.timeframe_list
    return [t for t in cfg.timeframe_list if t in strategy.signal_timeframes] or list(strategy.signal_timeframes[:1])


@app.command("monitor")
def monitor(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the updates that would be posted; change nothing"),
    candles: Optional[Path] = typer.Option(None, "--candles", help="Offline: candles from a CSV (1min as live; coarser ones are applied whole, stop first)"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Follow open signals with the 1min candles since the last check: TP/stop hits, expiry, guidance.

    A wick that touched a level between checks counts; when one candle reaches both the stop and a
    target, the stop is assumed first. Example: promostack -t entrylab forex monitor
    """
    from promostack_cli.forex import service

    runtime, cfg, market, at = setup(candles, now)
    if candles and market.interval != "1min":
        ctx.info(f"{market.interval} candles: each is applied whole (a candle that reaches the stop and a "
                 "target counts as the stop), as in a backtest; live monitoring uses 1min candles.")
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
        print_texts([t for o in outs for t in o.texts], "would reply in the VIP channel")
    if not outs:
        ctx.info("No open signals.")
    for o in outs:
        ctx.info(f"signal #{o.signal_id}: {', '.join(e.kind for e in o.events) or 'no change'} ({o.status})")
    if error is not None:
        raise error


@app.command("tick")
def tick(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be posted; store and claim nothing"),
    now: Optional[str] = typer.Option(None, "--now", help="Pretend it is this UTC time (replays, tests); default: now"),
    json_: bool = typer.Option(False, "--json", help="JSON summary"),
) -> None:
    """Cron, every minute: monitor open signals, check each timeframe when its candle closes, post
    the briefing and recaps when due, each once per period across overlapping ticks.

    It serves every tenant with a signal bot, or only the one selected before the command
    (promostack -t entrylab forex tick). One tenant's error does not stop the others; each is
    printed on its own line and the exit code is 1. Cron line:

    \b
    * * * * * promostack forex tick
    """
    from promostack_cli.forex.steps import tick as forex_tick
    from promostack_cli.logsetup import stamp_lines

    stamp_lines()  # a cron log: every line starts with the time
    db = ctx.open_db()
    tenant = ctx.current_tenant(db, required=False)
    report = forex_tick(db, ctx.settings(), parse_time(now, "--now"), box=None if dry_run else ctx.secret_box(),
                        tenant_id=tenant.id if tenant else None, dry_run=dry_run)
    errors = by_tenant(report.errors)
    if ctx.want_json(json_):
        ctx.emit_json({"lines": report.details, "errors": errors, "texts": report.texts if dry_run else []})
    elif dry_run:
        print_texts(report.texts, "would post")
    for line in report.details:
        ctx.info(line)
    if errors:
        for error in errors:  # every tenant's, one a line, the way the CLI prints an error
            ctx.error(error)
        raise typer.Exit(1)


def by_tenant(errors: list[str]) -> list[str]:
    """``<tenant>: <step>: <error>`` lines grouped by tenant (in the order tenants first appear)."""
    order: dict[str, int] = {}
    for error in errors:
        order.setdefault(error.split(":", 1)[0], len(order))
    return sorted(errors, key=lambda e: order[e.split(":", 1)[0]])


@app.command("signals")
def signals(
    status: SignalStatus = typer.Option(SignalStatus.all, "--status", help="open, closed or all"),
    limit: int = typer.Option(50, "--limit", min=1, max=100000, help="Newest N signals"),
    csv: bool = typer.Option(False, "--csv", help="CSV on stdout: every field, unrounded, times in ISO 8601 UTC"),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """List signals, newest first. Example: promostack -t entrylab forex signals --status open"""
    from promostack_cli.forex.signals import list_signals, signal_csv

    json_ = ctx.want_json_or_csv(json_, csv)
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        rows = list_signals(session, tenant.id, limit=limit,
                            status=None if status == SignalStatus.all else status.value)
    if csv:
        ctx.emit_csv(*signal_csv(rows))
        return
    if json_:
        ctx.emit_json([signal_dict(s) for s in rows])
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
    data = signal_dict(s)
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


@config_app.command("set", context_settings={"ignore_unknown_options": True})  # KEY -3
def config_set(pairs: List[str] = typer.Argument(..., metavar="KEY VALUE [KEY VALUE...]",
                                                 help="Keys and values; several are validated together")) -> None:
    """Set keys (validated: ranges, session hours, TP percentages summing to 100). Nothing is written on error.

    templates_dir must be an existing directory whose templates compile; it is stored as an absolute
    path. With the global --json: the resulting config, as config show --json prints it.
    Example: promostack -t entrylab forex config set raja_banks.tp1_percent 60 raja_banks.tp2_percent 20
    """
    import os

    from promostack_cli.core.clock import utcnow
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.forex.config import load, pip_size_warning, update

    if len(pairs) % 2:
        raise ValidationError("Give keys and values in pairs: forex config set KEY VALUE [KEY VALUE...]")
    changes = dict(zip(pairs[::2], pairs[1::2]))
    if changes.get("templates_dir"):  # relative to where it was typed, not to wherever cron runs
        changes["templates_dir"] = os.path.abspath(os.path.expanduser(changes["templates_dir"]))
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        before = load(session, tenant.id)
        cfg = update(session, tenant.id, changes, utcnow())
    warning = pip_size_warning(before, cfg, changes)
    if warning:
        ctx.warn(warning.replace("forex config set", f"promostack -t {tenant.slug} forex config set"))
    _config_done(cfg, "Set " + ", ".join(f"{k} = {v}" for k, v in changes.items()) + f" for {tenant.slug}.")


@config_app.command("unset")
def config_unset(keys: List[str] = typer.Argument(..., help="Keys back to their defaults")) -> None:
    """Return keys to their defaults. With the global --json: the resulting config.

    Example: promostack -t entrylab forex config unset expiry_hours
    """
    from promostack_cli.core.clock import utcnow
    from promostack_cli.forex.config import update

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        cfg = update(session, tenant.id, {k: None for k in keys}, utcnow())
    _config_done(cfg, f"Unset {', '.join(keys)} for {tenant.slug}.")


def _config_done(cfg, message: str) -> None:
    from promostack_cli.forex.config import describe

    if ctx.want_json():
        ctx.emit_json({k: v for k, v, _, _ in describe(cfg)})
    ctx.success(message)


app.command("briefing")(cli_reports.briefing)
app.command("recap")(cli_reports.recap)
app.command("analytics")(cli_reports.analytics)
app.command("backtest")(cli_reports.backtest)


@app.command("templates")
def templates(directory: Path = typer.Argument(..., help="Where to write the built-in templates")) -> None:
    """Copy the built-in message templates to DIRECTORY to edit them; then: forex config set templates_dir DIRECTORY.

    Existing files are not overwritten. With the global --json: each template, its path and whether
    it was written. Example: promostack forex templates ./forex-templates
    """
    import shutil

    from promostack_cli.core.errors import ValidationError
    from promostack_cli.forex.messages import BUILTIN_DIR, TEMPLATES

    if directory.exists() and not directory.is_dir():
        raise ValidationError(f"{directory} is a file, not a directory.")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TEMPLATES:
        target = directory / name
        if not target.exists():
            shutil.copyfile(BUILTIN_DIR / name, target)
            written.append(name)
    if ctx.want_json():
        ctx.emit_json([{"name": name, "path": str((directory / name).absolute()), "written": name in written}
                       for name in TEMPLATES])
    ctx.success(f"Wrote {', '.join(written) or 'nothing (all files exist)'} in {directory}.")
