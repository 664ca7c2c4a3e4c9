"""Linking a payment to a Telegram account, never by guess.

Three ways, each naming exactly one subscription: our own checkouts carry a signed token for the
user (``client_reference_id``, see :mod:`.state`); a payment made elsewhere gets a signed deep link
``t.me/<bot>?start=v_…`` and a ``/verify`` code (``billing link``), shown on the success page or
e-mailed. Codes are single-use, expire after :data:`CODE_DAYS` and a user may try at most
:data:`MAX_ATTEMPTS` per hour; a wrong code gets a polite answer and links nothing. A subscription
linked to one account is never moved to another.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from promostack_cli.billing import tokens
from promostack_cli.billing.access import has_access, message_bot_username, reconcile
from promostack_cli.billing.config import BillingConfig
from promostack_cli.billing.models import BillingLinkCode, BillingVerifyAttempt, TelegramSubscription
from promostack_cli.billing.stripe.state import link
from promostack_cli.core import claims
from promostack_cli.core.errors import NotFoundError, ValidationError
from promostack_cli.telegram import html

CODE_DAYS = 7
MAX_ATTEMPTS = 5          # /verify attempts per user per hour
ATTEMPT_WINDOW = timedelta(hours=1)

TAKEN = "This subscription is already linked to another Telegram account. If that is a mistake, contact support."


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
    claims.serialise(session, "billing", cfg.tenant_id, row.stripe_subscription_id or f"row:{row.id}")
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
    """A subscription by Stripe id (sub_…), customer (cus_…) or e-mail (the newest)."""
    c = TelegramSubscription
    if ref.startswith("sub_"):
        q = select(c).where(c.tenant_id == tenant_id, c.stripe_subscription_id == ref)
    elif ref.startswith("cus_"):
        q = select(c).where(c.tenant_id == tenant_id, c.stripe_customer_id == ref)
    elif "@" in ref:
        q = select(c).where(c.tenant_id == tenant_id, func.lower(c.email) == ref.lower())
    else:
        raise ValidationError(f"'{ref[:60]}' is not a subscription (sub_…), customer (cus_…) or e-mail address.")
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
    return {"subscription": row.stripe_subscription_id, "email": row.email, "linked_to": row.telegram_user_id,
            "deep_link": f"https://t.me/{username}?start={payload}" if username else None, "start_payload": payload,
            "code": code, "code_expires_at": (now + timedelta(days=CODE_DAYS)).isoformat()}


def subscribe_offer(session: Session, cfg: BillingConfig, uid: int, now: datetime) -> tuple[str, dict | None]:
    """The answer to /subscribe: the plans as buttons that open a Checkout made for this user."""
    if has_access(session, cfg, uid, now):
        return "You already have VIP access. 🎉", None
    token = tokens.checkout_token(cfg.link_secret, uid, int(now.timestamp()))
    buttons = [[{"text": plan.name, "url": url}] for plan in cfg.plans
               if (url := cfg.link_url("checkout", token, price=plan.price_id))]
    if not buttons:
        return "Subscriptions are not open yet. Please ask the channel's admin.", None
    names = ", ".join(html.escape(p.name) for p in cfg.plans)
    return f"Choose your VIP plan ({names}). Your payment links to this Telegram account by itself.", \
        {"inline_keyboard": buttons}
