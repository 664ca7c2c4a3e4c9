"""A registry of update handlers by kind (and by command for messages), aiogram-style.

Each domain registers its handlers with ``register(router)`` (named in its ``domain.py``); the
receiver's router takes them in the domains' order (:func:`promostack_cli.webhooks.handlers.build_router`)::

    router.command("start", on_start, roles=MESSAGE_BOT, private=True)   # "/start <payload>"
    router.on("message", on_text, roles=MESSAGE_BOT, private=True, text=True)
    router.on("my_chat_member", on_block)
    router.before("message", unblock_hook)          # runs for every message, returns nothing

Filters are given at registration: ``roles`` (which of the tenant's bots), ``private`` (a private
chat with a known user: :attr:`Update.from_user`), ``text`` (the message has text). A handler is
``handler(c: UpdateContext) -> Handled | None``; ``None`` means "not mine": the next handler for the
kind is tried, and an update no handler takes is ``ignored``. Handlers run inside the caller's
transaction (the one that marks the update processed) and must not call Telegram. What a handler
needs is in its context (the session, the update, the time, the settings, the secret box): no
handler reads global settings, the environment or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from promostack_cli.telegram.updates import Update


@dataclass
class Handled:
    result: str                      # what happened, in words (stored on the update, shown in tests)
    status: str = "processed"        # processed | ignored
    enqueued: bool = False           # outbox messages were queued: wake the deliverer after commit


@dataclass
class UpdateContext:
    """Everything a handler may use while it handles one update."""

    session: Any                     # the transaction that marks the update processed
    update: Update
    now: datetime
    settings: Any                    # promostack_cli.settings.Settings
    box: Any                         # promostack_cli.core.secrets.SecretBox
    _memo: dict = field(default_factory=dict, repr=False)

    @property
    def tenant_id(self) -> int:
        return self.update.bot.tenant_id

    def memo(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()``, once per update: several handlers of one domain share what it loads."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]


Handler = Callable[[UpdateContext], "Handled | None"]


@dataclass(frozen=True)
class _Route:
    handler: Callable[[UpdateContext], Any]
    roles: tuple[str, ...] | None
    private: bool
    text: bool

    def matches(self, update: Update) -> bool:
        return ((self.roles is None or update.bot.role in self.roles)
                and (not self.private or update.from_user)
                and (not self.text or update.text is not None))


class Router:
    def __init__(self) -> None:
        self._by_kind: dict[str, list[_Route]] = {}
        self._by_command: dict[str, list[_Route]] = {}
        self._before: dict[str, list[_Route]] = {}

    def before(self, kind: str, hook: Callable[[UpdateContext], None], *, roles: tuple[str, ...] | None = None,
               private: bool = False, text: bool = False) -> None:
        """``hook(c)`` runs for every update of ``kind`` (that passes the filters) before its handlers."""
        self._before.setdefault(kind, []).append(_Route(hook, roles, private, text))

    def on(self, kind: str, handler: Handler, *, roles: tuple[str, ...] | None = None, private: bool = False,
           text: bool = False) -> None:
        self._by_kind.setdefault(kind, []).append(_Route(handler, roles, private, text))

    def command(self, name: str, handler: Handler, *, roles: tuple[str, ...] | None = None,
                private: bool = False) -> None:
        """A ``/name`` message; tried before the ``message`` handlers."""
        self._by_command.setdefault(name.lower(), []).append(_Route(handler, roles, private, True))

    def handlers_for(self, update: Update) -> list[Handler]:
        routes = []
        if update.kind == "message" and update.command:
            routes += self._by_command.get(update.command, [])
        routes += self._by_kind.get(update.kind, [])
        return [r.handler for r in routes if r.matches(update)]

    def dispatch(self, c: UpdateContext) -> Handled:
        for route in self._before.get(c.update.kind, []):
            if route.matches(c.update):
                route.handler(c)
        for handler in self.handlers_for(c.update):
            handled = handler(c)
            if handled is not None:
                return handled
        return Handled(_ignored_reason(c.update), status="ignored")


def _ignored_reason(update: Update) -> str:
    if update.bot.role != "message_bot":
        return f"{update.kind} to the {update.bot.role.replace('_', ' ')}"
    if update.kind == "message" and not (update.private and update.text is not None):
        return "not a private text message"
    if update.kind in ("my_chat_member", "chat_member") and update.member:
        return f"{update.kind} {update.member.new_status}"
    return update.kind
