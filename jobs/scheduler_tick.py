"""``promostack scheduler tick``: the cron-driven job that does all due scheduled work.

Each tick first processes Telegram updates a receiver stored but did not process (it crashed or
lost its database), then advances journey sessions whose delay ended or reply timed out and ends inactive
ones (their messages go into the outbox), then delivers the outbox. Several ticks may run at
once, on several machines against PostgreSQL: every piece of work is claimed before it is done.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from promostack_cli.core.clock import epoch
from promostack_cli.journeys.sessions import end_inactive, run_due
from promostack_cli.outbox.sender import DeliveryReport, Sender, SenderConfig

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    ticks: int = 0
    updates_processed: int = 0
    sessions_advanced: int = 0
    sessions_ended_inactive: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"ticks": self.ticks, "seconds": round(self.seconds, 3), "updates_processed": self.updates_processed,
                "sessions_advanced": self.sessions_advanced,
                "sessions_ended_inactive": self.sessions_ended_inactive, **self.delivery.as_dict()}


def _step(report: TickReport, what: str, work) -> int:
    """Run one step; a transient database error skips it for this tick (the next tick does it)."""
    from promostack_cli.db import is_transient

    try:
        return work()
    except Exception as exc:  # noqa: BLE001
        if not is_transient(exc):
            raise
        line = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        log.warning("database error while %s: %s", what, line)
        report.delivery.db_errors += 1
        if f"database error while {what}: {line}" not in report.delivery.errors:
            report.delivery.errors.append(f"database error while {what}: {line}")
        return 0


def _process_updates(db, tenant_id: int | None, deadline: float) -> int:
    from promostack_cli.core.clock import utcnow
    from promostack_cli.webhooks.service import process_pending

    return process_pending(db, utcnow, deadline=lambda: epoch() >= deadline, tenant_id=tenant_id)


def run(db, box, settings, *, dry_run: bool, budget: float, loop: float | None = None,
        tenant_id: int | None = None, printer=None) -> TickReport:
    """One tick, or with ``loop`` a tick every ``loop`` seconds, all within ``budget`` seconds."""
    started = epoch()
    end = started + budget
    report = TickReport()
    config = SenderConfig.from_settings(settings, dry_run=dry_run)
    sender = Sender(db, box, config, printer=printer)
    try:
        while True:
            tick_started = epoch()
            # with --loop each tick drains until the next one is due, so timers run on cadence
            tick_deadline = min(end, tick_started + loop) if loop else end
            report.updates_processed += _step(report, "processing stored Telegram updates",
                                              lambda: _process_updates(db, tenant_id, tick_deadline))
            report.sessions_advanced += _step(report, "advancing journey timers",
                                              lambda: run_due(db, tenant_id=tenant_id, deadline=tick_deadline))
            report.sessions_ended_inactive += _step(report, "ending inactive sessions",
                                                    lambda: end_inactive(db, tenant_id=tenant_id))
            part = sender.run(tick_deadline, tenant_id=tenant_id)
            report.ticks += 1
            report.delivery.merge(part)
            sender.report = DeliveryReport()
            if loop is None:
                break
            next_start = tick_started + loop
            if next_start >= end:
                break
            time.sleep(max(0.0, next_start - epoch()))
    finally:
        sender.close()
    report.seconds = epoch() - started
    return report
