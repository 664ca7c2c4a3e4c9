"""The subscription state machine: Stripe observations applied so that order and repeats don't matter.

An *observation* is what one event (or ``billing sync``) says a subscription's status was at a
moment. Its ordering key is ``(terminal, created, status rank, event id)``, written as one sortable
string: a subscription keeps the status of its greatest observation, and the period fields of its
greatest *snapshot* (an observation that carries the whole subscription object). Taking a maximum
is commutative and idempotent, so the same events in any order, repeated any number of times, end
in the same state; an older event never moves the state backwards; ``canceled`` (terminal in
Stripe) wins over everything, so a deletion that arrives before the checkout still ends cancelled.
Payments are unique per invoice and ``paid_until`` is a maximum, for the same reason.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from promostack_cli.billing.stripe import events as ev
from promostack_cli.billing import tokens
from promostack_cli.billing.access import aware
from promostack_cli.billing.config import BillingConfig
from promostack_cli.billing.linking import link
from promostack_cli.billing.models import BillingPayment, TelegramSubscription

RANK = {"incomplete": 0, "trialing": 1, "active": 2, "past_due": 3, "unpaid": 4, "paused": 4, "canceled": 5,
        "incomplete_expired": 5}
TERMINAL = ("canceled", "incomplete_expired")  # Stripe never moves a subscription out of these
TOKEN_KEY = "promostack_token"   # subscription_data.metadata key carrying the signed checkout token


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def key(status: str, created: int, event_id: str) -> str:
    return f"{int(status in TERMINAL)}{max(created, 0):012d}{RANK.get(status, 0)}{event_id[:100]}"


def get_or_create(session: Session, tenant_id: int, stripe_subscription_id: str, now: datetime) -> TelegramSubscription:
    q = select(TelegramSubscription).where(TelegramSubscription.tenant_id == tenant_id,
                                           TelegramSubscription.stripe_subscription_id == stripe_subscription_id)
    row = session.exec(q).first()
    if row is not None:
        return row
    row = TelegramSubscription(tenant_id=tenant_id, source="stripe", stripe_subscription_id=stripe_subscription_id,
                               created_at=now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # created by a concurrent transaction a moment ago
        row = session.exec(q).one()
    return row


def link_from_token(session: Session, cfg: BillingConfig, row: TelegramSubscription, token: str | None,
                    method: str, now: datetime) -> str | None:
    uid = tokens.checkout_user(cfg.link_secret, token)
    return link(session, row, uid, method, now) if uid else None


def observe(row: TelegramSubscription, status: str, created: int, event_id: str,
            snap: ev.Subscription | None = None, cfg: BillingConfig | None = None) -> bool:
    """Apply one observation; True when it changed the status."""
    k = key(status, created, event_id)
    changed = False
    if k > (row.state_key or ""):
        changed = row.status != status
        row.status, row.state_key = status, k
        if status in TERMINAL and row.ended_at is None:
            row.ended_at = _ts(created)
    if snap is not None and k > (row.snapshot_key or ""):
        row.snapshot_key = k
        row.cancel_at_period_end = snap.cancel_at_period_end
        row.current_period_start, row.current_period_end = _ts(snap.period_start), _ts(snap.period_end)
        row.stripe_customer_id = snap.customer or row.stripe_customer_id
        if snap.price.id:
            row.price_id = snap.price.id
            row.plan = (cfg.plan_name(snap.price.id) if cfg else None) or snap.price.nickname or row.plan or snap.price.id
            row.amount, row.currency, row.interval = snap.price.amount, snap.price.currency, snap.price.interval
        if snap.ended_at:
            row.ended_at = _ts(snap.ended_at)
    return changed


def on_subscription(session, cfg, e: ev.StripeEvent, now) -> tuple[str, TelegramSubscription]:
    snap = ev.subscription(e.object)
    row = get_or_create(session, cfg.tenant_id, snap.id, now)
    changed = observe(row, snap.status, e.created, e.id, snap, cfg)
    linked = link_from_token(session, cfg, row, snap.metadata.get(TOKEN_KEY), "metadata", now)
    result = f"{snap.id} {row.status}" + (" (changed)" if changed else "") + (f", {linked}" if linked == "linked" else "")
    if e.type == "customer.subscription.trial_will_end" and row.telegram_user_id and row.status == "trialing":
        from promostack_cli.billing.notify import trial_ending

        trial_ending(session, cfg, row, f"billing:event:{e.id}", now)
    return result, row


def on_checkout(session, cfg, e: ev.StripeEvent, now) -> tuple[str, TelegramSubscription | None]:
    co = ev.checkout(e.object)
    if co.mode != "subscription" or not co.subscription:
        return "not a subscription checkout", None
    row = get_or_create(session, cfg.tenant_id, co.subscription, now)
    row.checkout_session_id, row.client_reference_id = co.id, co.client_reference_id
    row.stripe_customer_id = row.stripe_customer_id or co.customer
    row.email = co.email or row.email
    if co.payment_status in ("paid", "no_payment_required"):
        observe(row, "active" if co.payment_status == "paid" else "trialing", e.created, e.id)
    linked = (link_from_token(session, cfg, row, co.client_reference_id, "checkout", now)
              or link_from_token(session, cfg, row, co.metadata.get(TOKEN_KEY), "checkout", now))
    return f"{co.subscription} checkout completed" + (", linked" if linked == "linked" else ""), row


def _payment(session, cfg, inv: ev.Invoice, status: str, e: ev.StripeEvent) -> bool:
    """Record the payment once per (invoice, status); False when it was already recorded."""
    exists = session.exec(select(BillingPayment.id).where(
        BillingPayment.tenant_id == cfg.tenant_id, BillingPayment.invoice_id == inv.id,
        BillingPayment.status == status)).first()
    if exists:
        return False
    session.add(BillingPayment(tenant_id=cfg.tenant_id, invoice_id=inv.id, stripe_subscription_id=inv.subscription,
                               status=status, amount=inv.amount_paid if status == "paid" else inv.amount_due,
                               currency=inv.currency, period_start=_ts(inv.period_start),
                               period_end=_ts(inv.period_end), at=_ts(e.created), event_id=e.id))
    session.flush()
    return True


def on_invoice_paid(session, cfg, e: ev.StripeEvent, now) -> tuple[str, TelegramSubscription | None]:
    inv = ev.invoice(e.object)
    if not inv.subscription:
        return "invoice without a subscription", None
    row = get_or_create(session, cfg.tenant_id, inv.subscription, now)
    _payment(session, cfg, inv, "paid", e)
    end = _ts(inv.period_end)
    if end and (row.paid_until is None or aware(row.paid_until) < end):
        row.paid_until = end
    row.email = row.email or inv.email
    row.stripe_customer_id = row.stripe_customer_id or inv.customer
    link_from_token(session, cfg, row, inv.metadata.get(TOKEN_KEY), "metadata", now)
    return f"{inv.subscription} paid {inv.amount_paid} {inv.currency or ''}".rstrip(), row


def on_invoice_failed(session, cfg, e: ev.StripeEvent, now) -> tuple[str, TelegramSubscription | None]:
    inv = ev.invoice(e.object)
    if not inv.subscription:
        return "invoice without a subscription", None
    row = get_or_create(session, cfg.tenant_id, inv.subscription, now)
    new = _payment(session, cfg, inv, "failed", e)
    if inv.billing_reason != "subscription_create":  # a renewal failed: past due (a first payment: incomplete)
        observe(row, "past_due", e.created, e.id)
        failed_at = _ts(e.created)
        if row.payment_failed_at is None or aware(row.payment_failed_at) < failed_at:
            row.payment_failed_at = failed_at
    if new and row.telegram_user_id and row.status in ("past_due", "unpaid"):
        from promostack_cli.billing.notify import payment_failed

        # the Customer Portal (the source's manage link) when it can be made, else the invoice's payment page
        payment_failed(session, cfg, row, f"billing:event:{e.id}", now, fallback=inv.hosted_invoice_url)
    return f"{inv.subscription} payment failed", row


HANDLERS = {
    "checkout.session.completed": on_checkout,
    "customer.subscription.created": on_subscription,
    "customer.subscription.updated": on_subscription,
    "customer.subscription.deleted": on_subscription,
    "customer.subscription.paused": on_subscription,
    "customer.subscription.resumed": on_subscription,
    "customer.subscription.trial_will_end": on_subscription,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_succeeded": on_invoice_paid,
    "invoice.payment_failed": on_invoice_failed,
}


def observe_snapshot(session: Session, cfg: BillingConfig, obj: dict, at: int, label: str,
                     now: datetime) -> tuple[TelegramSubscription, bool]:
    """``billing sync``: the subscription as the API shows it at ``at`` (newer than every event before)."""
    snap = ev.subscription(obj)
    row = get_or_create(session, cfg.tenant_id, snap.id, now)
    changed = observe(row, snap.status, at, label, snap, cfg)
    link_from_token(session, cfg, row, snap.metadata.get(TOKEN_KEY), "metadata", now)
    row.updated_at = now
    session.add(row)
    return row, changed
