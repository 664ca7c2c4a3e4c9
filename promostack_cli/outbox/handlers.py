"""The outbox's part of the update router: a user blocking or unblocking the message bot, or writing to it again.

A 403 to a send marks the chat blocked (the sender); so does a ``my_chat_member`` update to
``kicked``. Back to ``member``, or any private text from the user, clears the mark, so what is queued
for them from then on is delivered."""

from __future__ import annotations

from promostack_cli.telegram.routing import Handled, Router, UpdateContext

MESSAGE_BOT = ("message_bot",)


def unblock_on_message(c: UpdateContext) -> None:
    unblock_on_messages([c])


def unblock_on_messages(cs: list[UpdateContext]) -> None:
    """:func:`unblock_on_message` for a batch (one transaction, one bot): one statement."""
    from promostack_cli.outbox.service import clear_chat_blocks

    c = cs[0]
    clear_chat_blocks(c.session, c.tenant_id, c.update.bot.role, [x.update.chat_id for x in cs])


def chat_block(c: UpdateContext) -> None:
    from promostack_cli.outbox.service import clear_chat_block, mark_chat_blocked

    u = c.update
    if not u.member:
        return
    if u.member.new_status == "kicked":
        mark_chat_blocked(c.session, c.tenant_id, u.bot.role, u.chat_id, "my_chat_member: kicked", c.now)
    elif u.member.new_status == "member":
        clear_chat_block(c.session, c.tenant_id, u.bot.role, u.chat_id)


def unblocked(c: UpdateContext) -> Handled | None:
    if c.update.member and c.update.member.new_status == "member":
        return Handled("user unblocked the bot")
    return None


def register(router: Router) -> None:
    router.before("message", unblock_on_message, roles=MESSAGE_BOT, private=True, text=True,
                  many=unblock_on_messages)
    router.before("my_chat_member", chat_block, roles=MESSAGE_BOT, private=True)
    # after every other domain's my_chat_member handler (the domains' order puts the outbox after them)
    router.on("my_chat_member", unblocked, roles=MESSAGE_BOT, private=True)
