"""Claim queries of the outbox: which messages a sender may take now, taken atomically.

A claim is a short transaction that selects due messages that are the *head of their lane* (the
message in flight to that chat through that bot, else the oldest pending one that holds the lane:
due now, or claimed before; see :class:`OutboxMessage`) and whose chat is not being
paced, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL or under ``BEGIN IMMEDIATE`` on SQLite, marks
them ``sending`` with a claim token and a lease, and commits. A crashed sender's lease expires and
the message is claimed again (at-least-once: Telegram has no idempotency key).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select, tuple_

from promostack_cli.core import claims
from promostack_cli.core.clock import epoch, from_epoch, to_epoch
from promostack_cli.db import Database
from promostack_cli.outbox.models import ChatState, OutboxMessage, OutboxStatus

LEASE_SECONDS = 120

# the outbox as a leased queue: pending messages are due at not_before; "sending" ones are claimed
OUTBOX = claims.Leased(OutboxMessage.__table__, claimed=OutboxStatus.sending.value,
                       waiting=(OutboxStatus.pending.value,), due_column="not_before")


@dataclass
class Claimed:
    id: int
    tenant_id: int
    bot_role: str
    chat_id: str
    chat_kind: str
    method: str
    payload: dict
    attempts: int
    blocked: bool
    claim_token: str = ""     # claimed_by value of this claim: unique per claim, not per process
    lease_until: float = 0.0  # epoch; past it another sender may take the message

    @property
    def lane_key(self) -> tuple[int, str]:
        return (self.tenant_id, self.bot_role)


def _lane_heads(now):
    """Ids of the head of every lane at ``now``: its message in flight, else its oldest holding one.

    Never two in flight for one chat: while a lane has a ``sending`` message, that message is the
    head (an older message queued again by ``outbox retry`` waits for it). A pending message holds
    its lane when it is due or has been claimed before (a retry backoff or 429 keeps its place); a
    message merely scheduled for later does not, so it cannot block what is due in its chat.

    A GROUP BY is linear whatever the planner believes about the table (a correlated NOT EXISTS
    became a quadratic nested loop on a freshly filled outbox with stale statistics).
    """
    from sqlalchemy import case, func

    o = OutboxMessage
    in_flight = func.min(case((o.status == OutboxStatus.sending, o.id)))
    holds = or_(o.status == OutboxStatus.sending, o.not_before <= now, o.first_claimed_at.is_not(None))
    return (
        select(func.coalesce(in_flight, func.min(o.id)).label("id"))
        .where(o.status.in_([OutboxStatus.pending, OutboxStatus.sending]), holds)
        .group_by(o.tenant_id, o.bot_role, o.chat_id)
        .subquery("lane_heads")
    )


def claim(db: Database, worker: str, limit: int, *, tenant_id: int | None = None,
          lease_seconds: float = LEASE_SECONDS, per_bot: int | None = None,
          now: float | None = None, clock=epoch, skip: set[tuple[int, str]] | None = None) -> list[Claimed]:
    """Claim up to ``limit`` due lane heads whose chat may receive a message now.

    ``skip``: (tenant_id, bot_role) pairs not to claim for (their bot has no send slot left for
    this sender before its deadline).

    Fair across bots: at most ``per_bot`` messages per (tenant, bot role) are taken, interleaved
    (the 1st of every bot, then the 2nd...), so one tenant's backlog cannot starve the others.
    Within a bot, interactive messages (``priority`` 0: the answer to a user's /start, reply or
    button) come before the rest, oldest first: a new user is not kept waiting behind a broadcast.
    """
    from sqlalchemy import func

    now_ts = clock() if now is None else now
    now = from_epoch(now_ts)
    o, cs = OutboxMessage, ChatState
    lane_join = and_(cs.tenant_id == o.tenant_id, cs.bot_role == o.bot_role, cs.chat_id == o.chat_id)
    # replies to what a user just did go before bulk sends of the same bot; per chat, order is by id
    rank = func.row_number().over(partition_by=(o.tenant_id, o.bot_role), order_by=(o.priority, o.id)).label("rank")
    heads = _lane_heads(now)
    candidates = (
        select(o.id, rank)
        .join(heads, heads.c.id == o.id)
        .outerjoin(cs, lane_join)
        .where(claims.due(OUTBOX, now), or_(cs.id.is_(None), cs.next_send_at <= now_ts, cs.blocked_at.is_not(None)))
    )
    if tenant_id is not None:
        candidates = candidates.where(o.tenant_id == tenant_id)
    if skip:
        candidates = candidates.where(tuple_(o.tenant_id, o.bot_role).not_in(sorted(skip)))
    ranked = candidates.subquery()
    picked = select(ranked.c.id, ranked.c.rank).where(ranked.c.rank <= (per_bot or limit)).order_by(ranked.c.rank, ranked.c.id).limit(limit).subquery()
    q = (
        select(o.id, o.tenant_id, o.bot_role, o.chat_id, o.chat_kind, o.method, o.payload, o.attempts, cs.blocked_at)
        .outerjoin(cs, lane_join)
        .join(picked, picked.c.id == o.id)
        # re-checked on the latest row version after the lock: a row another sender claimed
        # and committed meanwhile is no longer due and drops out
        .where(claims.due(OUTBOX, now))
        .order_by(picked.c.rank, o.id)
    )
    token = claims.new_token(worker)
    with db.transaction() as session:
        claims.linear_plans(session)
        rows = session.execute(claims.lock_due(q, session, o)).all()
        if not rows:
            return []
        claimed_at = max(clock(), now_ts)  # after the select: a slow query must not shorten the lease we rely on
        claims.take(session, OUTBOX, [r.id for r in rows], token, from_epoch(claimed_at + lease_seconds),
                    updated_at=from_epoch(claimed_at),
                    first_claimed_at=func.coalesce(o.first_claimed_at, from_epoch(claimed_at)))
    return [Claimed(r.id, r.tenant_id, r.bot_role, r.chat_id, r.chat_kind, r.method, dict(r.payload), r.attempts,
                    r.blocked_at is not None, token, claimed_at + lease_seconds) for r in rows]


def next_due_head(db: Database, *, tenant_id: int | None = None, now: float | None = None, clock=epoch,
                  skip: set[tuple[int, str]] | None = None) -> float | None:
    """Epoch time at which the earliest pending lane head becomes due (None: no pending work).

    A head that is due but not claimable is waiting for its chat's pacing or its bot's pause.
    Messages scheduled for later (which hold no lane yet) count from their ``not_before``.
    ``skip`` as for :func:`claim`.
    """
    from sqlalchemy import func

    o = OutboxMessage
    at = from_epoch(clock() if now is None else now)
    heads = _lane_heads(at)
    held = select(func.min(o.not_before)).join(heads, heads.c.id == o.id).where(o.status == OutboxStatus.pending)
    scheduled = select(func.min(o.not_before)).where(o.status == OutboxStatus.pending, o.not_before > at,
                                                     o.first_claimed_at.is_(None))
    earliest = []
    with db.transaction() as session:
        claims.linear_plans(session)
        for q in (held, scheduled):
            if tenant_id is not None:
                q = q.where(o.tenant_id == tenant_id)
            if skip:
                q = q.where(tuple_(o.tenant_id, o.bot_role).not_in(sorted(skip)))
            value = session.execute(q).scalar()
            if value is not None:
                earliest.append(value)
    return to_epoch(min(earliest)) if earliest else None
