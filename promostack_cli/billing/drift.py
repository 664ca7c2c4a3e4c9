"""Channel drift (``billing sync``'s last step): who has access, by any payment source, but is not in the
VIP channel, and who is in it without access. Read only: ``getChatMember`` for every known member.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from promostack_cli.billing.access import has_access
from promostack_cli.billing.config import BillingConfig
from promostack_cli.billing.models import BillingMember

IN_CHANNEL = ("member", "administrator", "creator", "restricted")


def drift(session, cfg: BillingConfig, tg, now: datetime, report) -> None:
    """``report``: a :class:`~.stripe.sync.SyncReport` (its ``drift`` and ``notes`` lists); ``tg``: the signal
    bot's client (it administers the VIP channel)."""
    from promostack_cli.telegram.errors import TelegramError

    members = session.exec(select(BillingMember).where(BillingMember.tenant_id == cfg.tenant_id)
                           .order_by(BillingMember.telegram_user_id)).all()
    for m in members:
        paid = has_access(session, cfg, m.telegram_user_id, now)
        try:
            status = tg.get_chat_member(cfg.vip_chat_id, m.telegram_user_id).get("status")
        except TelegramError as exc:
            report.notes.append(f"getChatMember {m.telegram_user_id}: {exc}")
            continue
        inside = status in IN_CHANNEL
        if paid and not inside:
            report.drift.append({"telegram_user_id": m.telegram_user_id, "drift": "paid, not in the channel",
                                 "channel_status": status})
        elif inside and not paid and status not in ("administrator", "creator"):
            report.drift.append({"telegram_user_id": m.telegram_user_id, "drift": "in the channel, not paid",
                                 "channel_status": status})
