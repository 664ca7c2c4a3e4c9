"""The outbox calls billing makes on the VIP channel (through the signal bot, its admin): removing a
user, and the single-use invite links of access mode ``invite_link``.

A link is made by a ``createChatInviteLink`` call (``member_limit`` 1, ``expire_date``, a unique
``name``) queued in the VIP channel's lane; the link Telegram returns is recorded on that outbox row
(its ``result``) and nowhere else. The message that gives the user their link, and the
``revokeChatInviteLink`` that ends it, take it from there at send time (``result_of``, see
``outbox/results.py``), so the link never appears in billing's tables, logs or command output.
A ``member_limit`` 1 link becomes usable again once its member leaves: every link is revoked as soon
as it is used, replaced, no longer wanted, or expired (the sweep).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, select

from promostack_cli.billing.models import BillingInvite
from promostack_cli.core import claims
from promostack_cli.outbox.models import INTERACTIVE, OutboxStatus

SIGNAL = "signal_bot"
LINK = "{{result.invite_link}}"      # where the user's link goes in a message (filled at send time)
BATCH = 200


def kick(session: Session, tenant_id: int, chat_id: str, uid: int, now: datetime, key: str) -> None:
    """Remove ``uid`` from the channel so they may come back later: ban, then unban only if banned."""
    from promostack_cli.outbox.service import enqueue_call

    enqueue_call(session, tenant_id, SIGNAL, chat_id, "banChatMember", {"user_id": uid},
                 now=now, dedupe_key=f"{key}:ban", source="billing")
    enqueue_call(session, tenant_id, SIGNAL, chat_id, "unbanChatMember",
                 {"user_id": uid, "only_if_banned": True}, now=now, dedupe_key=f"{key}:unban", source="billing")


def create_invite(session: Session, tenant_id: int, chat_id: str, uid: int, ttl_seconds: int,
                  now: datetime) -> BillingInvite:
    """A new single-use link for ``uid`` (their older open links are revoked); its create call queued.

    Give the user the link with ``enqueue(..., result_of=invite.create_key)`` and :data:`LINK` in the text.
    """
    from promostack_cli.outbox.service import enqueue_call

    close_open(session, tenant_id, uid, now, "replaced by a new link")
    expires = now + timedelta(seconds=ttl_seconds)
    row = BillingInvite(tenant_id=tenant_id, telegram_user_id=uid, chat_id=chat_id, name=f"vip-{uid}-{secrets.token_hex(3)}",
                        expires_at=expires, created_at=now)
    session.add(row)
    session.flush()
    enqueue_call(session, tenant_id, SIGNAL, chat_id, "createChatInviteLink",
                 {"name": row.name, "member_limit": 1, "expire_date": int(expires.timestamp())},
                 now=now, dedupe_key=row.create_key, source="billing", priority=INTERACTIVE)
    return row


def revoke(session: Session, row: BillingInvite, now: datetime, status: str, reason: str) -> None:
    """Close the link (``status``: used, revoked, expired) and revoke it at Telegram if it was made."""
    from promostack_cli.outbox.service import enqueue_call, find

    created = find(session, row.tenant_id, row.create_key)
    made = created is not None and created.status not in (OutboxStatus.failed, OutboxStatus.cancelled,
                                                           OutboxStatus.dry_run)
    row.status = status if made else "failed"
    row.closed_at, row.close_reason = now, (reason if made else "the link was never made (its create call "
                                            f"{created.status if created else 'is missing'})")[:200]
    session.add(row)
    if made:
        enqueue_call(session, row.tenant_id, SIGNAL, row.chat_id, "revokeChatInviteLink", {"invite_link": LINK},
                     now=now, dedupe_key=f"{row.create_key}:revoke", source="billing", result_of=row.create_key)


def open_invites(session: Session, tenant_id: int, uid: int) -> list[BillingInvite]:
    return list(session.exec(claims.lock(select(BillingInvite).where(
        BillingInvite.tenant_id == tenant_id, BillingInvite.telegram_user_id == uid, BillingInvite.status == "open")
        .order_by(BillingInvite.id), session)))


def close_open(session: Session, tenant_id: int, uid: int, now: datetime, reason: str) -> int:
    """Revoke the user's unused links (access ended, or a new link replaces them)."""
    rows = open_invites(session, tenant_id, uid)
    for row in rows:
        revoke(session, row, now, "revoked", reason)
    return len(rows)


def by_name(session: Session, tenant_id: int, name: str | None) -> BillingInvite | None:
    """The link a ``chat_member`` update names (None: not one of billing's links)."""
    if not name:
        return None
    return session.exec(claims.lock(select(BillingInvite).where(
        BillingInvite.tenant_id == tenant_id, BillingInvite.name == name[:32]), session)).first()


def expire(session: Session, now: datetime, tenant_id: int | None = None) -> int:
    """The sweep: revoke unused links whose ``expire_date`` passed (claimed: concurrent ticks split them)."""
    from promostack_cli.billing.due import invite_expired

    q = (select(BillingInvite).where(invite_expired(BillingInvite.__table__.c, now))
         .order_by(BillingInvite.expires_at).limit(BATCH))
    if tenant_id is not None:
        q = q.where(BillingInvite.tenant_id == tenant_id)
    rows = list(session.exec(claims.lock_due(q, session)))
    for row in rows:
        revoke(session, row, now, "expired", "expired unused")
    return len(rows)
