"""What the journeys' tick steps have to do, written once: each condition below is used by the idle
check (``*_due``, SQLAlchemy Core on light table clauses, no ORM) and by the step's own query in
:mod:`.sessions` (on the ORM table's columns), so the two cannot drift apart.

* timers: a session whose delay ended or reply timed out;
* inactive: a live session idle longer than its journey's ``inactivity_timeout``;
* blocked: a live session in a chat the outbox marked blocked (a 403 to a send).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import JSON, Integer, String, and_, column, exists, select, table

from promostack_cli.core.types import UTCDateTime
from promostack_cli.core.clock import parse_duration
from promostack_cli.journeys.states import AWAITING_REPLY, LIVE, WAITING_DELAY

log = logging.getLogger(__name__)

journeys = table("journeys", column("id", Integer), column("tenant_id", Integer), column("definition", JSON()))
journey_sessions = table("journey_sessions", column("id", Integer), column("tenant_id", Integer),
                         column("journey_id", Integer), column("chat_id", String), column("status", String),
                         column("wake_at", UTCDateTime()), column("last_activity_at", UTCDateTime()))
chat_states = table("chat_states", column("tenant_id", Integer), column("bot_role", String),
                    column("chat_id", String), column("blocked_at", UTCDateTime()))


def timer_ended(s, now: datetime):
    """``s``: journey_sessions' columns. A delay that ended or a reply that timed out."""
    return and_(s.status.in_([WAITING_DELAY, AWAITING_REPLY]), s.wake_at <= now)


def idle(s, journey_id: int, cutoff: datetime):
    """A live session of the journey whose last activity was before ``cutoff``."""
    return and_(s.journey_id == journey_id, s.status.in_(LIVE), s.last_activity_at < cutoff)


def in_blocked_chat(s, c):
    """``c``: chat_states' columns. A live session whose user blocked the message bot."""
    blocked = select(c.chat_id).where(c.tenant_id == s.tenant_id, c.chat_id == s.chat_id,
                                      c.bot_role == "message_bot", c.blocked_at.is_not(None))
    return and_(s.status.in_(LIVE), blocked.exists())


def inactivity_cutoffs(rows, now: datetime) -> list[tuple[int, str, datetime]]:
    """``(journey_id, timeout, cutoff)`` for each (id, definition) with an ``inactivity_timeout``.
    Imports refuse a timeout that is not a duration; one stored otherwise is skipped (and logged)."""
    found = []
    for journey_id, definition in rows:
        timeout = (definition or {}).get("inactivity_timeout")
        if not timeout:
            continue
        try:
            found.append((journey_id, timeout, now - timedelta(seconds=parse_duration(timeout))))
        except (TypeError, ValueError):
            log.warning("journey %s: inactivity_timeout %r is not a duration; its sessions are not ended", journey_id,
                        timeout)
    return found


def _exists(conn, where, tenant_id: int | None) -> bool:
    s = journey_sessions.c
    q = select(s.id).where(where)
    if tenant_id is not None:
        q = q.where(s.tenant_id == tenant_id)
    return bool(conn.execute(select(exists(q))).scalar())


def timers_due(conn, now: datetime, deadline: datetime, tenant_id: int | None = None) -> bool:
    return _exists(conn, timer_ended(journey_sessions.c, now), tenant_id)


def inactive_due(conn, now: datetime, deadline: datetime, tenant_id: int | None = None) -> bool:
    q = select(journeys.c.id, journeys.c.definition)
    if tenant_id is not None:
        q = q.where(journeys.c.tenant_id == tenant_id)
    for journey_id, _timeout, cutoff in inactivity_cutoffs(conn.execute(q), now):
        if _exists(conn, idle(journey_sessions.c, journey_id, cutoff), None):
            return True
    return False


def blocked_due(conn, now: datetime, deadline: datetime, tenant_id: int | None = None) -> bool:
    return _exists(conn, in_blocked_chat(journey_sessions.c, chat_states.c), tenant_id)
