"""``promostack forex tick`` (cron, every minute): the forex group's steps, per tenant with a signal bot.

1. ``forex.monitor``: open signals, every ``monitor_every_minutes``;
2. ``forex.checks``: each configured timeframe's newest closed candle, once per candle (and only
   where the strategy is active);
3. ``forex.reports``: the morning briefing (weekdays), the daily recap (after weekdays) and the
   weekly recap (Sundays) when due, once per period;
4. ``forex.prune``: 1min candles the monitor no longer needs.

What is due is decided by :mod:`.due` (the same functions the idle checks ask). Each tenant is
isolated: an error (a strategy that raises, credits spent) is reported as ``<tenant>: <step>:
<error>`` and the rest goes on. Runs are claimed in ``job_runs``, so overlapping ticks on any
number of machines do each period once; a failed run is retried by the next ticks.
"""

from __future__ import annotations

import logging
from datetime import datetime

from promostack_cli.core.errors import PromoStackError

log = logging.getLogger(__name__)


def one_line(exc: Exception) -> str:
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


class _PerTenant:
    """A forex step: its part of the work for every tenant with a signal bot, one at a time."""

    name = part = ""

    def __init__(self, context):
        self.context = context

    def __call__(self, now: datetime, deadline: datetime) -> dict:
        from promostack_cli.connections.lookup import tenants_with_bot
        from promostack_cli.forex.config import load as load_config
        from promostack_cli.runtime import TenantRuntime

        c = self.context
        out: dict = {"lines": [], "errors": [], "texts": [], self.count_key: 0}
        with c.db.session() as session:
            tenants = tenants_with_bot(session, "signal_bot", c.tenant_id)
        for tenant in tenants:
            runtime = TenantRuntime(tenant.id, settings=c.settings, db=c.db, box=c.box)
            try:
                try:
                    with c.db.session() as session:
                        cfg = load_config(session, tenant.id)
                except Exception as exc:  # noqa: BLE001 - one tenant's problem never stops the others
                    out["errors"].append(f"{tenant.slug}: forex config: {one_line(exc)}")
                    continue
                try:
                    self.run(runtime, tenant, cfg, self._market(runtime, cfg), now, out)
                except Exception as exc:  # noqa: BLE001
                    if not isinstance(exc, PromoStackError):
                        log.exception("forex tick: %s: %s failed", tenant.slug, self.part)
                    out["errors"].append(f"{tenant.slug}: {self.part}: {one_line(exc)}")
            finally:
                runtime.close()
        return out

    def _market(self, runtime, cfg):
        market_for = self.context.options.get("market_for")
        if market_for is not None:
            return market_for(runtime, self.context.settings, cfg)
        from promostack_cli.forex.market import live_market

        try:
            return live_market(runtime, self.context.settings, cfg.symbol)
        except PromoStackError as exc:
            return _Unavailable(str(exc))  # recaps need no candles; what does reports this

    count_key = "done"

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.count_key,)

    def run(self, runtime, tenant, cfg, market, now, out) -> None:
        raise NotImplementedError

    def describe(self, counts: dict) -> str:
        return f"{counts.get(self.count_key, 0)} {self.noun}"

    noun = ""

    def close(self) -> None:
        pass


class MonitorStep(_PerTenant):
    name, part, count_key, noun = "forex.monitor", "monitor", "signal_events", "signal event(s)"

    def run(self, runtime, tenant, cfg, market, now, out) -> None:
        from promostack_cli.forex.due import monitor_minute
        from promostack_cli.forex.service import MonitorIncomplete, monitor

        if not monitor_minute(cfg.stored, now):
            return
        try:
            outcomes, error = monitor(runtime, cfg, market, now, dry_run=self.context.dry_run), None
        except MonitorIncomplete as exc:
            outcomes, error = exc.outcomes, exc
        for o in outcomes:
            if o.events:
                out["lines"].append(f"{tenant.slug}: signal #{o.signal_id}: {', '.join(e.kind for e in o.events)}")
                out["texts"].extend(o.texts)
                out[self.count_key] += len(o.events)
        if error is not None:
            raise error


class ChecksStep(_PerTenant):
    name, part, count_key, noun = "forex.checks", "checks", "checks", "candle check(s)"

    def run(self, runtime, tenant, cfg, market, now, out) -> None:
        from promostack_cli.forex.due import CHECK_ATTEMPTS, check_periods
        from promostack_cli.forex.service import check
        from promostack_cli.forex.strategy_loader import run_guarded
        from promostack_cli.scheduler import jobruns

        dry_run, strategy = self.context.dry_run, cfg.strategy()
        for tf, bar_open, period in check_periods(cfg.stored, now):
            if not run_guarded(strategy, strategy.active, tf, bar_open):
                continue
            if not dry_run and not jobruns.claim(runtime.db, tenant.id, "forex_check", period, now=now,
                                                 max_attempts=CHECK_ATTEMPTS):
                continue
            ok, detail = False, ""
            try:
                outcome = check(runtime, cfg, market, tf, now, strategy=strategy, dry_run=dry_run)
                ok = outcome.status != "stale"  # the candle is not at Twelve Data yet: the next tick retries
                detail = f"{outcome.status}: {outcome.detail}"
                out["lines"].append(f"{tenant.slug}: check {tf}: {detail}")
                out[self.count_key] += 1
                if outcome.text:
                    out["texts"].append(outcome.text)
            except PromoStackError as exc:
                detail = str(exc)
                raise
            finally:
                if not dry_run:
                    jobruns.finish(runtime.db, tenant.id, "forex_check", period, ok=ok, now=now, detail=detail)


class ReportsStep(_PerTenant):
    name, part, count_key, noun = "forex.reports", "reports", "reports", "report(s)"

    def run(self, runtime, tenant, cfg, market, now, out) -> None:
        from promostack_cli.forex.due import REPORT_ATTEMPTS, due_reports
        from promostack_cli.forex.reports import post_report
        from promostack_cli.scheduler import jobruns

        dry_run, failed = self.context.dry_run, []
        for kind, period in due_reports(cfg.stored, now):  # each on its own: a briefing without candles
            if not dry_run and not jobruns.claim(runtime.db, tenant.id, kind, period, now=now,  # holds back no recap
                                                 max_attempts=REPORT_ATTEMPTS):
                continue
            ok, detail = False, ""
            try:
                text = post_report(runtime, cfg, market, kind, period, now, dry_run=dry_run)
                ok, detail = True, "posted" if not dry_run else "dry run"
                out["lines"].append(f"{tenant.slug}: {kind.removeprefix('forex_').replace('_', ' ')} for {period}: {detail}")
                out["texts"].append(text)
                out[self.count_key] += 1
            except PromoStackError as exc:
                detail = str(exc)
                failed.append(exc)
            finally:
                if not dry_run:
                    jobruns.finish(runtime.db, tenant.id, kind, period, ok=ok, now=now, detail=detail)
        for exc in failed[1:]:
            out["errors"].append(f"{tenant.slug}: reports: {one_line(exc)}")
        if failed:
            raise failed[0]


class PruneStep:
    """Delete 1min candles older than the monitor can need, every tenant at once (not on a dry run)."""

    name = "forex.prune"
    keys = ("candles_pruned",)

    def __init__(self, context):
        self.context = context

    def __call__(self, now: datetime, deadline: datetime) -> dict:
        from promostack_cli.forex.market import prune

        if self.context.dry_run:
            return {}
        with self.context.db.transaction() as session:
            return {"candles_pruned": prune(session, now, self.context.tenant_id)}

    def describe(self, counts: dict) -> str:
        return f"{counts.get('candles_pruned', 0)} old 1min candle(s) deleted"

    def close(self) -> None:
        pass


def tick(db, settings, now: datetime | None = None, *, box=None, tenant_id: int | None = None, dry_run: bool = False,
         market_for=None):
    """The forex group once (``forex tick``): a :class:`jobs.runner.TickReport` whose ``details`` are
    the lines above, ``errors`` each tenant's errors and ``texts`` what was (or would be) posted."""
    from jobs.runner import run
    from jobs.steps import TickContext
    from jobs.tick import make_steps
    from promostack_cli.core.clock import shifted
    from promostack_cli.forex.domain import FOREX

    context = TickContext(db=db, box=box, settings=settings, dry_run=dry_run, tenant_id=tenant_id,
                          clock=shifted(now) if now else None, options={"market_for": market_for})
    return run(context, lambda: make_steps(context, FOREX), budget=TICK_BUDGET)


TICK_BUDGET = 55.0  # seconds: one tick's deadline (forex steps do one pass; nothing loops until it)
