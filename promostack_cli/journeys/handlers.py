"""Journeys' part of the update router: /start deep links, /stop, replies, buttons, a user blocking the bot.

Registered by :func:`register` on the receiver's router (``webhooks/handlers.py``); every handler
runs in the transaction that marks the update processed, so a session moves and its messages are
queued together with that mark, or not at all.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from promostack_cli.journeys import sessions as journeys
from promostack_cli.telegram.routing import Handled, Router
from promostack_cli.telegram.updates import Event

ROLES = ("message_bot",)  # journeys talk through the message bot only


def _private_text(event: Event) -> bool:
    return event.private and event.text is not None and event.chat_id is not None


def on_start(session: Session, event: Event, now: datetime) -> Handled | None:
    if not _private_text(event):
        return None
    result = journeys.start_by_link(session, event.bot.tenant_id, event.chat_id, event.variables(),
                                    event.start_payload, now)
    return Handled(result, enqueued=True)


def on_stop(session: Session, event: Event, now: datetime) -> Handled | None:
    if not _private_text(event):
        return None
    n = journeys.stop_user(session, event.bot.tenant_id, event.chat_id, now)
    return Handled(f"stopped {n} session(s)")


def on_text(session: Session, event: Event, now: datetime) -> Handled | None:
    if not _private_text(event):
        return None
    result = journeys.handle_text(session, event.bot.tenant_id, event.chat_id, event.variables(), event.text, now)
    return Handled(result, enqueued=True)


def on_button(session: Session, event: Event, now: datetime) -> Handled | None:
    if event.chat_id is None:
        return None
    took = journeys.handle_callback(session, event.bot.tenant_id, event.chat_id, event.callback_data or "", now)
    return Handled("button answered a question" if took else "button ignored", enqueued=took)


def on_blocked(session: Session, event: Event, now: datetime) -> Handled | None:
    if not (event.private and event.chat_id and event.member and event.member.new_status == "kicked"):
        return None
    ended = journeys.block_user(session, event.bot.tenant_id, event.chat_id, now)
    return Handled(f"user blocked the bot; {ended} session(s) ended")


def register(router: Router) -> None:
    router.command("start", on_start, roles=ROLES)
    router.command("stop", on_stop, roles=ROLES)
    router.on("message", on_text, roles=ROLES)
    router.on("callback_query", on_button, roles=ROLES)
    router.on("my_chat_member", on_blocked, roles=ROLES)
