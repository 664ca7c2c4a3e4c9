"""Linking a payment to a Telegram account, never by guess.

Three ways, each naming exactly one subscription, whatever its payment source: a payment started from
``/subscribe`` (or ``billing checkout-link``) carries a signed token for the user that the rail hands
back with it (:func:`.tokens.checkout_token`; Stripe: ``client_reference_id`` and the subscription's
metadata, see :mod:`.stripe.state`); a payment made elsewhere gets a signed deep link
``t.me/<bot>?start=v_…`` and a ``/verify`` code (``billing link``), shown on the success page or
e-mailed. Codes are single-use, expire after :data:`CODE_DAYS` and a user may try at most
:data:`MAX_ATTEMPTS` per hour; a wrong code gets a polite answer and links nothing. A subscription
linked to one account is never moved to another (:func:`link`, the only way a rail links a row).

``/subscribe``'s offer is every payment source's (:func:`.sources.offers`): Stripe's plans beside
whatever a second rail offers, answered the same way for all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from promostack_cli.billing import sources, tokens
from promostack_cli.billing.access import has_access, message_bot_username, reconcile, record
from promostack_cli.billing.config import BillingConfig
from promostack_cli.billing.models import BillingLinkCode, BillingVerifyAttempt, TelegramSubscription
from promostack_cli.core import claims
from promostack_cli.core.errors import NotFoundError, ValidationError

CODE_DAYS = 7
MAX_ATTEMPTS = 5          # /verify attempts per user per hour
ATTEMPT_WINDOW = timedelta(hours=1)

TAKEN = "This subscription is already linked to another Telegram account. If that is a mistake, contact support."


def reference(row: TelegramSubscription) -> str | None:
    """The subscription's id in its payment source (Stripe: sub_…), None for a manual grant."""
    return sources.get(row.source).references(row)[0]


def link(session: Session, row: TelegramSubscription, telegram_user_id: int, method: str, now: datetime) -> str:
    """Link the subscription to a Telegram user: "linked", "already" or "taken" (linked to someone else)."""
    if row.telegram_user_id == telegram_user_id:
        return "already"
    if row.telegram_user_id is not None:
        return "taken"
    row.telegram_user_id, row.linked_at, row.link_method, row.updated_at = telegram_user_id, now, method, now
    session.add(row)
    record(session, row.tenant_id, telegram_user_id, "linked",
           f"{reference(row) or sources.get(row.source).label or row.source} linked by {method}", now)
    return "linked"


def _linked_answer(session: Session, cfg: BillingConfig, uid: int, outcome: str, now: datetime) -> str:
    if outcome == "taken":
        return TAKEN
    reconcile(session, cfg, uid, now, "linked to Telegram")
    if outcome == "already":
        return "This subscription is already linked to your account."
    if has_access(session, cfg, uid, now):
        return "✅ Your subscription is now linked to this Telegram account."
    return "Your subscription is linked to this account, but it is not active, so there is no VIP access yet."


def by_deep_link(session: Session, cfg: BillingConfig, uid: int, payload: str, now: datetime) -> str:
    row_id = tokens.deep_link_subscription(cfg.link_secret, payload, int(now.timestamp()))
    row = session.get(TelegramSubscription, row_id) if row_id else None
    if row is None or row.tenant_id != cfg.tenant_id:
        return ("This link is not valid or has expired. If you paid, send /verify followed by the code from your "
                "receipt page or e-mail.")
    claims.serialise(session, "billing", cfg.tenant_id, reference(row) or f"row:{row.id}")  # as its rail does
    session.refresh(row)
    return _linked_answer(session, cfg, uid, link(session, row, uid, "deep_link", now), now)


def by_code(session: Session, cfg: BillingConfig, uid: int, text: str | None, now: datetime) -> str:
    claims.serialise(session, "billing-verify", cfg.tenant_id, uid)
    tries = session.exec(select(func.count()).select_from(BillingVerifyAttempt).where(
        BillingVerifyAttempt.tenant_id == cfg.tenant_id, BillingVerifyAttempt.telegram_user_id == uid,
        BillingVerifyAttempt.at > now - ATTEMPT_WINDOW)).one()
    if tries >= MAX_ATTEMPTS:
        return "Too many attempts. Please wait an hour, then try your code again."
    attempt = BillingVerifyAttempt(tenant_id=cfg.tenant_id, telegram_user_id=uid, at=now)
    session.add(attempt)
    code = tokens.normalise_code(text)
    if code is None:
        return "Please send the code like this: /verify ABCD-EFGH"
    row = session.exec(claims.lock(select(BillingLinkCode).where(
        BillingLinkCode.tenant_id == cfg.tenant_id, BillingLinkCode.code_hash == tokens.code_hash(cfg.link_secret, code),
        BillingLinkCode.used_at.is_(None), BillingLinkCode.expires_at > now), session)).first()
    sub = session.get(TelegramSubscription, row.subscription_id) if row else None
    if sub is None:
        return "Sorry, that code is not valid or has expired. Check it and try again."
    outcome = link(session, sub, uid, "code", now)
    if outcome != "taken":
        row.used_at, row.used_by, attempt.ok = now, uid, True
        session.add(row)
    return _linked_answer(session, cfg, uid, outcome, now)


def find_subscription(session: Session, tenant_id: int, ref: str) -> TelegramSubscription:
    """A subscription by a payment source's reference (Stripe: sub_…, cus_…) or e-mail (the newest)."""
    c = TelegramSubscription
    found = next((cond for s in sources.all_sources() if (cond := s.find(ref)) is not None), None)
    if found is None and "@" in ref:
        found = func.lower(c.email) == ref.lower()
    if found is None:
        hints = ", ".join(s.ref_hint for s in sources.all_sources() if s.ref_hint)
        raise ValidationError(f"'{ref[:60]}' is not a {hints + ' or ' if hints else ''}e-mail address.")
    q = select(c).where(c.tenant_id == tenant_id, found)
    row = session.exec(q.order_by(c.id.desc())).first()
    if row is None:
        raise NotFoundError(f"No subscription {ref[:60]} for this tenant (billing subscriptions lists them).")
    return row


def issue(session: Session, cfg: BillingConfig, ref: str, now: datetime) -> dict:
    """A deep link and a fresh /verify code for one subscription (``billing link``)."""
    row = find_subscription(session, cfg.tenant_id, ref)
    code = tokens.new_code()
    session.add(BillingLinkCode(tenant_id=cfg.tenant_id, subscription_id=row.id,
                                code_hash=tokens.code_hash(cfg.link_secret, tokens.normalise_code(code)),
                                expires_at=now + timedelta(days=CODE_DAYS), created_at=now))
    session.flush()
    payload = tokens.deep_link_token(cfg.link_secret, row.id, int(now.timestamp()))
    username = message_bot_username(session, cfg.tenant_id)
    return {"subscription": reference(row), "email": row.email, "linked_to": row.telegram_user_id,
            "deep_link": f"https://t.me/{username}?start={payload}" if username else None, "start_payload": payload,
            "code": code, "code_expires_at": (now + timedelta(days=CODE_DAYS)).isoformat()}


def subscribe_offer(session: Session, cfg: BillingConfig, uid: int, now: datetime) -> tuple[str, dict | None]:
    """The answer to /subscribe: every payment source's offer for this user (its text, its buttons), in the
    rails' order; no offer when the user already has access, by whichever rail."""
    if has_access(session, cfg, uid, now):
        return "You already have VIP access. 🎉", None
    offers = sources.offers(session, cfg, uid, now)
    if not offers:
        return "Subscriptions are not open yet. Please ask the channel's admin.", None
    buttons = [row for offer in offers for row in offer.buttons]
    return "\n\n".join(offer.text for offer in offers), {"inline_keyboard": buttons} if buttons else None
