"""The receiver's tick step: process Telegram updates a receiver stored but did not process
(it crashed, or was stopped, between storing and processing)."""

from __future__ import annotations


class StoredUpdatesStep:
    name = "webhooks.updates"

    def __init__(self, context):
        from promostack_cli.core.clock import epoch

        self.db, self.tenant_id = context.db, context.tenant_id
        self.clock = context.clock or epoch

    def __call__(self, now: float, deadline: float) -> dict[str, int]:
        from promostack_cli.core.clock import from_epoch
        from promostack_cli.webhooks.service import process_pending

        clock = self.clock
        processed = process_pending(self.db, lambda: from_epoch(clock()), deadline=lambda: clock() >= deadline,
                                    tenant_id=self.tenant_id)
        return {"updates_processed": processed}

    def describe(self, counts: dict[str, int]) -> str:
        return f"{counts.get('updates_processed', 0)} stored Telegram update(s) processed"

    def close(self) -> None:
        pass
