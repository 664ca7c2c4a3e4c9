"""Outbox: enqueue messages in the caller's transaction; list, retry and cancel them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from promostack_cli.core.errors import NotFoundError, ValidationError
from promostack_cli.outbox.models import (INTERACTIVE, NORMAL, REPLY_TO_DEDUPE, RESULT_OF, ChatState, OutboxMessage,
                                          OutboxStatus)
from promostack_cli.outbox.results import check_reference
from promostack_cli.telegram import html
from promostack_cli.telegram.chats import chat_kind, validate_chat
from promostack_cli.telegram.html import MAX_MESSAGE_LENGTH

ROLES = ("signal_bot", "message_bot")


def visible_length(text: str, parse_mode: str | None) -> int:
    """Length as Telegram counts it: tags removed, entities decoded, in UTF-16 code units
    (one definition, :func:`promostack_cli.telegram.html.visible_length`)."""
    return html.visible_length(text, parse_mode)


def enqueue(
    session: Session,
    tenant_id: int,
    bot_role: str,
    chat_id: str | int,
    text: str,
    *,
    now: datetime,
    parse_mode: str | None = "HTML",
    reply_markup: dict | None = None,
    reply_to_message_id: int | None = None,
    reply_to_dedupe: str | None = None,
    disable_web_page_preview: bool | None = None,
    not_before: datetime | None = None,
    dedupe_key: str | None = None,
    source: str | None = None,
    extra: dict[str, Any] | None = None,
    flush: bool = True,
    failed: str | None = None,
    priority: int = NORMAL,
    result_of: str | None = None,
) -> OutboxMessage:
    """Add a sendMessage to the outbox inside the caller's transaction.

    With ``dedupe_key``, a second enqueue with the same key returns the first message instead of
    adding another (the unique key makes this hold across processes). ``flush=False`` leaves the
    INSERT to the transaction's next flush, so many enqueues batch into few statements (the
    message's ``id`` is then unknown until that flush).

    ``priority=INTERACTIVE`` for the answer to something the user just did: the bot sends it before
    its other queued messages (a broadcast backlog), still in order within the chat.

    ``failed="reason"`` records a message that could not be built (a journey template that failed
    at run time, say): it is stored as ``failed`` with that reason as ``last_error``, never sent,
    and listed by ``outbox list --status failed``; ``text`` may then be empty or too long.

    ``result_of="dedupe key"`` of an earlier call (:func:`enqueue_call`): ``{{result.FIELD}}`` in the
    text or markup is filled from that call's result when this message is sent; until then the
    message waits in its lane (:mod:`promostack_cli.outbox.results`).
    """
    if bot_role not in ROLES:
        raise ValidationError(f"Unknown bot role '{bot_role}': use signal_bot or message_bot.")
    chat = validate_chat(chat_id)
    if failed is None:
        if not text or not text.strip():
            raise ValidationError("The message text is empty.")
        length = visible_length(text, parse_mode)
        if length > MAX_MESSAGE_LENGTH:
            raise ValidationError(f"The message is {length} characters; Telegram allows {MAX_MESSAGE_LENGTH}.")
    if dedupe_key:
        existing = session.exec(
            select(OutboxMessage).where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.dedupe_key == dedupe_key)
        ).first()
        if existing:
            return existing
    payload: dict[str, Any] = {"text": text}
    if parse_mode:
        payload["parse_mode"] = parse_mode
    if reply_markup:
        payload["reply_markup"] = reply_markup
    if reply_to_message_id:
        payload["reply_parameters"] = {"message_id": reply_to_message_id, "allow_sending_without_reply": True}
    if reply_to_dedupe and not reply_to_message_id:
        payload[REPLY_TO_DEDUPE] = reply_to_dedupe
    if disable_web_page_preview:
        payload["link_preview_options"] = {"is_disabled": True}
    if result_of:
        check_reference(session, tenant_id, result_of)
        payload[RESULT_OF] = result_of
    payload.update(extra or {})
    msg = OutboxMessage(
        tenant_id=tenant_id,
        bot_role=bot_role,
        chat_id=chat,
        chat_kind=chat_kind(chat),
        payload=payload,
        not_before=not_before or now,
        dedupe_key=dedupe_key,
        source=source,
        priority=priority,
        created_at=now,
        updated_at=now,
    )
    if failed is not None:
        msg.status, msg.last_error = OutboxStatus.failed, failed
    if not dedupe_key:
        session.add(msg)
        if flush:
            session.flush()
        return msg
    try:
        with session.begin_nested():
            session.add(msg)
            session.flush()
    except IntegrityError:  # another process enqueued the same key first
        return session.exec(
            select(OutboxMessage).where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.dedupe_key == dedupe_key)
        ).one()
    return msg


# Bot API calls other than sendMessage that may go through the outbox: channel access (billing).
# They share the lanes, limits, retries and records of messages; the sender calls ``method`` with
# the payload plus ``chat_id``.
CALL_METHODS = ("approveChatJoinRequest", "declineChatJoinRequest", "banChatMember", "unbanChatMember",
                "createChatInviteLink", "revokeChatInviteLink")


def enqueue_call(session: Session, tenant_id: int, bot_role: str, chat_id: str | int, method: str,
                 params: dict[str, Any], *, now: datetime, dedupe_key: str | None = None, source: str | None = None,
                 priority: int = NORMAL, result_of: str | None = None) -> OutboxMessage:
    """Add a Bot API call (one of :data:`CALL_METHODS`) to ``chat_id``'s lane, in the caller's transaction.

    Calls and messages to one chat through one bot are delivered in the order they were queued, so
    ``banChatMember`` then ``unbanChatMember`` reach Telegram in that order. The call's result is
    recorded (``result``); ``result_of`` as for :func:`enqueue` (``{{result.FIELD}}`` in ``params``).
    """
    if bot_role not in ROLES:
        raise ValidationError(f"Unknown bot role '{bot_role}': use signal_bot or message_bot.")
    if method not in CALL_METHODS:
        raise ValidationError(f"The outbox does not queue {method!r}; it queues sendMessage and {', '.join(CALL_METHODS)}.")
    chat = validate_chat(chat_id)
    if dedupe_key:
        existing = session.exec(select(OutboxMessage).where(OutboxMessage.tenant_id == tenant_id,
                                                            OutboxMessage.dedupe_key == dedupe_key)).first()
        if existing:
            return existing
    payload = {k: v for k, v in params.items() if k != "chat_id"}
    if result_of:
        check_reference(session, tenant_id, result_of)
        payload[RESULT_OF] = result_of
    msg = OutboxMessage(tenant_id=tenant_id, bot_role=bot_role, chat_id=chat, chat_kind=chat_kind(chat), method=method,
                        payload=payload, not_before=now,
                        dedupe_key=dedupe_key, source=source, priority=priority, created_at=now, updated_at=now)
    session.add(msg)
    session.flush()
    return msg


def find(session: Session, tenant_id: int, dedupe_key: str) -> OutboxMessage | None:
    """The outbox row with this dedupe key (e.g. to see whether a call was sent)."""
    return session.exec(select(OutboxMessage).where(OutboxMessage.tenant_id == tenant_id,
                                                    OutboxMessage.dedupe_key == dedupe_key)).first()


def counts(session: Session, tenant_id: int) -> dict[str, int]:
    rows = session.exec(
        select(OutboxMessage.status, func.count()).where(OutboxMessage.tenant_id == tenant_id).group_by(OutboxMessage.status)
    ).all()
    return {status: n for status, n in rows}


def get_message(session: Session, tenant_id: int, message_id: int, tenant_label: str) -> OutboxMessage:
    msg = session.exec(select(OutboxMessage).where(OutboxMessage.tenant_id == tenant_id,
                                                   OutboxMessage.id == message_id)).first()
    if msg is None:
        raise NotFoundError(f"No outbox message {message_id} for tenant '{tenant_label}'.")
    return msg


RETRYABLE = (OutboxStatus.failed, OutboxStatus.cancelled, OutboxStatus.dry_run)


def retry(session: Session, tenant_id: int, now: datetime, *, ids: list[int] | None = None, all_failed: bool = False) -> int:
    """Queue failed/cancelled/dry-run messages again. Sent ones are refused (that would send twice)."""
    q = select(OutboxMessage).where(OutboxMessage.tenant_id == tenant_id)
    if ids:
        rows = list(session.exec(q.where(OutboxMessage.id.in_(ids))))
        missing = sorted(set(ids) - {m.id for m in rows})
        if missing:
            raise NotFoundError(f"No outbox message {', '.join(map(str, missing))} for this tenant.")
        wrong = [m for m in rows if m.status not in RETRYABLE]
        if wrong:
            m = wrong[0]
            raise ValidationError(f"Message {m.id} is {m.status}; only failed, cancelled or dry_run messages can be retried.")
    elif all_failed:
        rows = list(session.exec(q.where(OutboxMessage.status == OutboxStatus.failed)))
    else:
        raise ValidationError("Name message ids, or pass --failed to retry every failed message.")
    lanes = set()
    for m in rows:
        m.status, m.attempts, m.rate_limited = OutboxStatus.pending, 0, 0
        m.not_before, m.updated_at = now, now
        m.last_error = m.error_code = m.claimed_by = m.lease_expires_at = m.first_claimed_at = m.result = None
        lanes.add((m.bot_role, m.chat_id))
        session.add(m)
    for role, chat in lanes:  # the operator asked to try again: forget a recorded block
        clear_chat_block(session, tenant_id, role, chat)
    return len(rows)


def mark_chat_blocked(session: Session, tenant_id: int, bot_role: str, chat_id: str, reason: str,
                      now: datetime) -> None:
    """Record that the user blocked the bot: the sender fails their messages without calling Telegram."""
    from promostack_cli.core.upsert import upsert

    lane = {"tenant_id": tenant_id, "bot_role": bot_role, "chat_id": chat_id}
    upsert(session, ChatState, {**lane, "next_send_at": 0.0, "blocked_at": now, "blocked_reason": reason[:200]},
           ["tenant_id", "bot_role", "chat_id"], {"blocked_at": now, "blocked_reason": reason[:200]})


def clear_chat_block(session: Session, tenant_id: int, bot_role: str, chat_id: str) -> None:
    session.exec(
        update(ChatState)
        .where(ChatState.tenant_id == tenant_id, ChatState.bot_role == bot_role, ChatState.chat_id == chat_id,
               ChatState.blocked_at.is_not(None))
        .values(blocked_at=None, blocked_reason=None)
    )


def cancel(session: Session, tenant_id: int, ids: list[int], now: datetime, reason: str = "cancelled by operator") -> int:
    rows = list(session.exec(select(OutboxMessage).where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.id.in_(ids))))
    missing = sorted(set(ids) - {m.id for m in rows})
    if missing:
        raise NotFoundError(f"No outbox message {', '.join(map(str, missing))} for this tenant.")
    done = [m for m in rows if m.status != OutboxStatus.pending]
    if done:
        raise ValidationError(f"Message {done[0].id} is {done[0].status}; only pending messages can be cancelled.")
    for m in rows:
        m.status, m.last_error, m.updated_at = OutboxStatus.cancelled, reason, now
        session.add(m)
    return len(rows)


def cancel_role(session: Session, tenant_id: int, role: str, now: datetime, reason: str) -> int:
    result = session.exec(
        update(OutboxMessage)
        .where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.bot_role == role,
               OutboxMessage.status == OutboxStatus.pending)
        .values(status=OutboxStatus.cancelled, last_error=reason, updated_at=now)
    )
    return result.rowcount or 0


# -- many at once (the receiver's batches, the tick's due sessions) ------------------------------

def message_row(tenant_id: int, bot_role: str, chat_id: str | int, text: str, *, now: datetime,
                parse_mode: str | None = "HTML", reply_markup: dict | None = None, source: str | None = None,
                priority: int = NORMAL, failed: str | None = None) -> dict[str, Any]:
    """The row :func:`enqueue` adds for a plain sendMessage (no dedupe key, reply or result),
    checked as it checks them (:class:`ValidationError`); write rows with :func:`enqueue_many`."""
    if bot_role not in ROLES:
        raise ValidationError(f"Unknown bot role '{bot_role}': use signal_bot or message_bot.")
    chat = validate_chat(chat_id)
    if failed is None:
        if not text or not text.strip():
            raise ValidationError("The message text is empty.")
        length = visible_length(text, parse_mode)
        if length > MAX_MESSAGE_LENGTH:
            raise ValidationError(f"The message is {length} characters; Telegram allows {MAX_MESSAGE_LENGTH}.")
    payload: dict[str, Any] = {"text": text}
    if parse_mode:
        payload["parse_mode"] = parse_mode
    if reply_markup:
        payload["reply_markup"] = reply_markup
    return {"tenant_id": tenant_id, "bot_role": bot_role, "chat_id": chat, "chat_kind": chat_kind(chat),
            "payload": payload, "not_before": now, "source": source, "priority": priority, "created_at": now,
            "updated_at": now, "status": (OutboxStatus.failed if failed is not None else OutboxStatus.pending).value,
            "last_error": failed}


def enqueue_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add the messages ``rows`` (each from :func:`message_row`) in the caller's transaction, in
    their order, with one statement: what many :func:`enqueue` calls would add."""
    from promostack_cli.core.bulk import insert_rows

    insert_rows(session, OutboxMessage.__table__, rows)


def clear_chat_blocks(session: Session, tenant_id: int, bot_role: str, chat_ids: list[str]) -> None:
    """:func:`clear_chat_block` for many chats of one bot, with one statement."""
    from promostack_cli.core.bulk import one_of

    if chat_ids:
        c = ChatState.__table__.c
        session.execute(update(ChatState.__table__)
                        .where(c.tenant_id == tenant_id, c.bot_role == bot_role, one_of(session, c.chat_id, chat_ids),
                               c.blocked_at.is_not(None))
                        .values(blocked_at=None, blocked_reason=None))
