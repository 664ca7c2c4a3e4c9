"""Whether the receiver's tick step has work, in SQLAlchemy Core (no ORM): any stored update a
receiver did not process (``inbox.RECEIVED``). The idle tick asks this before importing the models."""

from __future__ import annotations

from sqlalchemy import Integer, String, column, exists, select, table

RECEIVED = "received"  # webhooks.inbox.RECEIVED

telegram_updates = table("telegram_updates", column("tenant_id", Integer), column("status", String))


def updates_due(conn, *, tenant_id: int | None = None) -> bool:
    t = telegram_updates
    q = select(t.c.status).where(t.c.status == RECEIVED)
    if tenant_id is not None:
        q = q.where(t.c.tenant_id == tenant_id)
    return bool(conn.execute(select(exists(q))).scalar())
