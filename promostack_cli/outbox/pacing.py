"""A bot's send schedule, shared by every process that sends for it, that cannot run away.

Each bot has one ``bot_rate_limits`` row: ``next_slot_at`` (the next free send slot, GCRA) and
``paused_until`` (a 429's ``retry_after``). A sender reserves slots before it sends; slots are
``interval`` apart, so all processes together stay under the bot's rate however many run.

The rule that keeps the schedule honest: **a slot is granted only if it falls within ``horizon``
seconds of real time and before the caller's own deadline.** A reservation is therefore always for
sends that will happen, and ``next_slot_at`` is never more than ``horizon`` (plus one interval)
ahead of the clock. A sender that is refused waits until the schedule comes within its horizon and
asks again; it never reserves slots it might not use. (The schedule used to grant every slot asked
for; slots past a sender's deadline were never given back, so at every loop boundary and during
every 429 pause the schedule ran further ahead of every sender, and the bot stopped delivering.)

During a 429 pause no slot is granted (every slot would fall after ``paused_until``); the first
slots after it are granted ``horizon`` before it ends, so sending resumes as the pause ends.

PostgreSQL: one autocommitted statement (the row lock lives only inside it). SQLite: one short
``BEGIN IMMEDIATE`` transaction. Reservations are not critical data: PostgreSQL writes them with
``synchronous_commit=off``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import text, update

from promostack_cli.core.upsert import upsert
from promostack_cli.db import Database, get_engine
from promostack_cli.outbox.models import BotRateLimit

HORIZON_SECONDS = 1.0

_PG_RESERVE = text("""
WITH cur AS (
    SELECT bot_id, GREATEST(next_slot_at, paused_until, :now) AS base
    FROM bot_rate_limits WHERE bot_id = :bot FOR UPDATE
), g AS (
    SELECT bot_id, base,
           CASE WHEN base > :limit THEN 0
                ELSE LEAST(:want, FLOOR((:limit - base) / :iv)::integer + 1) END AS n
    FROM cur
), upd AS (
    UPDATE bot_rate_limits t SET next_slot_at = g.base + g.n * :iv
    FROM g WHERE t.bot_id = g.bot_id AND g.n > 0
)
SELECT base, n FROM g
""")


@dataclass(frozen=True)
class Grant:
    """Slots granted by one reservation.

    ``retry_at``: when asking again for more can succeed; ``math.inf`` when the bot's next free
    slot lies after the caller's ``until`` (no more slots for this caller: hand its work back).
    """

    slots: list[float]
    retry_at: float

    @property
    def exhausted(self) -> bool:
        return self.retry_at == math.inf


def _granted(base: float, want: int, limit: float, interval: float) -> int:
    if base > limit:
        return 0
    return min(want, int(math.floor((limit - base) / interval)) + 1)


class Pacer:
    """Reserves send slots of bots from the shared schedule (see the module docstring)."""

    def __init__(self, db: Database, interval: float, *, horizon: float = HORIZON_SECONDS):
        self.db = db
        self.interval = interval
        self.horizon = horizon

    def reserve(self, bot_id: int, tenant_id: int, want: int, *, now: float, until: float) -> Grant:
        """Up to ``want`` slots, each at most ``horizon`` after ``now`` and not after ``until``."""
        limit = min(now + self.horizon, until)
        for _ in range(2):
            row = self._reserve(bot_id, max(want, 0), now, limit)
            if row is not None:
                base, n = float(row[0]), int(row[1])
                slots = [base + i * self.interval for i in range(n)]
                following = base + n * self.interval  # the next free slot: grantable once within the horizon
                return Grant(slots, math.inf if following > until else following - self.horizon)
            with self.db.transaction() as session:  # first send of this bot: create its row, then reserve
                upsert(session, BotRateLimit, {"bot_id": bot_id, "tenant_id": tenant_id, "next_slot_at": 0.0,
                                               "paused_until": 0.0}, ["bot_id"])
        raise RuntimeError(f"cannot reserve a send slot for bot {bot_id}")

    def _reserve(self, bot_id: int, want: int, now: float, limit: float):
        params = {"bot": bot_id, "now": now, "limit": limit, "want": want, "iv": self.interval}
        if self.db.dialect == "postgresql":
            fast = get_engine(self.db.url, async_commit=True)
            with fast.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                return conn.execute(_PG_RESERVE, params).first()
        table = BotRateLimit.__table__
        with self.db.engine.begin() as conn:  # BEGIN IMMEDIATE: the write lock is ours until commit
            row = conn.execute(table.select().with_only_columns(table.c.next_slot_at, table.c.paused_until)
                               .where(table.c.bot_id == bot_id)).first()
            if row is None:
                return None
            base = max(row.next_slot_at, row.paused_until, now)
            n = _granted(base, want, limit, self.interval)
            if n:
                conn.execute(update(table).where(table.c.bot_id == bot_id)
                             .values(next_slot_at=base + n * self.interval))
            return base, n

    def pause(self, bot_id: int, until: float) -> None:
        """A 429: nobody sends for the bot before ``until`` (an earlier pause never shortens a later one)."""
        with self.db.transaction() as session:
            session.execute(
                update(BotRateLimit).where(BotRateLimit.bot_id == bot_id, BotRateLimit.paused_until < until)
                .values(paused_until=until)
            )

    def run_ahead(self, bot_id: int, now: float) -> float:
        """How far the bot's schedule is ahead of ``now`` (0 when it is not): for tests and benchmarks."""
        with self.db.session() as session:
            row = session.execute(
                BotRateLimit.__table__.select().where(BotRateLimit.bot_id == bot_id)).first()
        if row is None:
            return 0.0
        return max(0.0, max(row.next_slot_at, row.paused_until) - now)
