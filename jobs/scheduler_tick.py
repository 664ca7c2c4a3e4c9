"""``promostack scheduler tick``: the cron-driven job that does all due scheduled work.

The steps, in order: process Telegram updates a receiver stored but did not process (it crashed
between storing and processing); advance journey sessions whose delay ended or reply timed out; end
inactive ones (their messages go into the outbox); run cross promo (due daily posts and win copies
into the outbox); sweep billing access (removals past period end and grace, grants a missed event
left out); deliver the outbox; end the sessions of users
whose chat the outbox found blocked (a 403 to a send: right after delivery, so in the same tick). A
domain with due work adds its step factory to :func:`steps` and its Core check to :func:`nothing_due`. Several ticks
may run at once, on several machines against PostgreSQL: every piece of work is claimed before it
is done.

:func:`nothing_due` answers, with SQLAlchemy Core queries (each domain's ``due`` module), whether
none of these steps has work: the idle tick cron starts every minute stops there, without loading
the ORM models, the sender or httpx. A domain that adds a step adds its check there too.
"""

from __future__ import annotations

from promostack_cli.scheduler.runner import TickReport, run
from promostack_cli.scheduler.steps import StepFactory, TickContext

__all__ = ["TickContext", "TickReport", "nothing_due", "run", "steps"]


def steps() -> list[StepFactory]:
    from promostack_cli.billing.steps import SweepStep
    from promostack_cli.crosspromo.steps import CrossPromoStep
    from promostack_cli.journeys.steps import BlockedStep, InactiveStep, TimersStep
    from promostack_cli.outbox.steps import DeliveryStep
    from promostack_cli.webhooks.steps import StoredUpdatesStep

    # the billing sweep before delivery: the removals it queues go out in the same tick
    return [StoredUpdatesStep, TimersStep, InactiveStep, CrossPromoStep, SweepStep, DeliveryStep, BlockedStep]


def nothing_due(db, now: float, deadline: float, *, tenant_id: int | None = None) -> bool:
    """True when no step of :func:`steps` has work at ``now`` (delivery: before ``deadline``).

    Conservative: it may find work a step then does not do, never the other way round."""
    from promostack_cli.billing.due import sweep_due
    from promostack_cli.core.clock import from_epoch
    from promostack_cli.crosspromo.due import crosspromo_due
    from promostack_cli.journeys.due import blocked_due, inactive_due, timers_due
    from promostack_cli.outbox.due import delivery_due
    from promostack_cli.webhooks.due import updates_due

    at, until = from_epoch(now), from_epoch(deadline)
    with db.engine.connect() as conn:
        return not (updates_due(conn, tenant_id=tenant_id) or timers_due(conn, at, tenant_id=tenant_id)
                    or inactive_due(conn, at, tenant_id=tenant_id) or crosspromo_due(conn, at, tenant_id=tenant_id)
                    or sweep_due(conn, at, tenant_id=tenant_id)
                    or delivery_due(conn, until, tenant_id=tenant_id)
                    or blocked_due(conn, tenant_id=tenant_id))
