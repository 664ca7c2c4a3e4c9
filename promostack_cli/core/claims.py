"""Every query that claims due work, in one place: each has a name, each knows both dialects.

Like procrastinate's ``sql/queries.sql`` + ``manager.py``: the domains (outbox, journey timers,
forex monitor, job runs, cross promo, billing sweeps) describe *which* rows are due; how rows are
taken, leased, handed back and finished is written once, here.

Three ways to claim work:

``lock_due`` — **in-transaction claim**, for work that only touches the database (journey timers,
    inactive sessions, the forex monitor): the due rows are locked until the caller's transaction
    ends. PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so concurrent ticks take disjoint rows and never
    wait for each other. SQLite: every transaction is ``BEGIN IMMEDIATE`` (see :mod:`promostack_cli.db`),
    which serialises writers; the clause is not needed.

``take`` / ``renew`` / ``hand_back`` / ``finish`` — **leased claim**, for work that calls HTTP
    (outbox messages, cross-promo jobs): a short transaction locks the due rows (``lock_due``) and
    marks them claimed with a token unique to this claim and a lease expiry, and commits. The HTTP
    call happens outside any transaction. Outcomes are written ``WHERE id = ? AND claimed_by = token``:
    a worker whose lease expired and whose row another worker took changes nothing. A row whose
    lease expired is due again (:func:`due`): a crashed worker's work is claimed again.

``claim_period`` — **once per period** (a check per candle close, a briefing per day, a daily
    cross-promo post): a unique row per (tenant, kind, period) is inserted, or taken over when it
    failed or its lease expired; any number of overlapping runs on any number of machines run each
    period once.

``serialise`` / ``try_serialise`` order transactions on a key (one Telegram user's updates, one
bot's inbox) without a row to lock: a PostgreSQL advisory lock, SQLite's write lock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, and_, bindparam, or_, text, update

if TYPE_CHECKING:  # the idle tick's due checks build conditions with this module and load no ORM
    from sqlalchemy.orm import Session


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# -- in-transaction claims and locks ------------------------------------------------------------

def lock_due(stmt, session: Session, *of):
    """``stmt`` (a SELECT of due rows) locking what it returns, skipping rows others hold.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED [OF of...]``. SQLite: unchanged (``BEGIN IMMEDIATE``
    already holds the database's write lock for the whole transaction).
    """
    if _postgres(session):
        return stmt.with_for_update(skip_locked=True, of=of or None)
    return stmt


def lock(stmt, session: Session):
    """``stmt`` locking what it returns, waiting for rows others hold (a no-op on SQLite)."""
    if _postgres(session):
        return stmt.with_for_update()
    return stmt


# An advisory lock's key is database-wide, not per schema: two deployments (or test runs) in one
# database under different search_paths must not serialise on each other's keys. The server hashes
# the schema in use with the parts (PostgreSQL 11+), so every process of one deployment agrees on
# the key whatever host name or URL it connects with.
_SCOPED_KEY = "hashtextextended(current_schema() || chr(31) || :parts, 0)"


def _parts(parts: tuple) -> str:
    return "\x1f".join(map(str, parts))


def serialise(session: Session, *parts: object) -> None:
    """Serialise this transaction with every other one that serialises on the same key, until it ends.

    PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of ``parts`` (waits for it;
    taking it twice in one transaction is fine). SQLite: nothing to do, every transaction already
    holds the database's write lock.
    """
    if _postgres(session):
        session.execute(text(f"SELECT pg_advisory_xact_lock({_SCOPED_KEY})"), {"parts": _parts(parts)})


def serialise_all(session: Session, keys: list[tuple]) -> None:
    """:func:`serialise` on every key of ``keys`` with one statement (PostgreSQL: the advisory locks
    are taken in the order of their hashes, so two transactions locking overlapping sets never
    deadlock on each other)."""
    if keys and _postgres(session):
        session.execute(text(f"SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT {_ALL_KEYS} AS k "
                             "FROM unnest(CAST(:parts AS text[])) AS p ORDER BY k) AS keys"),
                        {"parts": [_parts(key) for key in keys]})


_ALL_KEYS = _SCOPED_KEY.replace(":parts", "p")


def try_serialise(session: Session, *parts: object) -> bool:
    """Like :func:`serialise` without waiting: False when another transaction holds the key."""
    if not _postgres(session):
        return True
    return bool(session.execute(text(f"SELECT pg_try_advisory_xact_lock({_SCOPED_KEY})"),
                                {"parts": _parts(parts)}).scalar())


def linear_plans(session: Session) -> None:
    """On PostgreSQL, forbid nested-loop joins for the rest of this transaction.

    Right after a burst of inserts the planner's statistics say a queue table is nearly empty and
    it picks nested loops, which are quadratic over thousands of unfinished rows; hash joins over
    them stay linear whatever the statistics say.
    """
    if _postgres(session):
        session.execute(text("SET LOCAL enable_nestloop = off"))


# -- leased claims ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Leased:
    """How a queue table spells its claim: which status means "claimed", which mean "waiting".

    The table has ``id``, ``status``, ``claimed_by`` and ``lease_expires_at`` columns;
    ``due_column`` (a timestamp) says when a waiting row becomes due.
    """

    table: Table
    claimed: str
    waiting: tuple[str, ...]
    due_column: str

    @property
    def c(self):
        return self.table.c


def new_token(worker: str) -> str:
    """A claim token: unique per claim (not per process), so a late outcome of an old claim changes nothing."""
    return f"{worker}/{uuid.uuid4().hex[:10]}"[:80]


def due(spec: Leased, now: datetime):
    """Rows that may be claimed at ``now``: waiting and due, or claimed with an expired lease."""
    c = spec.c
    return or_(
        and_(c.status.in_(spec.waiting), c[spec.due_column] <= now),
        and_(c.status == spec.claimed, c.lease_expires_at < now),
    )


def take(session: Session, spec: Leased, ids: list[int], token: str, until: datetime, **values: Any) -> int:
    """Mark the rows ``ids`` (locked by the caller's ``lock_due`` select) claimed by ``token`` until ``until``."""
    if not ids:
        return 0
    c = spec.c
    result = session.execute(update(spec.table).where(c.id.in_(ids))
                             .values(status=spec.claimed, claimed_by=token, lease_expires_at=until, **values))
    return result.rowcount or 0


def renew(session: Session, spec: Leased, ids: list[int], token: str, until: datetime) -> int:
    """Extend this claim's lease on ``ids``; returns how many rows it still holds."""
    c = spec.c
    result = session.execute(update(spec.table).where(c.id.in_(ids), c.claimed_by == token,
                                                      c.status == spec.claimed)
                             .values(lease_expires_at=until))
    return result.rowcount or 0


def finish(session: Session, spec: Leased, id_: int, token: str, status: str, **values: Any) -> bool:
    """Record the outcome of one claimed row; False when this claim no longer holds it."""
    c = spec.c
    result = session.execute(update(spec.table).where(c.id == id_, c.claimed_by == token)
                             .values(status=status, claimed_by=None, lease_expires_at=None, **values))
    return (result.rowcount or 0) > 0


def finish_many(session: Session, spec: Leased, rows: list[dict], **values: Any) -> int:
    """Record many outcomes in one executemany.

    Each row carries ``b_id`` and ``b_claim`` (the claim token) plus the bind parameters that
    ``values`` refer to; the claim is released. Returns how many rows this claim still held.
    """
    if not rows:
        return 0
    c = spec.c
    stmt = (update(spec.table).where(c.id == bindparam("b_id"), c.claimed_by == bindparam("b_claim"))
            .values(claimed_by=None, lease_expires_at=None, **values))
    result = session.execute(stmt, rows)
    return result.rowcount if result.rowcount and result.rowcount > 0 else 0


def hand_back(session: Session, spec: Leased, rows: list[dict], **values: Any) -> int:
    """Return claimed rows to their first waiting status (a retry later, a send slot not granted)."""
    return finish_many(session, spec, rows, status=spec.waiting[0], **values)


# -- once per period ----------------------------------------------------------------------------

def period_open(c, now: datetime, max_attempts: int):
    """``c``: a period table's columns. A run that may be taken: new, failed with tries left, or
    running with an expired lease (a period with no row at all is open too)."""
    return and_(c.attempts < max_attempts,
                or_(c.status.in_(("new", "failed")), and_(c.status == "running", c.lease_expires_at < now)))


def claim_period(session: Session, table: Table, key: dict, worker: str, now: datetime, *,
                 lease_seconds: float, max_attempts: int) -> int | None:
    """Own the run of ``key`` (tenant_id, kind, period...) at ``now``; its row id, or None.

    The row is created ``new`` if absent; it is taken when ``new``, ``failed`` (fewer than
    ``max_attempts`` tries) or ``running`` with an expired lease. Statuses: new → running →
    done | failed.
    """
    from promostack_cli.core.upsert import upsert

    upsert(session, table, {**key, "status": "new", "attempts": 0, "started_at": now}, list(key))
    c = table.c
    got = session.execute(
        update(table)
        .where(*(c[k] == v for k, v in key.items()), period_open(c, now, max_attempts))
        .values(status="running", claimed_by=worker, lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=c.attempts + 1, started_at=now)
        .returning(c.id)
    ).first()
    return None if got is None else got[0]


def finish_period(session: Session, table: Table, key: dict, worker: str, now: datetime, *, ok: bool,
                  detail: str | None = None) -> bool:
    """Record the end of a run this worker owns; False if it no longer owns it (lease expired, taken over)."""
    c = table.c
    result = session.execute(
        update(table).where(*(c[k] == v for k, v in key.items()), c.claimed_by == worker, c.status == "running")
        .values(status="done" if ok else "failed", detail=detail, finished_at=now, lease_expires_at=None))
    return (result.rowcount or 0) > 0
