"""What the receiver's tick step has to do, written once: a stored update no receiver processed
(``RECEIVED``). Used by the idle check (Core, no ORM) and by :mod:`.inbox` (the batch it takes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, column, exists, select, table

RECEIVED = "received"

telegram_updates = table("telegram_updates", column("id", Integer), column("tenant_id", Integer),
                         column("status", String))


def unprocessed(u):
    """``u``: telegram_updates' columns."""
    return u.status == RECEIVED


def updates_due(conn, now: datetime, deadline: datetime, tenant_id: int | None = None) -> bool:
    u = telegram_updates.c
    q = select(u.id).where(unprocessed(u))
    if tenant_id is not None:
        q = q.where(u.tenant_id == tenant_id)
    return bool(conn.execute(select(exists(q))).scalar())
