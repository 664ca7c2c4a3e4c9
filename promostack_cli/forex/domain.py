"""Forex signals: candles, strategies, the signal lifecycle, briefings and recaps.

Its cron work is its own group (``promostack forex tick``), so pandas never loads in ``scheduler tick``."""

from promostack_cli.core.domain import Command, Domain, Step

FOREX = "forex"  # the tick group

DOMAIN = Domain(
    "forex",
    commands=(Command("forex", "promostack_cli.forex.cli:app",
                      "Forex signals: Twelve Data candles, strategies, signal lifecycle, briefings, recaps, analytics, "
                      "backtests."),),
    models="promostack_cli.forex.models",
    steps=(
        Step("forex.monitor", "promostack_cli.forex.steps:MonitorStep", "promostack_cli.forex.due:monitor_due", group=FOREX),
        Step("forex.checks", "promostack_cli.forex.steps:ChecksStep", "promostack_cli.forex.due:checks_due", group=FOREX),
        Step("forex.reports", "promostack_cli.forex.steps:ReportsStep", "promostack_cli.forex.due:reports_due",
             group=FOREX),
        Step("forex.prune", "promostack_cli.forex.steps:PruneStep", "promostack_cli.forex.due:prune_due", group=FOREX),
    ),
)
