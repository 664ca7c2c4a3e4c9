"""Whether the delivery step may have work before ``deadline``, in SQLAlchemy Core (no ORM).

Conservative: any message in flight (another sender's lease may end before the deadline) or
pending and due before the deadline counts, whether or not its chat's pacing or its bot's pause
lets it go now (``claims.claim`` and ``claims.next_due_head`` decide that)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, and_, column, exists, or_, select, table

from promostack_cli.core.types import UTCDateTime

PENDING, SENDING = "pending", "sending"  # outbox.models.OutboxStatus

outbox_messages = table("outbox_messages", column("tenant_id", Integer), column("status", String),
                        column("not_before", UTCDateTime()))


def delivery_due(conn, now: datetime, deadline: datetime, tenant_id: int | None = None) -> bool:
    o = outbox_messages
    q = select(o.c.status).where(or_(o.c.status == SENDING, and_(o.c.status == PENDING, o.c.not_before < deadline)))
    if tenant_id is not None:
        q = q.where(o.c.tenant_id == tenant_id)
    return bool(conn.execute(select(exists(q))).scalar())
