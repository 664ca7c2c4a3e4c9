"""The outbox's tick step: deliver what is due within Telegram's limits until the tick's deadline."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property


class DeliveryStep:
    name = "outbox.delivery"
    keys = ("sent", "failed", "dry_run", "retrying", "rate_limited", "released", "late_slots", "db_errors")

    def __init__(self, context):
        self.context, self.tenant_id = context, context.tenant_id

    @cached_property
    def sender(self):
        """Built on the first call: an idle tick that never delivers imports no sender, no httpx."""
        from promostack_cli.outbox.sender import Sender, SenderConfig

        from promostack_cli.core.clock import to_epoch

        context = self.context
        config = SenderConfig.from_settings(context.settings, dry_run=context.dry_run)
        kwargs = {"clock": lambda: to_epoch(context.clock())} if context.clock else {}
        return Sender(context.db, context.box, config, printer=context.printer, **kwargs)

    def __call__(self, now: datetime, deadline: datetime) -> dict:
        from promostack_cli.core.clock import to_epoch
        from promostack_cli.outbox.sender import DeliveryReport

        try:  # the sender's schedule is in epoch seconds (the shared pacing rows store them so)
            part = self.sender.run(to_epoch(deadline), tenant_id=self.tenant_id)
        finally:
            self.sender.report = DeliveryReport()
        return part.as_dict()

    def describe(self, c: dict[str, int]) -> str:
        return (f"{c.get('sent', 0)} sent, {c.get('dry_run', 0)} dry-run, {c.get('failed', 0)} failed, "
                f"{c.get('retrying', 0)} to retry, {c.get('rate_limited', 0)} rate-limited, "
                f"{c.get('released', 0)} handed back")

    def close(self) -> None:
        if "sender" in self.__dict__:
            self.sender.close()
