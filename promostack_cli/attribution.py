"""Paid conversions per cross-promo post: who opened the message bot through a post's deep link
(cross promo records it) and then paid (billing records it). Composed here, at the edge, so neither
domain imports the other.

A conversion is a user whose first paid invoice came after their first /start through that post;
a member who was already paying when they tapped a post is not counted.
"""

from __future__ import annotations

from datetime import datetime


def conversions(session, tenant_id: int, refs: list[str]) -> dict[str, int]:
    """``{ref: paid users}`` for the posts ``refs`` (0 for a post nobody paid after)."""
    from promostack_cli.billing.reports import first_payments
    from promostack_cli.crosspromo.stats import starts_of

    starts = starts_of(session, tenant_id, refs)
    users = sorted({int(chat) for visits in starts.values() for chat, _ in visits if chat.lstrip("-").isdigit()})
    paid = first_payments(session, tenant_id, users) if users else {}
    return {ref: sum(1 for chat, at in starts.get(ref, []) if _after(paid.get(_int(chat)), at)) for ref in refs}


def _int(chat: str) -> int | None:
    return int(chat) if chat.lstrip("-").isdigit() else None


def _after(paid_at: datetime | None, started_at: datetime) -> bool:
    return paid_at is not None and paid_at >= started_at  # both aware UTC: read through the models
