"""Billing's tick step: the sweep (:mod:`.sweep`), imported only when a tick has work, so the idle
cron tick loads no ORM model."""

from __future__ import annotations

from datetime import datetime


class SweepStep:
    name = "billing.sweep"
    keys = ("checked", "granted", "removed", "links_revoked")

    def __init__(self, context):
        self.context = context

    def __call__(self, now: datetime, deadline: datetime) -> dict[str, int]:
        from promostack_cli.billing.sweep import sweep

        c = self.context
        box = c.box
        if box is None:  # a dry-run tick has no box; the sweep reads the settings it encrypts
            from promostack_cli.core.secrets import secret_box_for

            box = secret_box_for(c.settings)
        return sweep(c.db, box, now, tenant_id=c.tenant_id)

    def describe(self, counts: dict[str, int]) -> str:
        text = (f"{counts.get('checked', 0)} member(s) checked, {counts.get('removed', 0)} removed, "
                f"{counts.get('granted', 0)} granted")
        if counts.get("links_revoked"):
            text += f", {counts['links_revoked']} expired invite link(s) revoked"
        return text

    def close(self) -> None:
        pass
