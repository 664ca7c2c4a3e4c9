"""Stripe events: stored once by id in the same transaction as their effect, then access reconciled.

:func:`ingest` is what the webhook route, ``billing sync`` (undelivered events) and ``billing replay``
call. The event row is inserted first (a unique key per tenant and event id: a repeat, even one
arriving at the same moment on another machine, finds it and has no effect); the effect runs in a
savepoint, so an event whose handling fails is stored ``failed`` with the error (for ``billing
events --failed`` and ``billing replay``) instead of being lost; unknown types are stored
``ignored``. Transactions touching one subscription are serialised on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from promostack_cli.billing.access import aware, reconcile
from promostack_cli.billing.config import BillingConfig
from promostack_cli.billing.models import BillingEvent, BillingPayment
from promostack_cli.billing.stripe import events as ev
from promostack_cli.billing.stripe import state
from promostack_cli.core import claims
from promostack_cli.core.errors import NotFoundError, ValidationError
from promostack_cli.core.secrets import redact

log = logging.getLogger(__name__)


@dataclass
class Ingested:
    stored: bool          # False: we already had this event (nothing done)
    status: str           # processed | ignored | failed | duplicate
    result: str = ""
    access: str | None = None   # granted | removed, when the event changed someone's access


def _apply(session: Session, cfg: BillingConfig, e: ev.StripeEvent, now: datetime) -> tuple[str, str, str | None]:
    handler = state.HANDLERS.get(e.type)
    if handler is None:
        return "ignored", f"{e.type} is not used by billing", None
    result, row = handler(session, cfg, e, now)
    if row is None:
        return "ignored", result, None
    row.updated_at = now
    session.add(row)
    session.flush()
    access = reconcile(session, cfg, row.telegram_user_id, now, f"{e.type} {e.id}") if row.telegram_user_id else None
    return "processed", result, access


def _insert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def ingest(session: Session, cfg: BillingConfig, payload: dict, now: datetime, *, source: str = "webhook") -> Ingested:
    """Store and apply one event (a parsed JSON dict) in the caller's transaction."""
    from promostack_cli.db import is_transient

    e = ev.parse_event(payload)
    sub_id = ev.subscription_of(e)
    if sub_id:
        claims.serialise(session, "billing", cfg.tenant_id, sub_id)
    values = {"tenant_id": cfg.tenant_id, "event_id": e.id, "type": e.type, "created": e.created,
              "livemode": e.livemode, "stripe_subscription_id": sub_id, "source": source, "status": "received",
              "payload": payload, "received_at": now}
    insert = _insert(session)
    new_id = session.execute(insert(BillingEvent.__table__).values(**values)
                             .on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
                             .returning(BillingEvent.__table__.c.id)).scalar()
    if new_id is None:
        return Ingested(False, "duplicate")
    row = session.get(BillingEvent, new_id)
    return _run(session, cfg, row, e, now, is_transient)


def _run(session: Session, cfg: BillingConfig, row: BillingEvent, e: ev.StripeEvent, now: datetime, is_transient) -> Ingested:
    access = None
    try:
        with session.begin_nested():
            status, result, access = _apply(session, cfg, e, now)
        row.error = None
    except Exception as exc:  # noqa: BLE001 - stored as failed: billing events --failed, billing replay
        if is_transient(exc):
            raise
        if not isinstance(exc, ev.BadEvent):
            log.exception("Stripe event %s (%s) failed", e.id, e.type)
        status, result = "failed", None
        row.error = redact(f"{type(exc).__name__}: {exc}")[:2000]
    row.status, row.result, row.processed_at = status, (result or "")[:300] or None, now
    session.add(row)
    session.flush()
    return Ingested(True, status, result or row.error or "", access)


def verified(cfg: BillingConfig, body: bytes, signature: str, tolerance: int = 300) -> dict:
    """The event in ``body`` if ``signature`` (a Stripe-Signature header) is valid for the tenant."""
    import json

    import stripe

    try:
        stripe.WebhookSignature.verify_header(body, signature, cfg.webhook_secret, tolerance=tolerance)
        payload = json.loads(body)
    except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError):
        raise ValidationError("The Stripe signature does not match this tenant's webhook secret (or is older "
                              "than 5 minutes).") from None
    try:
        ev.parse_event(payload)
    except ev.BadEvent as exc:
        raise ValidationError(f"Not a Stripe event: {exc}.") from None
    return payload


def replay(session: Session, cfg: BillingConfig, event_id: str, now: datetime) -> Ingested:
    """Apply a stored event again (``billing replay``): safe, observations are idempotent."""
    from promostack_cli.db import is_transient

    row = session.exec(select(BillingEvent).where(BillingEvent.tenant_id == cfg.tenant_id,
                                                  BillingEvent.event_id == event_id)).first()
    if row is None:
        raise NotFoundError(f"No Stripe event {event_id[:100]} stored for this tenant (billing events lists them).")
    try:
        e = ev.parse_event(row.payload)
    except ev.BadEvent as exc:
        raise ValidationError(f"Event {event_id[:100]} cannot be replayed: {exc}.") from None
    if e.id and ev.subscription_of(e):
        claims.serialise(session, "billing", cfg.tenant_id, ev.subscription_of(e))
    row.source = "replay"
    return _run(session, cfg, row, e, now, is_transient)


def list_events(session: Session, tenant_id: int, *, failed: bool = False, limit: int = 50) -> list[BillingEvent]:
    q = select(BillingEvent).where(BillingEvent.tenant_id == tenant_id)
    if failed:
        q = q.where(BillingEvent.status == "failed")
    return list(session.exec(q.order_by(BillingEvent.created.desc(), BillingEvent.id.desc()).limit(limit)))


def known_event_ids(session: Session, tenant_id: int, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    return set(session.exec(select(BillingEvent.event_id).where(BillingEvent.tenant_id == tenant_id,
                                                                BillingEvent.event_id.in_(ids))))


def history(session: Session, tenant_id: int, ids: list[str]) -> tuple[list[dict], list[dict]]:
    """The events and payments of these Stripe subscriptions, oldest first (``billing show``)."""
    from promostack_cli.core.clock import from_epoch

    if not ids:
        return [], []
    events = session.exec(select(BillingEvent).where(BillingEvent.tenant_id == tenant_id,
                                                     BillingEvent.stripe_subscription_id.in_(ids))
                          .order_by(BillingEvent.created, BillingEvent.id)).all()
    payments = session.exec(select(BillingPayment).where(BillingPayment.tenant_id == tenant_id,
                                                         BillingPayment.stripe_subscription_id.in_(ids))
                            .order_by(BillingPayment.at)).all()
    return ([{"at": from_epoch(e.created).isoformat(), "event": e.event_id, "type": e.type, "status": e.status,
              "result": e.result or e.error} for e in events],
            [{"at": aware(p.at).isoformat() if p.at else None, "invoice": p.invoice_id, "status": p.status,
              "amount": p.amount, "currency": p.currency,
              "period_end": aware(p.period_end).isoformat() if p.period_end else None} for p in payments])
