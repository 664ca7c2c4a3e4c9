"""The receiver: Telegram updates stored, answered, then processed by the domains' handlers."""

from promostack_cli.core.domain import INTAKE, Command, Domain, Step

DOMAIN = Domain(
    "webhooks",
    commands=(Command("webhook", "promostack_cli.webhooks.cli:app",
                      "The webhook receiver for Telegram updates (the one long-running process)."),),
    models="promostack_cli.webhooks.models",
    # first: updates a receiver stored but did not process (it crashed in between)
    steps=(Step("webhooks.updates", "promostack_cli.webhooks.steps:StoredUpdatesStep",
                "promostack_cli.webhooks.due:updates_due", INTAKE),),
    routes="promostack_cli.webhooks.telegram_routes:routes",
)
