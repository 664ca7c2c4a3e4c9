"""What the billing commands show, as data (the CLI formats it), and the manual grant/revoke.

Source-neutral: every payment source's subscriptions are listed, shown and counted the same way; what
only a rail knows (its ids, its events and payments, what it still charges) comes from its
:class:`~.sources.PaymentSource`.

``stats``: active members (users with access now, by any rail), MRR by currency (paid rails' active
subscriptions' price per interval, normalised to a month; currencies are never summed together),
new and churned subscriptions in the last 30 days, payments failed and recovered (a failed invoice
paid later). Conversions by deep-link code are counted when cross promo records which code brought a
user (not available in this release: reported as such).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from promostack_cli.billing import sources
from promostack_cli.billing.access import aware, entitled, reconcile, user_subscriptions
from promostack_cli.billing.config import BillingConfig
from promostack_cli.billing.linking import find_subscription
from promostack_cli.billing.models import (GRACE_ACCESS, BillingAccessChange, BillingMember, BillingPayment,
                                          TelegramSubscription)
from promostack_cli.core.errors import NotFoundError, ValidationError

MONTHLY = {"day": 30.0, "week": 30.0 / 7, "month": 1.0, "year": 1 / 12}


def _iso(dt: datetime | None) -> str | None:
    return aware(dt).isoformat() if dt else None


def describe(sub: TelegramSubscription, cfg: BillingConfig, now: datetime) -> dict:
    ok, until = entitled(sub, now, cfg.grace_seconds)
    reference, customer = sources.get(sub.source).references(sub)
    return {"id": sub.id, "source": sub.source, "subscription": reference,
            "customer": customer, "email": sub.email, "telegram_user_id": sub.telegram_user_id,
            "plan": sub.plan, "status": sub.status, "cancel_at_period_end": sub.cancel_at_period_end,
            "period_end": _iso(sub.current_period_end), "paid_until": _iso(sub.paid_until),
            "access": ok, "access_until": _iso(until), "revoked": sub.revoked_at is not None,
            "linked_by": sub.link_method, "note": sub.note}


def subscriptions(session: Session, cfg: BillingConfig, now: datetime, status: str | None = None) -> list[dict]:
    if status is not None and status not in sources.statuses():
        raise ValidationError(f"--status must be one of {', '.join(sources.statuses())}.")
    q = select(TelegramSubscription).where(TelegramSubscription.tenant_id == cfg.tenant_id)
    if status:
        q = q.where(TelegramSubscription.status == status)
    return [describe(s, cfg, now) for s in session.exec(q.order_by(TelegramSubscription.id))]


def _telegram_id(ref: str) -> int | None:
    return int(ref) if ref.isdigit() else None


def show(session: Session, cfg: BillingConfig, ref: str, now: datetime) -> dict:
    """A user's (or an e-mail's) subscriptions with their events, payments and access changes."""
    uid = _telegram_id(ref)
    if uid is not None:
        subs = user_subscriptions(session, cfg.tenant_id, uid)
    else:
        first = find_subscription(session, cfg.tenant_id, ref)
        uid = first.telegram_user_id
        subs = user_subscriptions(session, cfg.tenant_id, uid) if uid else [first]
    changes = session.exec(select(BillingAccessChange).where(
        BillingAccessChange.tenant_id == cfg.tenant_id, BillingAccessChange.telegram_user_id == uid)
        .order_by(BillingAccessChange.id)).all() if uid else []
    if not subs and not changes:
        raise NotFoundError(f"No subscription or access history for {ref[:60]} in this tenant.")
    events, payments = [], []
    for source in sources.all_sources():  # each rail's own history of its subscriptions
        mine = [s for s in subs if s.source == source.name]
        if mine:
            found = source.history(session, cfg.tenant_id, mine)
            events, payments = events + found[0], payments + found[1]
    member = session.exec(select(BillingMember).where(BillingMember.tenant_id == cfg.tenant_id,
                                                      BillingMember.telegram_user_id == uid)).first() if uid else None
    return {
        "telegram_user_id": uid,
        "access": member.access if member else "none",
        "in_channel": member.in_channel if member else None,
        "subscriptions": [describe(s, cfg, now) for s in subs],
        "events": events,
        "payments": payments,
        "access_changes": [{"at": _iso(c.at), "action": c.action, "reason": c.reason} for c in changes],
    }


def grant(session: Session, cfg: BillingConfig, telegram_user_id: int, days: float, note: str | None,
          now: datetime) -> dict:
    """Manual or complimentary access: a ``manual`` subscription ending after ``days`` (no grace)."""
    if telegram_user_id <= 0:
        raise ValidationError("TELEGRAM_ID must be a Telegram user id (a positive number).")
    if not 0 < days <= 3660:
        raise ValidationError("--days must be between 1 and 3660.")
    if note is not None and len(note) > 500:
        raise ValidationError("--note may be at most 500 characters.")
    sub = TelegramSubscription(tenant_id=cfg.tenant_id, source="manual", telegram_user_id=telegram_user_id,
                               linked_at=now, link_method="manual", plan="manual grant", status="active",
                               cancel_at_period_end=True, current_period_start=now,
                               current_period_end=now + timedelta(days=days), note=note, created_at=now, updated_at=now)
    session.add(sub)
    session.flush()
    reconcile(session, cfg, telegram_user_id, now, f"manual grant for {days:g} day(s)" + (f": {note}" if note else ""))
    return describe(sub, cfg, now)


def revoke(session: Session, cfg: BillingConfig, telegram_user_id: int, now: datetime) -> dict:
    """Take access away now, whatever the payment source says (a rail's subscription itself is not cancelled:
    ``still_billed_by_<source>`` lists what each rail that still charges goes on billing)."""
    subs = [s for s in user_subscriptions(session, cfg.tenant_id, telegram_user_id) if s.revoked_at is None]
    if not subs:
        raise NotFoundError(f"Telegram user {telegram_user_id} has no subscription or grant in this tenant.")
    for s in subs:
        s.revoked_at, s.updated_at = now, now
        if s.source == sources.MANUAL.name:
            s.status = "canceled"
        session.add(s)
    session.flush()
    changed = reconcile(session, cfg, telegram_user_id, now, "revoked by the operator")
    billed = {f"still_billed_by_{source.name}": [source.references(s)[0] or str(s.id) for s in subs
                                                 if s.source == source.name and source.still_billing(s)]
              for source in sources.all_sources() if source.paid}
    return {"telegram_user_id": telegram_user_id, "revoked": len(subs), "access": changed or "unchanged", **billed}


def first_payments(session: Session, tenant_id: int, telegram_user_ids: list[int]) -> dict[int, datetime]:
    """When each of these Telegram users first paid an invoice (users who never paid are absent)."""
    p, s = BillingPayment, TelegramSubscription
    rows = session.exec(
        select(s.telegram_user_id, func.min(p.at))
        .join(s, (s.tenant_id == p.tenant_id) & (s.stripe_subscription_id == p.stripe_subscription_id))
        .where(p.tenant_id == tenant_id, p.status == "paid", s.telegram_user_id.in_(telegram_user_ids))
        .group_by(s.telegram_user_id)).all()
    return {uid: at for uid, at in rows if uid is not None}


def stats(session: Session, cfg: BillingConfig, now: datetime, conversions=None) -> dict:
    """``conversions()``: ``{deep-link code: paid users}`` (cross promo's attribution), or None."""
    tid = cfg.tenant_id
    subs = session.exec(select(TelegramSubscription).where(TelegramSubscription.tenant_id == tid)).all()
    members = {s.telegram_user_id for s in subs if entitled(s, now, cfg.grace_seconds)[0]}
    mrr: dict[str, float] = {}
    paid = [(s, sources.get(s.source)) for s in subs if sources.get(s.source).paid]
    for s, _ in paid:
        if s.status in ("active", *GRACE_ACCESS) and s.amount and s.currency:
            mrr[s.currency] = mrr.get(s.currency, 0.0) + s.amount * MONTHLY.get(s.interval or "month", 1.0) / 100
    since = now - timedelta(days=30)
    new = sum(1 for s, source in paid if s.status not in source.unstarted and aware(s.created_at) >= since)
    churned = sum(1 for s, _ in paid if s.ended_at and aware(s.ended_at) >= since)
    failed = session.exec(select(BillingPayment.invoice_id).where(
        BillingPayment.tenant_id == tid, BillingPayment.status == "failed", BillingPayment.at >= since)).all()
    recovered = session.exec(select(func.count()).select_from(BillingPayment).where(
        BillingPayment.tenant_id == tid, BillingPayment.status == "paid",
        BillingPayment.invoice_id.in_(failed))).one() if failed else 0
    return {"active_members": len(members), "mrr": {k: round(v, 2) for k, v in sorted(mrr.items())},
            "new_30d": new, "churned_30d": churned, "payments_failed_30d": len(failed),
            "payments_recovered_30d": recovered,
            "conversions_by_code": conversions() if conversions else None, "notes": []}
