"""Whether the billing sweep has work, in SQLAlchemy Core (no ORM), with the conditions of
``sweep.sweep``: a member whose review time passed, a linked subscription that entitles a user
who has no access, or a personal invite link that expired unused. Conservative: it may find work the sweep then does not do, never the reverse."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, column, exists, or_, select, table

KEEP_ACCESS = ("trialing", "active")   # billing.models.KEEP_ACCESS

members = table("billing_members", column("id", Integer), column("tenant_id", Integer),
                column("telegram_user_id", BigInteger), column("access", String),
                column("review_at", DateTime(timezone=True)))
subscriptions = table("telegram_subscriptions", column("tenant_id", Integer), column("telegram_user_id", BigInteger),
                      column("status", String), column("revoked_at", DateTime(timezone=True)),
                      column("current_period_end", DateTime(timezone=True)))
invites = table("billing_invites", column("id", BigInteger), column("tenant_id", Integer), column("status", String),
                column("expires_at", DateTime(timezone=True)))


def sweep_due(conn, now: datetime, *, tenant_id: int | None = None) -> bool:
    m, s = members, subscriptions
    review = select(m.c.id).where(m.c.review_at <= now)
    has_access = select(m.c.id).where(m.c.tenant_id == s.c.tenant_id, m.c.telegram_user_id == s.c.telegram_user_id,
                                      m.c.access != "none")
    left_out = select(s.c.tenant_id).where(
        s.c.telegram_user_id.is_not(None), s.c.revoked_at.is_(None), s.c.status.in_(KEEP_ACCESS),
        or_(s.c.current_period_end.is_(None), s.c.current_period_end > now), ~exists(has_access))
    expired = select(invites.c.id).where(invites.c.status == "open", invites.c.expires_at <= now)
    if tenant_id is not None:
        review = review.where(m.c.tenant_id == tenant_id)
        left_out = left_out.where(s.c.tenant_id == tenant_id)
        expired = expired.where(invites.c.tenant_id == tenant_id)
    return bool(conn.execute(select(or_(exists(review), exists(left_out), exists(expired)))).scalar())
