"""Telegram updates: store once per (bot, update_id), act on them in the same transaction.

The receiver and ``webhook retry`` both call :func:`ingest` / :func:`process`. An update that
reached us is either stored and answered 2xx — processed, or recorded as failed with its payload so
``webhook retry`` can process it later (Telegram holds a bot's later updates back while one keeps
failing, so a bad update must never block the good ones behind it) — or, when the database itself
failed (a lost connection, a serialization failure: :func:`promostack_cli.db.is_transient`), not
stored at all and answered 5xx so that Telegram sends it again. Nothing is acknowledged unstored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from promostack_cli.connections.models import BotConnection
from promostack_cli.core.errors import NotFoundError
from promostack_cli.core.secrets import redact
from promostack_cli.db import is_transient
from promostack_cli.outbox.service import clear_chat_block, mark_chat_blocked
from promostack_cli.webhooks.models import TelegramUpdate

log = logging.getLogger(__name__)

UPDATE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post", "callback_query",
                "my_chat_member", "chat_member", "chat_join_request", "inline_query", "poll", "poll_answer")


@dataclass
class Outcome:
    stored: bool                     # False: a repeat of an update we already have
    status: str = "processed"
    result: str | None = None
    callback_query_id: str | None = None  # to answer right after commit
    enqueued: bool = False           # the transaction queued outbox messages
    notes: list[str] = field(default_factory=list)


def _kind(update: dict) -> str:
    return next((k for k in UPDATE_KINDS if k in update), "unknown")


def _user_vars(user: dict) -> dict[str, str]:
    return {"first_name": str(user.get("first_name") or ""), "last_name": str(user.get("last_name") or ""),
            "username": str(user.get("username") or "")}


def parse_update(body: bytes) -> dict:
    """The update as a dict; ValueError when the body is not a Telegram update."""
    import json

    try:
        update = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    update_id = update.get("update_id") if isinstance(update, dict) else None
    if type(update_id) is not int or update_id < 0:  # bool is an int subclass: true is not an update id
        raise ValueError("not a Telegram update (no integer update_id)")
    return update


def ingest(session: Session, conn: BotConnection, body: bytes, now: datetime) -> Outcome:
    """Store the raw update (deduplicated) and process it in a savepoint; never raises for bad input.

    Raises only database errors (the caller retries the transaction or answers 5xx)."""
    try:
        update = parse_update(body)
    except ValueError as exc:
        row = TelegramUpdate(tenant_id=conn.tenant_id, bot_id=conn.bot_id, bot_role=conn.role, kind="malformed",
                             raw=body[:65536].decode("utf-8", "replace"), status="failed", error=str(exc)[:500],
                             received_at=now)
        session.add(row)
        session.flush()
        return Outcome(stored=True, status="failed", result=str(exc)[:200])
    row = TelegramUpdate(tenant_id=conn.tenant_id, bot_id=conn.bot_id, bot_role=conn.role,
                         update_id=update["update_id"], kind=_kind(update), payload=update, status="received",
                         received_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return Outcome(stored=False, status="duplicate")
    return process(session, conn, row, now)


def process(session: Session, conn: BotConnection, row: TelegramUpdate, now: datetime) -> Outcome:
    """Act on a stored update inside a savepoint: a failure is recorded on the row, not raised."""
    outcome = Outcome(stored=True)
    try:
        with session.begin_nested():
            outcome = _dispatch(session, conn, row.payload or {}, now)
    except Exception as exc:  # noqa: BLE001 - recorded for `webhook failures`, answered 2xx
        if is_transient(exc):  # the database, not the update: roll back and let it be sent again
            raise
        log.exception("update %s of bot %s failed", row.update_id, conn.bot_id)
        outcome = Outcome(stored=True, status="failed", result=None)
        row.error = redact(f"{type(exc).__name__}: {exc}")[:2000]
    row.status, row.result, row.processed_at = outcome.status, outcome.result, now
    if outcome.status != "failed":
        row.error = None
    session.add(row)
    session.flush()
    return outcome


def store_failed(session: Session, conn: BotConnection, body: bytes, error: str, now: datetime) -> TelegramUpdate:
    """Record an update whose processing failed outside the savepoint, with its payload when it has
    one, so that ``webhook retry`` can process it. A repeat of a stored update stays as it is."""
    try:
        update = parse_update(body)
    except ValueError:
        update = None
    row = TelegramUpdate(tenant_id=conn.tenant_id, bot_id=conn.bot_id, bot_role=conn.role, status="failed",
                         update_id=update["update_id"] if update else None,
                         kind=_kind(update) if update else "unprocessed", payload=update,
                         raw=None if update else body[:65536].decode("utf-8", "replace"),
                         error=redact(error)[:2000], received_at=now)
    if update is None:
        session.add(row)
        session.flush()
        return row
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return session.exec(select(TelegramUpdate).where(TelegramUpdate.bot_id == conn.bot_id,
                                                         TelegramUpdate.update_id == update["update_id"])).one()
    return row


def _dispatch(session: Session, conn: BotConnection, update: dict, now: datetime) -> Outcome:
    from promostack_cli.journeys import sessions as journeys

    if conn.role != "message_bot":
        return Outcome(True, "ignored", f"{_kind(update)} to the signal bot")
    if "message" in update:
        msg = update["message"]
        chat, user = msg.get("chat") or {}, msg.get("from") or {}
        if chat.get("type") != "private" or "text" not in msg:
            return Outcome(True, "ignored", "not a private text message")
        chat_id = str(chat["id"])
        _unblock(session, conn, chat_id)
        result = journeys.handle_message(session, conn.tenant_id, chat_id, _user_vars(user), msg["text"], now)
        return Outcome(True, "processed", result, enqueued=True)
    if "callback_query" in update:
        cq = update["callback_query"]
        chat = ((cq.get("message") or {}).get("chat") or {})
        chat_id = str(chat.get("id") or (cq.get("from") or {}).get("id"))
        took = journeys.handle_callback(session, conn.tenant_id, chat_id, str(cq.get("data") or ""), now)
        return Outcome(True, "processed", "button answered a question" if took else "button ignored",
                       callback_query_id=cq.get("id"), enqueued=took)
    if "my_chat_member" in update:
        member = update["my_chat_member"]
        chat = member.get("chat") or {}
        status = ((member.get("new_chat_member") or {}).get("status"))
        if chat.get("type") == "private" and status == "kicked":
            chat_id = str(chat["id"])
            ended = journeys.block_user(session, conn.tenant_id, chat_id, now)
            _block(session, conn, chat_id, now)
            return Outcome(True, "processed", f"user blocked the bot; {ended} session(s) ended")
        if chat.get("type") == "private" and status == "member":
            _unblock(session, conn, str(chat["id"]))
            return Outcome(True, "processed", "user unblocked the bot")
        return Outcome(True, "ignored", f"my_chat_member {status}")
    return Outcome(True, "ignored", _kind(update))


def _block(session: Session, conn: BotConnection, chat_id: str, now: datetime) -> None:
    mark_chat_blocked(session, conn.tenant_id, conn.role, chat_id, "my_chat_member: kicked", now)


def _unblock(session: Session, conn: BotConnection, chat_id: str) -> None:
    clear_chat_block(session, conn.tenant_id, conn.role, chat_id)


def failures(session: Session, tenant_id: int, limit: int = 100) -> list[TelegramUpdate]:
    return list(session.exec(select(TelegramUpdate).where(TelegramUpdate.tenant_id == tenant_id,
                                                          TelegramUpdate.status == "failed")
                             .order_by(TelegramUpdate.id.desc()).limit(limit)))


def retry(session: Session, tenant_id: int, ids: list[int] | None, now: datetime) -> list[Outcome]:
    q = select(TelegramUpdate).where(TelegramUpdate.tenant_id == tenant_id, TelegramUpdate.status == "failed")
    if ids:
        q = q.where(TelegramUpdate.id.in_(ids))
    rows = list(session.exec(q.order_by(TelegramUpdate.id)))
    if ids and len(rows) != len(set(ids)):
        missing = sorted(set(ids) - {r.id for r in rows})
        raise NotFoundError(f"No failed update {', '.join(map(str, missing))} for this tenant.")
    outcomes = []
    for row in rows:
        if row.payload is None:  # the body was not JSON: nothing to process again
            outcomes.append(Outcome(True, "failed", "malformed body"))
            continue
        conn = session.exec(select(BotConnection).where(BotConnection.tenant_id == tenant_id,
                                                        BotConnection.role == row.bot_role)).first()
        if conn is None:
            outcomes.append(Outcome(True, "failed", f"{row.bot_role} no longer connected"))
            continue
        outcomes.append(process(session, conn, row, now))
    return outcomes
