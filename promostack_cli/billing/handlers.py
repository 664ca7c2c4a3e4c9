"""Billing's part of the update router: linking (``/start v_…``, ``/verify``), ``/subscribe``, and the
VIP channel's join requests and membership changes.

Source-neutral: ``/subscribe`` answers with every payment source's offer (:func:`.linking.subscribe_offer`),
and access is the same whichever rail paid. A payment source registers its own update handlers here,
before billing's (:meth:`.sources.PaymentSource.register`). Billing comes before journeys in the
domains' order, so ``/start v_…`` and ``/start subscribe`` are billing's. Handlers run in the transaction that marks the update processed and only queue outbox
work; the tenant's billing settings are loaded once per update (``UpdateContext.memo``) with the
receiver's own secret box. Join requests and ``chat_member`` updates reach the signal bot (the VIP
channel's admin); the message bot talks to users.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from promostack_cli.billing import channel, linking
from promostack_cli.billing.access import SIGNAL, has_access, member, reconcile, record, send_invite, subscribe_hint
from promostack_cli.billing.config import BillingConfig, load
from promostack_cli.billing.drift import IN_CHANNEL
from promostack_cli.outbox.models import INTERACTIVE
from promostack_cli.telegram.routing import Handled, Router, UpdateContext

MESSAGE_BOT = ("message_bot",)


def _config(c: UpdateContext) -> BillingConfig | None:
    """The tenant's billing settings (None: billing not set up), loaded once per update."""
    return c.memo("billing.config", lambda: load(c.session, c.tenant_id, c.box, c.settings.public_url))


def _reply(c: UpdateContext, text: str, reply_markup: dict | None = None) -> Handled:
    from promostack_cli.outbox.service import enqueue

    enqueue(c.session, c.tenant_id, "message_bot", c.update.chat_id, text, now=c.now, source="billing",
            priority=INTERACTIVE, reply_markup=reply_markup, disable_web_page_preview=True)
    return Handled(text.split("\n")[0][:120], enqueued=True)


def on_start(c: UpdateContext) -> Handled | None:
    payload = c.update.payload
    if not payload or not (payload.startswith("v_") or payload == "subscribe"):
        return None
    cfg = _config(c)
    if cfg is None:
        return None  # billing not set up: the payload may be a journey's deep link
    if payload == "subscribe":
        return on_subscribe(c)
    return _reply(c, linking.by_deep_link(c.session, cfg, c.update.user.id, payload, c.now))


def on_verify(c: UpdateContext) -> Handled | None:
    cfg = _config(c)
    if cfg is None:
        return None
    return _reply(c, linking.by_code(c.session, cfg, c.update.user.id, c.update.args, c.now))


def on_subscribe(c: UpdateContext) -> Handled | None:
    cfg = _config(c)
    if cfg is None:
        return None
    session, now, uid = c.session, c.now, c.update.user.id
    if cfg.access_mode == "invite_link" and cfg.vip_chat_id and has_access(session, cfg, uid, now) \
            and member(session, cfg.tenant_id, uid, now).in_channel is not True:
        send_invite(session, cfg, uid, "You already have VIP access. 🎉", now, None)  # a fresh link replaces old ones
        return Handled("a new personal invite link was sent", enqueued=True)
    text, markup = linking.subscribe_offer(session, cfg, uid, now)
    return _reply(c, text, markup)


def _vip(c: UpdateContext) -> BillingConfig | None:
    """The billing settings when the update is about the tenant's VIP channel."""
    cfg = _config(c)
    return cfg if cfg is not None and cfg.vip_chat_id is not None and c.update.chat_id == cfg.vip_chat_id else None


def on_join_request(c: UpdateContext) -> Handled | None:
    """Approve a user with an active, linked subscription; decline anyone else with a /subscribe offer."""
    from promostack_cli.outbox.service import enqueue, enqueue_call

    cfg, event, session, now = _vip(c), c.update, c.session, c.now
    if cfg is None or event.user is None or event.user.id is None:
        return None
    uid = event.user.id
    if has_access(session, cfg, uid, now):
        reconcile(session, cfg, uid, now, "join request")
        enqueue_call(session, cfg.tenant_id, SIGNAL, cfg.vip_chat_id, "approveChatJoinRequest", {"user_id": uid},
                     now=now, source="billing", priority=INTERACTIVE)
        record(session, cfg.tenant_id, uid, "approved", "join request from a subscriber", now)
        return Handled(f"join request of {uid} approved", enqueued=True)
    enqueue_call(session, cfg.tenant_id, SIGNAL, cfg.vip_chat_id, "declineChatJoinRequest", {"user_id": uid},
                 now=now, source="billing", priority=INTERACTIVE)
    record(session, cfg.tenant_id, uid, "declined", "join request without an active subscription", now)
    if event.join_user_chat_id:  # the signal bot may message the requester for 5 minutes
        enqueue(session, cfg.tenant_id, SIGNAL, event.join_user_chat_id,
                "The VIP channel is for subscribers. To join, " + subscribe_hint(session, cfg.tenant_id) + ".",
                now=now, source="billing", priority=INTERACTIVE, disable_web_page_preview=True)
    return Handled(f"join request of {uid} declined (no active subscription)", enqueued=True)


def on_member(c: UpdateContext) -> Handled | None:
    """Someone joined or left the VIP channel: remember it (drift reports, ``billing show``)."""
    cfg, change, session, now = _vip(c), c.update.member, c.session, c.now
    if cfg is None or change is None or change.user is None or change.user.id is None or change.user.is_bot:
        return None
    uid = change.user.id
    inside = change.new_status in IN_CHANNEL
    row = member(session, cfg.tenant_id, uid, now)
    if row.in_channel != inside:
        record(session, cfg.tenant_id, uid, "joined" if inside else "left", f"chat_member {change.new_status}", now)
    row.in_channel, row.updated_at = inside, now
    session.add(row)
    if inside and change.invite_name:
        verdict = _joined_through(session, cfg, uid, change.invite_name, now)
        if verdict:
            return Handled(verdict, enqueued=True)
    return Handled(f"{uid} {'joined' if inside else 'left'} the VIP channel")


def _joined_through(session: Session, cfg: BillingConfig, uid: int, name: str, now: datetime) -> str | None:
    """Someone joined through one of billing's single-use links: revoke it (a member_limit 1 link
    works again once its member leaves); remove them unless it is their own link and they have
    access. A link used by someone else is replaced for its owner. Never names the link itself."""
    invite = channel.by_name(session, cfg.tenant_id, name)
    if invite is None:
        return None  # not one of billing's links (an admin's own link, the primary link)
    owner = invite.telegram_user_id
    allowed = owner == uid and has_access(session, cfg, uid, now)
    was_open = invite.status == "open"
    if was_open:
        if allowed:
            invite.used_at = now
        channel.revoke(session, invite, now, "used" if allowed else "revoked",
                       "its user joined" if allowed else f"used by {'someone else' if owner != uid else 'its user without access'}")
    if allowed:
        return f"{uid} joined through their own invite link (link revoked)"
    why = "another user's invite link" if owner != uid else "their invite link without an active subscription"
    change = record(session, cfg.tenant_id, uid, "removed", f"joined through {why}", now)
    channel.kick(session, cfg.tenant_id, cfg.vip_chat_id, uid, now, f"billing:access:{change.id}")
    if owner != uid and was_open and has_access(session, cfg, owner, now) \
            and member(session, cfg.tenant_id, owner, now).in_channel is not True:
        send_invite(session, cfg, owner, "Your VIP invite link was used by someone else, so it no longer works. "
                    "Here is a new one.", now, None)
    return f"{uid} removed: joined through {why}"


def register(router: Router) -> None:
    from promostack_cli.billing import sources

    for source in sources.all_sources():  # a payment source's own updates first (Stars: its payments)
        source.register(router)
    router.command("start", on_start, roles=MESSAGE_BOT, private=True)
    router.command("verify", on_verify, roles=MESSAGE_BOT, private=True)
    router.command("subscribe", on_subscribe, roles=MESSAGE_BOT, private=True)
    router.on("chat_join_request", on_join_request, roles=(SIGNAL,))
    router.on("chat_member", on_member, roles=(SIGNAL,))
