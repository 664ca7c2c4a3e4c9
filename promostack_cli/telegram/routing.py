"""A registry of update handlers by kind (and by command for messages), aiogram-style.

Domains register at the edge (``webhooks/handlers.py`` builds the receiver's router)::

    router.command("start", start_handler)          # "/start <payload>" in a private chat
    router.on("message", reply_handler)              # any other message
    router.on("my_chat_member", block_handler)
    router.before("message", unblock_hook)           # runs for every message, returns nothing

A handler is ``(session, event, now) -> Handled | None``; ``None`` means "not mine": the next
handler for the kind is tried, and an update no handler takes is ``ignored``. Handlers run inside
the caller's transaction (the one that marks the update processed) and must not call Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from promostack_cli.telegram.updates import Event


@dataclass
class Handled:
    result: str                      # what happened, in words (stored on the update, shown in tests)
    status: str = "processed"        # processed | ignored
    enqueued: bool = False           # outbox messages were queued: wake the deliverer after commit


Handler = Callable[..., "Handled | None"]


@dataclass(frozen=True)
class _Route:
    handler: Handler
    roles: tuple[str, ...] | None


class Router:
    def __init__(self) -> None:
        self._by_kind: dict[str, list[_Route]] = {}
        self._by_command: dict[str, list[_Route]] = {}
        self._before: dict[str, list[_Route]] = {}

    def before(self, kind: str, hook: Callable[..., None], *, roles: tuple[str, ...] | None = None) -> None:
        """``hook(session, event, now)`` runs for every event of ``kind`` before its handlers."""
        self._before.setdefault(kind, []).append(_Route(hook, roles))

    def on(self, kind: str, handler: Handler, *, roles: tuple[str, ...] | None = None) -> None:
        self._by_kind.setdefault(kind, []).append(_Route(handler, roles))

    def command(self, name: str, handler: Handler, *, roles: tuple[str, ...] | None = None) -> None:
        """A ``/name`` message; tried before the ``message`` handlers."""
        self._by_command.setdefault(name.lower(), []).append(_Route(handler, roles))

    def handlers_for(self, event: Event) -> list[Handler]:
        routes = []
        if event.kind == "message" and event.command:
            routes += self._by_command.get(event.command, [])
        routes += self._by_kind.get(event.kind, [])
        return [r.handler for r in routes if r.roles is None or event.bot.role in r.roles]

    def dispatch(self, session, event: Event, now: datetime) -> Handled:
        for route in self._before.get(event.kind, []):
            if route.roles is None or event.bot.role in route.roles:
                route.handler(session, event, now)
        for handler in self.handlers_for(event):
            handled = handler(session, event, now)
            if handled is not None:
                return handled
        return Handled(_ignored_reason(event), status="ignored")


def _ignored_reason(event: Event) -> str:
    if event.bot.role != "message_bot":
        return f"{event.kind} to the {event.bot.role.replace('_', ' ')}"
    if event.kind == "message" and not (event.private and event.text is not None):
        return "not a private text message"
    if event.kind in ("my_chat_member", "chat_member") and event.member:
        return f"{event.kind} {event.member.new_status}"
    return event.kind
