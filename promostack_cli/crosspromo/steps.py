"""Cross promo's tick step: ``crosspromo run`` inside ``scheduler tick`` (before delivery, so a post
queued in this tick goes out in this tick)."""

from __future__ import annotations

from promostack_cli.core.clock import epoch, from_epoch


class CrossPromoStep:
    name = "crosspromo.run"

    def __init__(self, context):
        self.context = context
        self.clock = context.clock or epoch

    def __call__(self, now: float, deadline: float) -> dict[str, int]:
        from promostack_cli.core.jobruns import WORKER
        from promostack_cli.crosspromo.service import live_markets, run

        c = self.context
        report = run(c.db, c.settings, from_epoch(now), WORKER, market_for=live_markets(c.settings),
                     tenant_id=c.tenant_id, deadline=deadline, clock=self.clock)
        return {k: v for k, v in report.as_dict().items() if k != "warnings"}

    def describe(self, counts: dict[str, int]) -> str:
        return (f"{counts.get('enqueued', 0)} cross-promo job(s) enqueued, {counts.get('queued', 0)} post(s) queued, "
                f"{counts.get('failed', 0)} failed")

    def close(self) -> None:
        pass
