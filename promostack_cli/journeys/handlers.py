"""Journeys' part of the update router: /start deep links, /stop, replies, buttons, a user blocking the bot.

Every handler runs in the transaction that marks the update processed, so a session moves and its
messages are queued together with that mark, or not at all. ``/start`` has a batch form
(:func:`on_starts`): the receiver starts a burst's journeys a batch at a time.
"""

from __future__ import annotations

from promostack_cli.journeys import sessions as journeys
from promostack_cli.telegram.routing import Handled, Router, UpdateContext

MESSAGE_BOT = ("message_bot",)  # journeys talk through the message bot only


def on_start(c: UpdateContext) -> Handled:
    u = c.update
    result = journeys.start_by_link(c.session, c.tenant_id, u.chat_id, u.variables(), u.payload, c.now)
    return Handled(result, enqueued=True)


def on_starts(cs: list[UpdateContext]) -> list[Handled]:
    """:func:`on_start` for a batch of users' /start (one transaction, one bot): a few statements in all."""
    c = cs[0]
    starts = [(x.update.chat_id, x.update.variables(), x.update.payload) for x in cs]
    return [Handled(result, enqueued=True) for result in journeys.start_by_links(c.session, c.tenant_id, starts, c.now)]


def on_stop(c: UpdateContext) -> Handled:
    return Handled(f"stopped {journeys.stop_user(c.session, c.tenant_id, c.update.chat_id, c.now)} session(s)")


def on_text(c: UpdateContext) -> Handled:
    u = c.update
    result = journeys.handle_text(c.session, c.tenant_id, u.chat_id, u.variables(), u.text, c.now)
    return Handled(result, enqueued=True)


def on_button(c: UpdateContext) -> Handled | None:
    u = c.update
    if u.chat_id is None:
        return None
    took = journeys.handle_callback(c.session, c.tenant_id, u.chat_id, u.callback_data or "", c.now)
    return Handled("button answered a question" if took else "button ignored", enqueued=took)


def on_blocked(c: UpdateContext) -> Handled | None:
    if not (c.update.member and c.update.member.new_status == "kicked"):
        return None
    ended = journeys.block_user(c.session, c.tenant_id, c.update.chat_id, c.now)
    return Handled(f"user blocked the bot; {ended} session(s) ended")


def register(router: Router) -> None:
    router.command("start", on_start, roles=MESSAGE_BOT, private=True, many=on_starts)
    router.command("stop", on_stop, roles=MESSAGE_BOT, private=True)
    router.on("message", on_text, roles=MESSAGE_BOT, private=True, text=True)
    router.on("callback_query", on_button, roles=MESSAGE_BOT)
    router.on("my_chat_member", on_blocked, roles=MESSAGE_BOT, private=True)
