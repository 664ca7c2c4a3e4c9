"""Billing's tick step: the sweep (:mod:`.sweep`), imported only when a tick has work, so the idle
cron tick loads no ORM model."""

from __future__ import annotations


class SweepStep:
    name = "billing.sweep"

    def __init__(self, context):
        from promostack_cli.core.clock import epoch

        self.db, self.tenant_id = context.db, context.tenant_id
        self.box = context.box
        if self.box is None:  # a dry-run tick has no box; the sweep reads the settings it encrypts
            from promostack_cli.runtime import default_box

            self.box = default_box(context.settings)
        self.clock = context.clock or epoch

    def __call__(self, now: float, deadline: float) -> dict[str, int]:
        from promostack_cli.billing.sweep import sweep
        from promostack_cli.core.clock import from_epoch

        return sweep(self.db, self.box, from_epoch(now), tenant_id=self.tenant_id)

    def describe(self, counts: dict[str, int]) -> str:
        text = (f"{counts.get('checked', 0)} member(s) checked, {counts.get('removed', 0)} removed, "
                f"{counts.get('granted', 0)} granted")
        if counts.get("links_revoked"):
            text += f", {counts['links_revoked']} expired invite link(s) revoked"
        return text

    def close(self) -> None:
        pass
