"""``promostack scheduler tick``: the cron-driven job that does all due scheduled work.

The steps, in order: process Telegram updates a receiver stored but did not process (it crashed
between storing and processing); advance journey sessions whose delay ended or reply timed out; end
inactive ones (their messages go into the outbox); deliver the outbox; end the sessions of users
whose chat the outbox found blocked (a 403 to a send: right after delivery, so in the same tick). A
domain with due work adds its step factory to :func:`steps` (the billing sweep does; cross promo
will). Several ticks may run at once, on several machines against PostgreSQL: every piece of work
is claimed before it is done.
"""

from __future__ import annotations

from promostack_cli.scheduler.runner import TickReport, run
from promostack_cli.scheduler.steps import StepFactory, TickContext

__all__ = ["TickContext", "TickReport", "run", "steps"]


def steps() -> list[StepFactory]:
    from promostack_cli.billing.sweep import SweepStep
    from promostack_cli.journeys.steps import BlockedStep, InactiveStep, TimersStep
    from promostack_cli.outbox.steps import DeliveryStep
    from promostack_cli.webhooks.steps import StoredUpdatesStep

    # the billing sweep before delivery: the removals it queues go out in the same tick
    return [StoredUpdatesStep, TimersStep, InactiveStep, SweepStep, DeliveryStep, BlockedStep]
