"""Whether the journeys' tick steps have work, in SQLAlchemy Core (no ORM), with the conditions of
``sessions.run_due``, ``end_inactive`` and ``end_blocked``: a session whose delay ended or reply
timed out, a live session idle longer than its journey's ``inactivity_timeout``, a live session in
a chat the outbox marked blocked. A timeout that does not parse counts as work (the step reports it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import JSON, DateTime, Integer, String, and_, column, exists, select, table

from promostack_cli.core.clock import parse_duration
from promostack_cli.journeys.states import AWAITING_REPLY, LIVE, WAITING_DELAY

journeys = table("journeys", column("id", Integer), column("tenant_id", Integer), column("definition", JSON()))
journey_sessions = table("journey_sessions", column("tenant_id", Integer), column("journey_id", Integer),
                         column("chat_id", String), column("status", String), column("wake_at", DateTime(timezone=True)),
                         column("last_activity_at", DateTime(timezone=True)))
chat_states = table("chat_states", column("tenant_id", Integer), column("bot_role", String),
                    column("chat_id", String), column("blocked_at", DateTime(timezone=True)))


def _exists(conn, q, tenant_id: int | None) -> bool:
    if tenant_id is not None:
        q = q.where(journey_sessions.c.tenant_id == tenant_id)
    return bool(conn.execute(select(exists(q))).scalar())


def timers_due(conn, now: datetime, *, tenant_id: int | None = None) -> bool:
    js = journey_sessions
    return _exists(conn, select(js.c.status).where(js.c.status.in_([WAITING_DELAY, AWAITING_REPLY]),
                                                   js.c.wake_at <= now), tenant_id)


def inactive_due(conn, now: datetime, *, tenant_id: int | None = None) -> bool:
    j, js = journeys, journey_sessions
    q = select(j.c.id, j.c.definition)
    if tenant_id is not None:
        q = q.where(j.c.tenant_id == tenant_id)
    for journey_id, definition in conn.execute(q):
        timeout = (definition or {}).get("inactivity_timeout")
        if not timeout:
            continue
        try:
            cutoff = now - timedelta(seconds=parse_duration(timeout))
        except (TypeError, ValueError):
            return True
        idle = select(js.c.status).where(js.c.journey_id == journey_id, js.c.status.in_(LIVE),
                                         js.c.last_activity_at < cutoff)
        if _exists(conn, idle, None):
            return True
    return False


def blocked_due(conn, *, tenant_id: int | None = None) -> bool:
    js, cs = journey_sessions, chat_states
    blocked = select(cs.c.chat_id).where(and_(cs.c.tenant_id == js.c.tenant_id, cs.c.chat_id == js.c.chat_id,
                                              cs.c.bot_role == "message_bot", cs.c.blocked_at.is_not(None)))
    return _exists(conn, select(js.c.status).where(js.c.status.in_(LIVE), blocked.exists()), tenant_id)
