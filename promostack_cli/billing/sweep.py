"""The billing sweep (a ``scheduler tick`` step): access that should change with no event at all.

* Members whose ``review_at`` passed (a paid period, grace or manual grant ended): access is
  checked again and removed if nothing entitles them any more — a cancellation at period end, a
  deletion webhook that never came.
* Linked subscriptions that entitle a user who never got access (an event applied while the
  access step failed, a link made by ``billing sync``): access is granted.
* Personal invite links (access mode ``invite_link``) that expired unused: revoked.

Source-neutral: every payment source's subscriptions are read the same way (:mod:`.due`, :mod:`.sources`).

Database-only work, claimed in-transaction with :func:`promostack_cli.core.claims.lock_due`
(concurrent ticks take disjoint members on PostgreSQL); the access calls go into the outbox.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, update
from sqlmodel import select

from promostack_cli.billing import channel, due
from promostack_cli.billing.access import reconcile
from promostack_cli.billing.config import load
from promostack_cli.billing.models import BillingMember, TelegramSubscription
from promostack_cli.core import claims

BATCH = 200


def _left_out(session, now: datetime, tenant_id: int | None) -> list[tuple[int, int]]:
    s, m = TelegramSubscription, BillingMember
    q = (select(s.tenant_id, s.telegram_user_id).outerjoin(
        m, and_(m.tenant_id == s.tenant_id, m.telegram_user_id == s.telegram_user_id))
        .where(due.entitles(s.__table__.c, now), due.without_access(m.__table__.c)).distinct().limit(BATCH))
    if tenant_id is not None:
        q = q.where(s.tenant_id == tenant_id)
    return [(t, u) for t, u in session.exec(q).all()]


def sweep(db, box, now: datetime, *, tenant_id: int | None = None) -> dict[str, int]:
    counts = {"checked": 0, "granted": 0, "removed": 0, "links_revoked": 0}
    with db.transaction() as session:
        counts["links_revoked"] = channel.expire(session, now, tenant_id)
        q = (select(BillingMember).where(due.review_due(BillingMember.__table__.c, now))
             .order_by(BillingMember.review_at).limit(BATCH))
        if tenant_id is not None:
            q = q.where(BillingMember.tenant_id == tenant_id)
        reviews = [(m.tenant_id, m.telegram_user_id) for m in session.exec(claims.lock_due(q, session)).all()]
        configs: dict[int, object] = {}
        for tid, uid in reviews + _left_out(session, now, tenant_id):
            if tid not in configs:
                configs[tid] = load(session, tid, box)
            cfg = configs[tid]
            counts["checked"] += 1
            if cfg is None:  # billing was removed: nothing to review
                session.exec(update(BillingMember).where(BillingMember.tenant_id == tid).values(review_at=None))
                continue
            changed = reconcile(session, cfg, uid, now, "sweep: paid period or grace ended")
            if changed:
                counts[changed] += 1
    return counts
