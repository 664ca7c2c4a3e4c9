"""Journeys: multi-step conversations a user starts from a deep link, run by the message bot."""

from promostack_cli.core.domain import REACT, WORK, Command, Domain, Step

DOMAIN = Domain(
    "journeys",
    commands=(Command("journeys", "promostack_cli.journeys.cli:app",
                      "Journeys: multi-step conversations defined as YAML files kept in git."),),
    models="promostack_cli.journeys.models",
    handlers="promostack_cli.journeys.handlers:register",
    steps=(
        Step("journeys.timers", "promostack_cli.journeys.steps:TimersStep", "promostack_cli.journeys.due:timers_due", WORK),
        Step("journeys.inactive", "promostack_cli.journeys.steps:InactiveStep", "promostack_cli.journeys.due:inactive_due",
             WORK),
        # after delivery: the outbox marks a chat blocked on a 403 (it knows nothing of journeys)
        Step("journeys.blocked", "promostack_cli.journeys.steps:BlockedStep", "promostack_cli.journeys.due:blocked_due",
             REACT),
    ),
)
