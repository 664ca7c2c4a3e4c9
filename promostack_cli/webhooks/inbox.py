"""The stored updates: written first (``received``), processed after, in batches, per bot.

* :func:`store` writes many updates in one statement (``INSERT ... ON CONFLICT DO NOTHING
  RETURNING``, :func:`~promostack_cli.core.bulk.insert_rows`) and says, per update, ``stored`` or
  ``duplicate``; a body that is not an update is stored at once as ``failed`` (``webhook failures``).
* :func:`take` opens a bot's batch: a transaction-scoped try-lock on the bot (one processor per bot
  at a time, across processes: a bot's updates are processed in ``update_id`` order, never two
  batches' user locks crossing) and then its oldest ``received`` rows (plain rows, no ORM objects).
  The caller processes them and :func:`mark` records their outcomes; the status change and every
  effect commit together.
* :func:`pending_bots`: the bots with ``received`` rows (``scheduler tick`` processes what a crashed
  receiver left).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from promostack_cli.core import claims
from promostack_cli.core.bulk import insert_rows, update_rows
from promostack_cli.telegram.updates import BotRef, Envelope
from promostack_cli.webhooks.due import RECEIVED, unprocessed
from promostack_cli.webhooks.models import TelegramUpdate

_u = TelegramUpdate.__table__.c


@dataclass(frozen=True)
class Incoming:
    bot: BotRef
    envelope: Envelope | None        # None: the body is not an update
    body: bytes = b""
    error: str | None = None         # why it is not an update


def store(session, items: list[Incoming], now: datetime) -> list[str]:
    """Write ``items`` in the caller's transaction (a Session, or a Connection: the receiver skips the
    ORM); per item ``stored``, ``duplicate`` or ``failed``."""
    conn = session.connection() if isinstance(session, Session) else session
    table = TelegramUpdate.__table__
    rows, seen = [], set()
    for item in items:
        env = item.envelope
        if env is not None and (item.bot.bot_id, env.update_id) not in seen:
            seen.add((item.bot.bot_id, env.update_id))
            rows.append({"tenant_id": item.bot.tenant_id, "bot_id": item.bot.bot_id, "bot_role": item.bot.role,
                         "update_id": env.update_id, "kind": env.kind, "payload": env.update, "status": RECEIVED,
                         "received_at": now})
    # one statement for the batch; a row whose (bot, update_id) is stored already is not inserted
    # (the table's only other unique key is its id)
    fresh = {(b, u) for b, u in insert_rows(conn, table, rows, returning=("bot_id", "update_id"), skip_conflicts=True)}
    out = []
    for item in items:
        if item.envelope is None:
            conn.execute(insert(table).values(
                tenant_id=item.bot.tenant_id, bot_id=item.bot.bot_id, bot_role=item.bot.role, kind="malformed",
                raw=item.body[:65536].decode("utf-8", "replace"), status="failed", error=(item.error or "")[:500],
                received_at=now))
            out.append("failed")
            continue
        key = (item.bot.bot_id, item.envelope.update_id)
        if key in fresh:
            fresh.discard(key)  # a second copy in the same batch is a duplicate
            out.append("stored")
        else:
            out.append("duplicate")
    return out


def take(session: Session, bot: BotRef, limit: int) -> list | None:
    """The bot's oldest unprocessed updates (rows of id, update_id, payload, received_at), or None
    when another transaction is processing this bot."""
    if not claims.try_serialise(session, "telegram-updates", bot.bot_id):
        return None
    return list(session.execute(sa_select(_u.id, _u.update_id, _u.payload, _u.received_at)
                                .where(_u.bot_id == bot.bot_id, unprocessed(_u)).order_by(_u.update_id).limit(limit)))


def mark(session: Session, outcomes: list[tuple[int, str, str | None, str | None]], now: datetime) -> None:
    """Record what became of each processed update — (id, status, result, error) — in one
    statement (executemany)."""
    if not outcomes:
        return
    update_rows(session, TelegramUpdate.__table__, [{"id": i, "status": st, "result": res, "error": err}
                                                    for i, st, res, err in outcomes], processed_at=now)


def pending_bots(session: Session, tenant_id: int | None = None) -> list[BotRef]:
    q = select(TelegramUpdate.tenant_id, TelegramUpdate.bot_id, TelegramUpdate.bot_role).where(unprocessed(_u)).distinct()
    if tenant_id is not None:
        q = q.where(TelegramUpdate.tenant_id == tenant_id)
    return [BotRef(t, b, r) for t, b, r in session.exec(q)]
