"""Cross promo's tick step: ``crosspromo run`` inside ``scheduler tick`` (before delivery, so a post
queued in this tick goes out in this tick)."""

from __future__ import annotations

from datetime import datetime


class CrossPromoStep:
    name = "crosspromo.run"
    keys = ("enqueued", "queued", "retrying", "failed", "cancelled", "completed")

    def __init__(self, context):
        self.context = context

    def __call__(self, now: datetime, deadline: datetime) -> dict:
        from promostack_cli.crosspromo.service import live_markets, run
        from promostack_cli.scheduler.jobruns import WORKER

        c = self.context
        market_for = c.options.get("market_for") or live_markets(c.settings)
        report = run(c.db, c.settings, now, WORKER, market_for=market_for, tenant_id=c.tenant_id, deadline=deadline,
                     clock=c.now)
        counts = {k: v for k, v in report.as_dict().items() if k != "warnings"}
        return {**counts, "warnings": report.warnings}

    def describe(self, counts: dict) -> str:
        return (f"{counts.get('enqueued', 0)} cross-promo job(s) enqueued, {counts.get('queued', 0)} post(s) queued, "
                f"{counts.get('failed', 0)} failed")

    def close(self) -> None:
        pass
