"""The outbox: every outgoing Telegram message and Bot API call, delivered within Telegram's limits."""

from promostack_cli.core.domain import DELIVER, Command, Domain, Step

DOMAIN = Domain(
    "outbox",
    commands=(Command("outbox", "promostack_cli.outbox.cli:app",
                      "Outbox: every outgoing Telegram message, its status and its error."),),
    models="promostack_cli.outbox.models",
    handlers="promostack_cli.outbox.handlers:register",
    steps=(Step("outbox.delivery", "promostack_cli.outbox.steps:DeliveryStep", "promostack_cli.outbox.due:delivery_due",
                DELIVER),),
)
