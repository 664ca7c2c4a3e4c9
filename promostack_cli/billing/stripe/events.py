"""Stripe objects read from their JSON (plain dicts), in both API shapes, into small typed facts.

stripe-python ≥ 15 objects are not dicts: the receiver parses the raw body itself, and objects
from the API are turned into dicts with ``to_dict()`` (:mod:`.stripe_api`) before they get here.

Shapes read:
* subscription period — before API 2025-03-31 ``current_period_start/end`` on the subscription;
  since, on each item (``items.data[].current_period_start/end``);
* an invoice's subscription — ``invoice.subscription`` (a string or an expanded object) before;
  ``invoice.parent.subscription_details.subscription`` since; the period from ``lines.data[].period``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Stripe's subscription statuses: the first three are billing's shared access vocabulary
# (promostack_cli.billing.models.KEEP_ACCESS, GRACE_ACCESS), the rest give no access.
STATUSES = ("trialing", "active", "past_due", "unpaid", "canceled", "incomplete", "incomplete_expired", "paused")


class BadEvent(ValueError):
    """The body is not a Stripe event."""


def _d(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _id(value: Any) -> str | None:
    """A Stripe reference: an id string or an expanded object with an ``id``."""
    if isinstance(value, str) and value:
        return value[:100]
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return value["id"][:100]
    return None


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _str(value: Any, limit: int = 300) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _items(obj: dict) -> list[dict]:
    data = _d(obj.get("items")).get("data")
    return [i for i in data if isinstance(i, dict)] if isinstance(data, list) else []


@dataclass(frozen=True)
class StripeEvent:
    id: str
    type: str
    created: int
    livemode: bool
    object: dict = field(repr=False)


def parse_event(event: Any) -> StripeEvent:
    if not isinstance(event, dict):
        raise BadEvent("not a JSON object")
    eid, etype, created = event.get("id"), event.get("type"), event.get("created")
    obj = _d(event.get("data")).get("object")
    if not (isinstance(eid, str) and 0 < len(eid) <= 100 and isinstance(etype, str) and 0 < len(etype) <= 100
            and type(created) is int and isinstance(obj, dict)):
        raise BadEvent("not a Stripe event (id, type, created and data.object are required)")
    return StripeEvent(eid, etype, created, bool(event.get("livemode")), obj)


@dataclass(frozen=True)
class Price:
    id: str | None = None
    amount: int | None = None      # per interval, minor units
    currency: str | None = None
    interval: str | None = None
    nickname: str | None = None


def _price(item: dict) -> Price:
    price = _d(item.get("price")) or _d(item.get("plan"))
    recurring = _d(price.get("recurring"))
    amount = _int(price.get("unit_amount"))
    if amount is None:
        amount = _int(price.get("amount"))
    quantity = _int(item.get("quantity")) or 1
    return Price(_id(price), amount * quantity if amount is not None else None, _str(price.get("currency"), 10),
                 _str(recurring.get("interval") or price.get("interval"), 10), _str(price.get("nickname"), 100))


@dataclass(frozen=True)
class Subscription:
    id: str
    customer: str | None
    status: str
    cancel_at_period_end: bool
    period_start: int | None
    period_end: int | None
    metadata: dict
    price: Price
    ended_at: int | None = None


def subscription(obj: dict) -> Subscription:
    sid = _id(obj)
    status = obj.get("status")
    if not sid or not sid.startswith("sub_") or status not in STATUSES:
        raise BadEvent("not a subscription object (id sub_..., a known status)")
    items = _items(obj)
    start = _int(obj.get("current_period_start"))
    end = _int(obj.get("current_period_end"))
    if end is None:  # API 2025-03-31 and later: on the items
        ends = [e for e in (_int(i.get("current_period_end")) for i in items) if e is not None]
        starts = [s for s in (_int(i.get("current_period_start")) for i in items) if s is not None]
        end = max(ends) if ends else None
        start = min(starts) if starts else start
    return Subscription(
        sid, _id(obj.get("customer")), status, bool(obj.get("cancel_at_period_end")), start, end,
        {k: str(v) for k, v in _d(obj.get("metadata")).items()}, _price(items[0]) if items else Price(),
        _int(obj.get("ended_at")))


@dataclass(frozen=True)
class Invoice:
    id: str
    subscription: str | None
    customer: str | None
    email: str | None
    amount_paid: int
    amount_due: int
    currency: str | None
    period_start: int | None
    period_end: int | None
    billing_reason: str | None
    hosted_invoice_url: str | None
    metadata: dict


def invoice(obj: dict) -> Invoice:
    iid = _id(obj)
    if not iid:
        raise BadEvent("not an invoice object")
    details = _d(_d(obj.get("parent")).get("subscription_details"))
    sub = _id(details.get("subscription")) or _id(obj.get("subscription"))
    metadata = _d(details.get("metadata")) or _d(_d(obj.get("subscription_details")).get("metadata"))
    lines = _d(obj.get("lines")).get("data")
    periods = [_d(line.get("period")) for line in lines if isinstance(line, dict)] if isinstance(lines, list) else []
    starts = [s for s in (_int(p.get("start")) for p in periods) if s is not None]
    ends = [e for e in (_int(p.get("end")) for p in periods) if e is not None]
    return Invoice(iid, sub, _id(obj.get("customer")), _str(obj.get("customer_email"), 320),
                   _int(obj.get("amount_paid")) or 0, _int(obj.get("amount_due")) or 0,
                   _str(obj.get("currency"), 10), min(starts) if starts else _int(obj.get("period_start")),
                   max(ends) if ends else _int(obj.get("period_end")), _str(obj.get("billing_reason"), 40),
                   _str(obj.get("hosted_invoice_url"), 500), {k: str(v) for k, v in metadata.items()})


@dataclass(frozen=True)
class Checkout:
    id: str
    mode: str | None
    subscription: str | None
    customer: str | None
    client_reference_id: str | None
    email: str | None
    payment_status: str | None
    metadata: dict


def checkout(obj: dict) -> Checkout:
    cid = _id(obj)
    if not cid:
        raise BadEvent("not a checkout session")
    details = _d(obj.get("customer_details"))
    return Checkout(cid, _str(obj.get("mode"), 20), _id(obj.get("subscription")), _id(obj.get("customer")),
                    _str(obj.get("client_reference_id"), 200), _str(details.get("email"), 320) or
                    _str(obj.get("customer_email"), 320), _str(obj.get("payment_status"), 30),
                    {k: str(v) for k, v in _d(obj.get("metadata")).items()})


def subscription_of(event: StripeEvent) -> str | None:
    """The Stripe subscription an event is about (for serialising and for ``billing events``)."""
    obj = event.object
    if event.type.startswith("customer.subscription."):
        return _id(obj)
    if event.type.startswith("invoice."):
        details = _d(_d(obj.get("parent")).get("subscription_details"))
        return _id(details.get("subscription")) or _id(obj.get("subscription"))
    if event.type == "checkout.session.completed":
        return _id(obj.get("subscription"))
    return None
