"""``crosspromo stats``: per post and per kind, posts sent, the /starts that came through them and
the paid conversions (users who came through a post and then paid: :mod:`promostack_cli.attribution`
counts them from billing's payments)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import func, select

from promostack_cli.crosspromo.models import CrossPromoPost, CrossPromoStart
from promostack_cli.outbox.models import OutboxMessage, OutboxStatus

# (session, tenant_id, refs) -> {ref: paid users}; billing provides it once it records payments
ConversionSource = Callable[..., dict[str, int]]


@dataclass
class PostFigures:
    post_id: int
    kind: str
    ref: str
    created_at: datetime
    status: str            # the message's outbox status
    starts: int
    conversions: int | None

    def as_dict(self) -> dict:
        return {"post": self.post_id, "kind": self.kind, "ref": self.ref, "created_at": self.created_at.isoformat(),
                "status": self.status, "starts": self.starts, "conversions": self.conversions}


def starts_of(session, tenant_id: int, refs: list[str]) -> dict[str, list[tuple[str, datetime]]]:
    """``{ref: [(chat id, first /start through it)]}``."""
    s = CrossPromoStart
    out: dict[str, list[tuple[str, datetime]]] = {}
    if not refs:
        return out
    for ref, chat, at in session.execute(select(s.ref, s.chat_id, s.started_at).where(
            s.tenant_id == tenant_id, s.ref.in_(refs))).all():
        out.setdefault(ref, []).append((chat, at))
    return out


def recent_refs(session, tenant_id: int, now: datetime, days: int) -> list[str]:
    """The codes of the posts queued in the last ``days`` days."""
    p = CrossPromoPost
    return list(session.execute(select(p.ref).where(p.tenant_id == tenant_id,
                                                    p.created_at >= now - timedelta(days=days))).scalars())


def post_figures(session, tenant_id: int, now: datetime, days: int,
                 conversions: ConversionSource | None = None) -> list[PostFigures]:
    p, o, s = CrossPromoPost, OutboxMessage, CrossPromoStart
    starts = (select(s.ref, func.count().label("n")).where(s.tenant_id == tenant_id).group_by(s.ref).subquery())
    rows = session.execute(
        select(p.id, p.kind, p.ref, p.created_at, o.status, func.coalesce(starts.c.n, 0))
        .outerjoin(o, o.id == p.outbox_id).outerjoin(starts, starts.c.ref == p.ref)
        .where(p.tenant_id == tenant_id, p.created_at >= now - timedelta(days=days)).order_by(p.created_at, p.id)
    ).all()
    paid = conversions(session, tenant_id, [r[2] for r in rows]) if conversions else None
    return [PostFigures(i, kind, ref, at, status or "unknown", n, (paid or {}).get(ref, 0) if paid is not None else None)
            for i, kind, ref, at, status, n in rows]


def by_kind(figures: list[PostFigures]) -> list[dict]:
    out: dict[str, dict] = {}
    for f in figures:
        row = out.setdefault(f.kind, {"kind": f.kind, "posts": 0, "sent": 0, "starts": 0, "conversions": None})
        row["posts"] += 1
        row["sent"] += f.status in (OutboxStatus.sent, OutboxStatus.dry_run)
        row["starts"] += f.starts
        if f.conversions is not None:
            row["conversions"] = (row["conversions"] or 0) + f.conversions
    return list(out.values())
