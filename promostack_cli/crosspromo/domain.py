"""Cross promo: scheduled posts in the FREE channel and copies of winning VIP signals, through a job queue."""

from promostack_cli.core.domain import WORK, Command, Domain, Step

DOMAIN = Domain(
    "crosspromo",
    commands=(Command("crosspromo", "promostack_cli.crosspromo.cli:app",
                      "Cross promo: morning news and VIP teaser in the FREE channel, copies of winning VIP signals, "
                      "through a job queue, with attribution."),),
    models="promostack_cli.crosspromo.models",
    handlers="promostack_cli.crosspromo.handlers:register",
    # before delivery: a post queued in this tick goes out in this tick
    steps=(Step("crosspromo.run", "promostack_cli.crosspromo.steps:CrossPromoStep",
                "promostack_cli.crosspromo.due:crosspromo_due", WORK),),
)
