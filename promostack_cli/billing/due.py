"""What the billing sweep has to do, written once: each condition is used by the idle check
(:func:`sweep_due`, SQLAlchemy Core on light table clauses, no ORM) and by the sweep's own queries
(:mod:`.sweep`, :func:`.channel.expire`, on the ORM tables' columns).

* review: a member whose review time passed (a paid period, grace or manual grant ended);
* left out: a linked subscription that entitles a user who has no access;
* expired: a personal invite link that expired unused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, and_, column, exists, or_, select, table

from promostack_cli.core.types import UTCDateTime

KEEP_ACCESS = ("trialing", "active")   # subscription statuses that keep access

members = table("billing_members", column("id", Integer), column("tenant_id", Integer),
                column("telegram_user_id", BigInteger), column("access", String),
                column("review_at", UTCDateTime()))
subscriptions = table("telegram_subscriptions", column("tenant_id", Integer), column("telegram_user_id", BigInteger),
                      column("status", String), column("revoked_at", UTCDateTime()),
                      column("current_period_end", UTCDateTime()))
invites = table("billing_invites", column("id", BigInteger), column("tenant_id", Integer), column("status", String),
                column("expires_at", UTCDateTime()))


def review_due(m, now: datetime):
    """``m``: billing_members' columns."""
    return m.review_at <= now


def entitles(s, now: datetime):
    """``s``: telegram_subscriptions' columns. A linked subscription that keeps access now."""
    return and_(s.telegram_user_id.is_not(None), s.revoked_at.is_(None), s.status.in_(KEEP_ACCESS),
                or_(s.current_period_end.is_(None), s.current_period_end > now))


def without_access(m):
    """``m``: the member row of a subscription's user (outer-joined: None when there is none)."""
    return or_(m.id.is_(None), m.access == "none")


def invite_expired(i, now: datetime):
    """``i``: billing_invites' columns."""
    return and_(i.status == "open", i.expires_at <= now)


def sweep_due(conn, now: datetime, deadline: datetime, tenant_id: int | None = None) -> bool:
    m, s, i = members.c, subscriptions.c, invites.c
    review = select(m.id).where(review_due(m, now))
    left_out = (select(s.tenant_id)
                .select_from(subscriptions.outerjoin(members, and_(m.tenant_id == s.tenant_id,
                                                                   m.telegram_user_id == s.telegram_user_id)))
                .where(entitles(s, now), without_access(m)))
    expired = select(i.id).where(invite_expired(i, now))
    if tenant_id is not None:
        review, left_out, expired = (review.where(m.tenant_id == tenant_id), left_out.where(s.tenant_id == tenant_id),
                                     expired.where(i.tenant_id == tenant_id))
    return bool(conn.execute(select(or_(exists(review), exists(left_out), exists(expired)))).scalar())
