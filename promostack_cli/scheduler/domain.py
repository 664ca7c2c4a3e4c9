"""The scheduler: ``scheduler tick``, cron's one entry into every domain's due work, and the once-per-period
job runs that keep overlapping ticks from doing a period twice."""

from promostack_cli.core.domain import Command, Domain

DOMAIN = Domain(
    "scheduler",
    commands=(Command("scheduler", "promostack_cli.scheduler.cli:app", "Scheduled work, run by cron."),),
    models="promostack_cli.scheduler.jobruns",
)
