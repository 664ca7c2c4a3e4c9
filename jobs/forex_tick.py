"""``promostack forex tick`` (cron, every minute), per tenant with a signal bot:

1. the monitor, when signals are open;
2. each configured timeframe's check once its candle has closed (and the strategy can signal on
   it), once per candle;
3. the morning briefing (weekdays), the daily recap (after weekdays) and the weekly recap (Sundays)
   when due, once per period.

Each step of each tenant is isolated: an error (a strategy that raises, credits spent) is reported
and the rest goes on. Runs are claimed in ``job_runs``, so overlapping ticks on any number of
machines do each period once; a failed run is retried by the next ticks (three attempts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import logging

from promostack_cli.core import jobruns
from promostack_cli.core.errors import PromoStackError
from promostack_cli.forex.market import prune
from promostack_cli.forex.reports import post_report

log = logging.getLogger(__name__)

LATE = {"forex_briefing": timedelta(hours=3), "forex_daily_recap": timedelta(hours=6), "forex_weekly_recap": timedelta(hours=6)}


@dataclass
class TickReport:
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # dry-run: what would be posted


def tenants_with_signal_bot(db, tenant_id: int | None = None):
    from promostack_cli.tenants.service import tenants_with_bot

    with db.session() as session:
        return tenants_with_bot(session, "signal_bot", tenant_id)


def _due(kind: str, now: datetime, at_minutes: int) -> bool:
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(minutes=at_minutes)
    return start <= now < start + LATE[kind]


def run(db, settings, now: datetime, *, box=None, tenant_id: int | None = None, dry_run: bool = False,
        market_for=None) -> TickReport:
    from promostack_cli.forex.config import load as load_config

    from promostack_cli.runtime import TenantRuntime

    report = TickReport()
    for tenant in tenants_with_signal_bot(db, tenant_id):
        runtime = TenantRuntime(tenant.id, settings=settings, db=db, box=box)
        try:
            try:
                with db.session() as session:
                    cfg = load_config(session, tenant.id)
            except Exception as exc:  # noqa: BLE001 - one tenant's problem never stops the others
                report.errors.append(f"{tenant.slug}: forex config: {_one_line(exc)}")
                continue
            try:
                market = (market_for or _live_market)(runtime, settings, cfg)
            except PromoStackError as exc:
                market = _Unavailable(str(exc))  # recaps need no candles; what does reports this
            for name, step in (("monitor", _monitor), ("checks", _checks), ("reports", _reports)):
                try:
                    step(runtime, tenant, cfg, market, now, dry_run, report)
                except Exception as exc:  # noqa: BLE001
                    if not isinstance(exc, PromoStackError):
                        log.exception("forex tick: %s: %s failed", tenant.slug, name)
                    report.errors.append(f"{tenant.slug}: {name}: {_one_line(exc)}")
            if not dry_run:
                with db.transaction() as session:
                    prune(session, tenant.id, now)
        finally:
            runtime.close()
    return report


def _one_line(exc: Exception) -> str:
    if isinstance(exc, PromoStackError):
        return str(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"unexpected {type(exc).__name__}: {text}".rstrip(": ")


class _Unavailable:
    """Stands in for the market when it cannot be built (no API key): any use says why."""

    def __init__(self, why: str):
        self.why = why

    def __getattr__(self, name):
        from promostack_cli.core.errors import ValidationError

        raise ValidationError(self.why)


def _live_market(runtime, settings, cfg):
    from promostack_cli.forex.market import live_market

    return live_market(runtime, settings, cfg.symbol)


def _monitor(runtime, tenant, cfg, market, now, dry_run, report) -> None:
    from promostack_cli.forex.service import MonitorIncomplete, monitor

    if (now.hour * 60 + now.minute) % cfg.monitor_every_minutes:
        return  # every 1min candle is applied at the next run: a slower monitor only posts later
    try:
        outs, error = monitor(runtime, cfg, market, now, dry_run=dry_run), None
    except MonitorIncomplete as exc:
        outs, error = exc.outcomes, exc
    for out in outs:
        if out.events:
            report.lines.append(f"{tenant.slug}: signal #{out.signal_id}: {', '.join(e.kind for e in out.events)}")
            report.texts.extend(out.texts)
    if error is not None:
        raise error


def _checks(runtime, tenant, cfg, market, now, dry_run, report) -> None:
    from promostack_cli.forex.intervals import INTERVAL_SECONDS
    from promostack_cli.forex.service import check

    from promostack_cli.forex.strategy_loader import run_guarded

    strategy = cfg.strategy()
    for tf in cfg.timeframe_list:
        secs = INTERVAL_SECONDS[tf]
        bar_open = datetime.fromtimestamp((int(now.timestamp()) // secs - 1) * secs, now.tzinfo)
        if not run_guarded(strategy, strategy.active, tf, bar_open):
            continue
        period = f"{tf}@{bar_open:%Y-%m-%dT%H:%M}"
        # a candle late at Twelve Data ("stale") is retried by the next ticks for up to 10 minutes
        if not dry_run and not jobruns.claim(runtime.db, tenant.id, "forex_check", period, now=now, max_attempts=10):
            continue
        ok, detail = False, ""
        try:
            out = check(runtime, cfg, market, tf, now, strategy=strategy, dry_run=dry_run)
            ok = out.status != "stale"  # the candle is not at Twelve Data yet: the next tick retries
            detail = f"{out.status}: {out.detail}"
            report.lines.append(f"{tenant.slug}: check {tf}: {detail}")
            if out.text:
                report.texts.append(out.text)
        except PromoStackError as exc:
            detail = str(exc)
            raise
        finally:
            if not dry_run:
                jobruns.finish(runtime.db, tenant.id, "forex_check", period, ok=ok, now=now, detail=detail)


def _reports(runtime, tenant, cfg, market, now, dry_run, report) -> None:
    from promostack_cli.forex.config import parse_hhmm

    weekday = now.weekday()
    due = []
    if weekday < 5 and _due("forex_briefing", now, parse_hhmm("briefing_time", cfg.briefing_time)):
        due.append(("forex_briefing", now.date().isoformat()))
    if 1 <= weekday <= 5 and _due("forex_daily_recap", now, parse_hhmm("daily_recap_time", cfg.daily_recap_time)):
        due.append(("forex_daily_recap", (now.date() - timedelta(days=1)).isoformat()))
    if weekday == 6 and _due("forex_weekly_recap", now, parse_hhmm("weekly_recap_time", cfg.weekly_recap_time)):
        due.append(("forex_weekly_recap", now.date().isoformat()))
    failed: list[PromoStackError] = []
    for kind, period in due:  # each on its own: a briefing without candles does not hold back the recap
        if not dry_run and not jobruns.claim(runtime.db, tenant.id, kind, period, now=now):
            continue
        ok, detail = False, ""
        try:
            text = post_report(runtime, cfg, market, kind, period, now, dry_run=dry_run)
            ok, detail = True, "posted" if not dry_run else "dry run"
            report.lines.append(f"{tenant.slug}: {kind.removeprefix('forex_').replace('_', ' ')} for {period}: {detail}")
            report.texts.append(text)
        except PromoStackError as exc:
            detail = str(exc)
            failed.append(exc)
        finally:
            if not dry_run:
                jobruns.finish(runtime.db, tenant.id, kind, period, ok=ok, now=now, detail=detail)
    for exc in failed[1:]:
        report.errors.append(f"{tenant.slug}: reports: {_one_line(exc)}")
    if failed:
        raise failed[0]


