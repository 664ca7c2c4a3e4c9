"""Billing: paid subscriptions grant and revoke VIP channel access.

Its update handlers come before the journeys' (the domains' order): ``/start v_…`` and
``/start subscribe`` are billing's."""

from promostack_cli.core.domain import WORK, Command, Domain, Step

DOMAIN = Domain(
    "billing",
    commands=(Command("billing", "promostack_cli.billing.cli:app",
                      "Billing: Stripe subscriptions grant and revoke VIP channel access."),),
    models="promostack_cli.billing.models",
    handlers="promostack_cli.billing.handlers:register",
    # before delivery: the removals it queues go out in the same tick
    steps=(Step("billing.sweep", "promostack_cli.billing.steps:SweepStep", "promostack_cli.billing.due:sweep_due", WORK),),
    routes="promostack_cli.billing.stripe.routes:routes",
)
