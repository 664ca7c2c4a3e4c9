"""The receiver's tick step: process Telegram updates a receiver stored but did not process
(it crashed, or was stopped, between storing and processing)."""

from __future__ import annotations

from datetime import datetime


class StoredUpdatesStep:
    name = "webhooks.updates"
    keys = ("updates_processed",)

    def __init__(self, context):
        self.context = context

    def __call__(self, now: datetime, deadline: datetime) -> dict[str, int]:
        from promostack_cli.webhooks.handlers import Dispatcher
        from promostack_cli.webhooks.service import process_pending

        c = self.context
        processed = process_pending(Dispatcher(c.settings, c.box), c.db, c.now, deadline=lambda: c.now() >= deadline,
                                    tenant_id=c.tenant_id)
        return {"updates_processed": processed}

    def describe(self, counts: dict[str, int]) -> str:
        return f"{counts.get('updates_processed', 0)} stored Telegram update(s) processed"

    def close(self) -> None:
        pass
