"""What billing tells users through the message bot (queued in the caller's transaction, once per event).

Source-neutral: a payment source calls these when its payments say so, with a dedupe ``key`` of its
own (Stripe: ``billing:event:<event id>``). The link to fix a failed payment is the source's
(:meth:`.sources.PaymentSource.manage_link`). A tenant's journeys triggered by ``stripe_payment_failed``
(the journeys' name for "a renewal failed", whatever the rail) replace the built-in payment-failed
message (they get ``plan`` and ``update_card_link``).
"""

from __future__ import annotations

import time
from datetime import datetime

from sqlmodel import Session

from promostack_cli.billing import sources
from promostack_cli.billing.config import BillingConfig
from promostack_cli.billing.models import TelegramSubscription
from promostack_cli.outbox.models import INTERACTIVE
from promostack_cli.telegram import html


def _send(session: Session, cfg: BillingConfig, uid: int, text: str, now: datetime, key: str) -> None:
    from promostack_cli.outbox.service import enqueue

    enqueue(session, cfg.tenant_id, "message_bot", str(uid), text, now=now, dedupe_key=key, source="billing",
            priority=INTERACTIVE, disable_web_page_preview=True)


def payment_failed(session: Session, cfg: BillingConfig, row: TelegramSubscription, key: str, now: datetime, *,
                   fallback: str | None = None) -> None:
    """A renewal failed: the user keeps access for the grace period; tell them where to fix it (the source's
    manage link, else ``fallback``)."""
    from promostack_cli.journeys.sessions import start_by_event

    uid = row.telegram_user_id
    link = sources.get(row.source).manage_link(cfg, row, now) or fallback or ""
    variables = {"first_name": "", "last_name": "", "username": "", "plan": row.plan or "", "update_card_link": link}
    if start_by_event(session, cfg.tenant_id, "stripe_payment_failed", str(uid), variables, now):
        return
    days = cfg.grace_seconds / 86400
    text = (f"⚠️ <b>Your payment{' for ' + html.escape(row.plan) if row.plan else ''} did not go through.</b>\n"
            f"You keep VIP access for {days:g} more day(s) while you fix it.")
    if link:
        text += f'\n\n<a href="{html.escape(link)}">Update your card</a>'
    _send(session, cfg, uid, text, now, key)


def trial_ending(session: Session, cfg: BillingConfig, row: TelegramSubscription, key: str, now: datetime) -> None:
    end = row.current_period_end
    when = f" on {time.strftime('%d %b %Y', end.timetuple())}" if end else " in 3 days"
    text = f"⏳ Your free trial{' of ' + html.escape(row.plan) if row.plan else ''} ends{when}. " \
           "Your card is charged then and your VIP access continues."
    _send(session, cfg, row.telegram_user_id, text, now, key)
