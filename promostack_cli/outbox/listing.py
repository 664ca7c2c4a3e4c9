"""Outbox messages as ``outbox list`` shows them: read in SQLAlchemy Core.

Listing reads and changes nothing, so it needs no ORM model (loading SQLModel and the models costs
more than the rest of the command); :func:`describe` takes any row with the message's columns (a
Core row here, an ``OutboxMessage`` elsewhere).
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import JSON, BigInteger, Integer, String, column, select, table

from promostack_cli.core.types import UTCDateTime

outbox_messages = table(
    "outbox_messages", column("id", BigInteger), column("tenant_id", Integer), column("status", String),
    column("bot_role", String), column("chat_id", String), column("method", String), column("payload", JSON()),
    column("attempts", Integer), column("rate_limited", Integer), column("not_before", UTCDateTime()),
    column("telegram_message_id", BigInteger), column("last_error", String), column("source", String),
    column("created_at", UTCDateTime()), column("updated_at", UTCDateTime()), column("sent_at", UTCDateTime()))


def listing(conn, tenant_id: int, *, statuses: Iterable[str] = (), chat_id: str | None = None,
            limit: int = 50) -> list[dict]:
    """The tenant's messages, newest first."""
    o = outbox_messages.c
    q = select(outbox_messages).where(o.tenant_id == tenant_id)
    statuses = list(statuses)
    if statuses:
        q = q.where(o.status.in_(statuses))
    if chat_id:
        q = q.where(o.chat_id == chat_id)
    return [describe(row) for row in conn.execute(q.order_by(o.id.desc()).limit(limit))]


def describe(msg) -> dict:
    return {
        "id": msg.id,
        "status": msg.status,
        "bot": msg.bot_role,
        "chat_id": msg.chat_id,
        "method": msg.method,
        "text": msg.payload.get("text", ""),
        "attempts": msg.attempts,
        "rate_limited": msg.rate_limited,
        "not_before": msg.not_before.isoformat(),
        "telegram_message_id": msg.telegram_message_id,
        "error": msg.last_error,
        "source": msg.source,
        "created_at": msg.created_at.isoformat(),
        "updated_at": msg.updated_at.isoformat(),
        "sent_at": msg.sent_at.isoformat() if msg.sent_at else None,
    }
