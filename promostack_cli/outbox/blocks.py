"""Chats whose user blocked a bot: list them, clear a block.

The sender marks a lane (tenant, bot role, chat) blocked when Telegram answers 403 "bot was blocked
by the user" (or the webhook sees ``my_chat_member`` → kicked). While marked, messages to that chat
through that bot are failed without calling Telegram (error code 403) and the journeys tick step
ends the user's live sessions of the message bot. Clearing the mark (:func:`unblock`, also done by
``outbox retry`` and by the user writing again) lets later messages be sent; the messages already
failed stay failed until retried, and ended sessions stay ended.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, select

from promostack_cli.core.errors import NotFoundError, ValidationError
from promostack_cli.outbox.models import ChatState, OutboxMessage, OutboxStatus
from promostack_cli.outbox.service import ROLES


def _failed_by_block(session: Session, tenant_id: int, role: str, chat_id: str) -> list[int]:
    """Ids of the lane's failed messages Telegram (or the recorded block) refused with 403."""
    o = OutboxMessage
    return list(session.exec(select(o.id).where(o.tenant_id == tenant_id, o.bot_role == role, o.chat_id == chat_id,
                                                o.status == OutboxStatus.failed, o.error_code == 403).order_by(o.id)))


def list_blocked(session: Session, tenant_id: int) -> list[dict]:
    """The tenant's blocked chats, most recently blocked first, with the failed messages of each."""
    cs = ChatState
    rows = session.exec(select(cs).where(cs.tenant_id == tenant_id, cs.blocked_at.is_not(None))
                        .order_by(cs.blocked_at.desc(), cs.id.desc()))
    return [{"chat_id": r.chat_id, "bot": r.bot_role, "blocked_at": r.blocked_at.isoformat(), "reason": r.blocked_reason,
             "failed_messages": _failed_by_block(session, tenant_id, r.bot_role, r.chat_id)} for r in rows]


def unblock(session: Session, tenant_id: int, tenant_slug: str, chat_id: str, role: str | None = None) -> list[dict]:
    """Clear the block on ``chat_id`` (for ``role``, or every bot it is blocked for).

    Returns one dict per cleared lane: bot and the ids of its messages that failed because of the
    block (they are not queued again: ``outbox retry`` does that)."""
    if role is not None and role not in ROLES:
        raise ValidationError(f"Unknown bot role '{role}': use signal_bot or message_bot.")
    cs = ChatState
    q = select(cs).where(cs.tenant_id == tenant_id, cs.chat_id == str(chat_id).strip(), cs.blocked_at.is_not(None))
    if role:
        q = q.where(cs.bot_role == role)
    lanes = list(session.exec(q.order_by(cs.bot_role)))
    if not lanes:
        which = f" for {role}" if role else ""
        raise NotFoundError(f"Chat {chat_id} is not blocked{which} in tenant '{tenant_slug}'. "
                            f"See: promostack --tenant {tenant_slug} outbox blocked")
    session.exec(update(cs).where(cs.id.in_([lane.id for lane in lanes])).values(blocked_at=None, blocked_reason=None))
    return [{"chat_id": lane.chat_id, "bot": lane.bot_role,
             "failed_messages": _failed_by_block(session, tenant_id, lane.bot_role, lane.chat_id)} for lane in lanes]

