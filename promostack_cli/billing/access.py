"""Who may be in the VIP channel, and the outbox calls that let them in or take them out.

:func:`entitled` is the rule, per subscription: ``trialing``/``active`` keep access until the paid
period ends (plus the grace period, unless the user cancelled at period end: they keep what they
paid for, no more); ``past_due`` keeps it for the grace period after the last paid period; every
other status, a revoke, or no linked Telegram user gives none. A user has access when any of their
subscriptions entitles them, whichever payment source it came from (Stripe, a manual grant, a second
rail): every source stores its statuses in that one vocabulary (:mod:`.sources`), so one rule decides.

:func:`reconcile` compares that with what we last did for the user (``billing_members.access``) and
acts on the difference, in the caller's transaction: a grant sends the VIP link (or starts the
``stripe_payment_successful`` journeys, which get it as ``vip_link``) — in access mode
``invite_link``, a single-use link made for the user (:mod:`.channel`), which billing sends
itself, journeys or not; a removal revokes the user's unused link and queues
``banChatMember`` then ``unbanChatMember(only_if_banned)`` in the VIP channel's lane (so the user may
come back after paying again), tells the user, and starts ``stripe_sub_cancelled`` journeys. Each
transition is recorded once; calling it again changes nothing. ``review_at`` tells the sweep when
the answer may change with no event at all (a period ending).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from promostack_cli.billing import channel
from promostack_cli.billing.channel import SIGNAL  # noqa: F401 (handlers import it from here)
from promostack_cli.billing.config import BillingConfig
from promostack_cli.billing.models import (GRACE_ACCESS, KEEP_ACCESS, BillingAccessChange, BillingMember,
                                          TelegramSubscription)
from promostack_cli.core import claims
from promostack_cli.outbox.models import INTERACTIVE
from promostack_cli.telegram import html

MESSAGE = "message_bot"


def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive (they are UTC)."""
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


def _latest(*values: datetime | None) -> datetime | None:
    present = [aware(v) for v in values if v is not None]
    return max(present) if present else None


def entitled(sub: TelegramSubscription, now: datetime, grace_seconds: int) -> tuple[bool, datetime | None]:
    """Whether ``sub`` gives its user access at ``now``, and until when (None: no known end)."""
    if sub.revoked_at is not None or sub.telegram_user_id is None:
        return False, None
    grace = timedelta(seconds=grace_seconds)
    if sub.status in KEEP_ACCESS:
        end = _latest(sub.current_period_end, sub.paid_until)
        if end is None:
            return True, None
        limit = end if sub.cancel_at_period_end else end + grace
        return now < limit, limit
    if sub.status in GRACE_ACCESS:
        base = _latest(sub.current_period_start, sub.paid_until) or aware(sub.payment_failed_at) or now
        limit = base + grace
        return now < limit, limit
    return False, None


def user_subscriptions(session: Session, tenant_id: int, telegram_user_id: int) -> list[TelegramSubscription]:
    return list(session.exec(select(TelegramSubscription).where(
        TelegramSubscription.tenant_id == tenant_id, TelegramSubscription.telegram_user_id == telegram_user_id)
        .order_by(TelegramSubscription.id)))


def member(session: Session, tenant_id: int, telegram_user_id: int, now: datetime) -> BillingMember:
    """The user's member row, created if absent, locked until the transaction ends."""
    from promostack_cli.core.upsert import upsert

    upsert(session, BillingMember, {"tenant_id": tenant_id, "telegram_user_id": telegram_user_id, "access": "none",
                                    "updated_at": now}, ["tenant_id", "telegram_user_id"])
    return session.exec(claims.lock(select(BillingMember).where(
        BillingMember.tenant_id == tenant_id, BillingMember.telegram_user_id == telegram_user_id), session)).one()


def record(session: Session, tenant_id: int, telegram_user_id: int, action: str, reason: str,
           now: datetime) -> BillingAccessChange:
    change = BillingAccessChange(tenant_id=tenant_id, telegram_user_id=telegram_user_id, action=action,
                                 reason=reason[:300], at=now)
    session.add(change)
    session.flush()
    return change


def has_access(session: Session, cfg: BillingConfig, telegram_user_id: int, now: datetime) -> bool:
    return any(entitled(s, now, cfg.grace_seconds)[0]
               for s in user_subscriptions(session, cfg.tenant_id, telegram_user_id))


def reconcile(session: Session, cfg: BillingConfig, telegram_user_id: int, now: datetime, reason: str) -> str | None:
    """Make the user's access match their subscriptions; returns "granted", "removed" or None."""
    subs = user_subscriptions(session, cfg.tenant_id, telegram_user_id)
    verdicts = [(s, *entitled(s, now, cfg.grace_seconds)) for s in subs]
    active = [(s, until) for s, ok, until in verdicts if ok]
    row = member(session, cfg.tenant_id, telegram_user_id, now)
    changed = None
    if active:
        ends = [until for _, until in active]
        row.review_at = None if any(e is None for e in ends) else max(ends)
        if row.access != "granted":
            plan = next((s.plan for s, _ in active if s.plan), None) or ""
            _grant(session, cfg, telegram_user_id, plan, now, reason)
            row.access, row.access_changed_at, changed = "granted", now, "granted"
    else:
        row.review_at = None
        if row.access == "granted":
            plan = next((s.plan for s in reversed(subs) if s.plan), None) or ""
            _remove(session, cfg, telegram_user_id, plan, now, reason)
            row.access, row.access_changed_at, changed = "removed", now, "removed"
    row.updated_at = now
    session.add(row)
    session.flush()
    return changed


def message_bot_username(session: Session, tenant_id: int) -> str | None:
    from promostack_cli.connections.lookup import find_bot

    bot = find_bot(session, None, tenant_id=tenant_id, role=MESSAGE)
    return bot.username if bot else None


def subscribe_hint(session: Session, tenant_id: int) -> str:
    username = message_bot_username(session, tenant_id)
    if username:
        return f'send /subscribe to <a href="https://t.me/{html.escape(username)}?start=subscribe">@{html.escape(username)}</a>'
    return "send /subscribe to our bot"


def _say(session: Session, cfg: BillingConfig, telegram_user_id: int, text: str, now: datetime, key: str | None,
         result_of: str | None = None) -> None:
    from promostack_cli.outbox.service import enqueue

    enqueue(session, cfg.tenant_id, MESSAGE, str(telegram_user_id), text, now=now, dedupe_key=key,
            source="billing", priority=INTERACTIVE, result_of=result_of, disable_web_page_preview=bool(result_of))


def send_invite(session: Session, cfg: BillingConfig, uid: int, intro: str, now: datetime, key: str | None) -> None:
    """Access mode ``invite_link``: make the user a single-use link and send it to them (message bot)."""
    invite = channel.create_invite(session, cfg.tenant_id, cfg.vip_chat_id, uid, cfg.invite_ttl_seconds, now)
    hours = f"{cfg.invite_ttl_seconds / 3600:g} h"
    _say(session, cfg, uid, f"{intro}\n\nJoin the VIP channel with your personal link: {channel.LINK}\n"
         f"It is for you only, works once and expires in {hours}. If it expires, send /subscribe for a new one.",
         now, key, result_of=invite.create_key)


def _grant(session: Session, cfg: BillingConfig, uid: int, plan: str, now: datetime, reason: str) -> None:
    from promostack_cli.journeys.sessions import start_by_event

    change = record(session, cfg.tenant_id, uid, "granted", reason, now)
    personal = cfg.access_mode == "invite_link" and cfg.vip_chat_id
    variables = {"first_name": "", "last_name": "", "username": "", "vip_link": cfg.vip_link or "", "plan": plan}
    started = start_by_event(session, cfg.tenant_id, "stripe_payment_successful", str(uid), variables, now)
    title = f"✅ <b>Your VIP access is active</b>{' (' + html.escape(plan) + ')' if plan else ''}."
    if personal:  # the link is the user's own: billing sends it, journeys or not
        send_invite(session, cfg, uid, title, now, f"billing:access:{change.id}")
        return
    if started:
        return
    link = (f'\n\nJoin the VIP channel here: {html.escape(cfg.vip_link)}\nYour request to join is approved '
            "automatically.") if cfg.vip_link else ""
    _say(session, cfg, uid, f"{title}{link}", now, f"billing:access:{change.id}")


def _remove(session: Session, cfg: BillingConfig, uid: int, plan: str, now: datetime, reason: str) -> None:
    from promostack_cli.journeys.sessions import start_by_event

    change = record(session, cfg.tenant_id, uid, "removed", reason, now)
    key = f"billing:access:{change.id}"
    channel.close_open(session, cfg.tenant_id, uid, now, "access ended")  # an unused personal link dies too
    if cfg.vip_chat_id:
        channel.kick(session, cfg.tenant_id, cfg.vip_chat_id, uid, now, key)
    variables = {"first_name": "", "last_name": "", "username": "", "plan": plan}
    start_by_event(session, cfg.tenant_id, "stripe_sub_cancelled", str(uid), variables, now)
    _say(session, cfg, uid, "Your VIP access has ended, so you have been removed from the VIP channel. "
         f"To come back, {subscribe_hint(session, cfg.tenant_id)}.", now, key)
