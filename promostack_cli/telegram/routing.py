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

Many updates at once (the receiver's batches): :func:`waves` cuts a bot's updates, in ``update_id``
order, into runs in which no user and no chat comes twice, and :meth:`Router.dispatch_many` handles
one such run as :meth:`Router.dispatch` would handle each of its updates, hook by hook and handler by
handler. A handler or hook may be registered with ``many=``: a function given the list of contexts
that reached it (their updates independent of each other), returning what ``handler`` would return for
each, so that it can do its work for all of them in a few statements; without it ``handler`` is
called once per context. Updates of one user stay one at a time and in order: a user's next update
is in a later run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

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
Many = Callable[[list[UpdateContext]], "list[Handled | None] | None"]  # a handler's (or hook's) batch form


@dataclass(frozen=True)
class _Route:
    handler: Callable[[UpdateContext], Any]
    roles: tuple[str, ...] | None
    private: bool
    text: bool
    many: Many | None = None

    def matches(self, update: Update) -> bool:
        return ((self.roles is None or update.bot.role in self.roles)
                and (not self.private or update.from_user)
                and (not self.text or update.text is not None))

    def call(self, cs: list[UpdateContext]) -> list:
        """The route's handler (or hook) for each of ``cs``: all at once where it has a batch form."""
        if not cs:
            return []
        if self.many is not None:
            out = self.many(cs)
            return list(out) if out is not None else [None] * len(cs)
        return [self.handler(c) for c in cs]


class Router:
    def __init__(self) -> None:
        self._by_kind: dict[str, list[_Route]] = {}
        self._by_command: dict[str, list[_Route]] = {}
        self._before: dict[str, list[_Route]] = {}

    def before(self, kind: str, hook: Callable[[UpdateContext], None], *, roles: tuple[str, ...] | None = None,
               private: bool = False, text: bool = False, many: Many | None = None) -> None:
        """``hook(c)`` runs for every update of ``kind`` (that passes the filters) before its handlers."""
        self._before.setdefault(kind, []).append(_Route(hook, roles, private, text, many))

    def on(self, kind: str, handler: Handler, *, roles: tuple[str, ...] | None = None, private: bool = False,
           text: bool = False, many: Many | None = None) -> None:
        self._by_kind.setdefault(kind, []).append(_Route(handler, roles, private, text, many))

    def command(self, name: str, handler: Handler, *, roles: tuple[str, ...] | None = None,
                private: bool = False, many: Many | None = None) -> None:
        """A ``/name`` message; tried before the ``message`` handlers."""
        self._by_command.setdefault(name.lower(), []).append(_Route(handler, roles, private, True, many))

    def _routes(self, update: Update) -> list[_Route]:
        routes = []
        if update.kind == "message" and update.command:
            routes += self._by_command.get(update.command, [])
        routes += self._by_kind.get(update.kind, [])
        return [r for r in routes if r.matches(update)]

    def handlers_for(self, update: Update) -> list[Handler]:
        return [r.handler for r in self._routes(update)]

    def dispatch(self, c: UpdateContext) -> Handled:
        for route in self._before.get(c.update.kind, []):
            if route.matches(c.update):
                route.handler(c)
        for handler in self.handlers_for(c.update):
            handled = handler(c)
            if handled is not None:
                return handled
        return Handled(_ignored_reason(c.update), status="ignored")

    def dispatch_many(self, cs: list[UpdateContext]) -> list[Handled]:
        """What :meth:`dispatch` returns for each of ``cs``, whose updates are independent (one run of
        :func:`waves`): every hook for all of them, then each update's first handler, its next one for
        those that said "not mine", and so on; each step calls a route once for all the contexts it
        reached, in ``cs``'s order."""
        for kind in dict.fromkeys(c.update.kind for c in cs):
            same = [c for c in cs if c.update.kind == kind]
            for route in self._before.get(kind, []):
                route.call([c for c in same if route.matches(c.update)])
        chains = [self._routes(c.update) for c in cs]
        results: list[Handled | None] = [None] * len(cs)
        todo, step = list(range(len(cs))), 0
        while todo:
            reached: dict[_Route, list[int]] = {}
            for i in todo:
                if step < len(chains[i]):
                    reached.setdefault(chains[i][step], []).append(i)
                else:
                    results[i] = Handled(_ignored_reason(cs[i].update), status="ignored")
            todo = []
            for route, which in reached.items():
                for i, handled in zip(which, route.call([cs[i] for i in which]), strict=True):
                    if handled is None:
                        todo.append(i)
                    else:
                        results[i] = handled
            todo.sort()
            step += 1
        return results  # type: ignore[return-value]


def waves(updates: Iterable[Update]) -> list[list[int]]:
    """The positions of ``updates`` (one bot's, in ``update_id`` order) cut into consecutive runs in
    which no user and no chat comes twice: the updates of a run are independent of each other and
    may be handled together (:meth:`Router.dispatch_many`); a user's next update is in a later run."""
    runs: list[list[int]] = []
    seen: set = set()
    for i, update in enumerate(updates):
        keys = _keys(update)
        if not runs or not seen.isdisjoint(keys):
            runs.append([])
            seen = set()
        runs[-1].append(i)
        seen.update(keys)
    return runs


def _keys(update: Update) -> tuple:
    """Whom an update is about: its chat and its user (unknown ones count as one: never together)."""
    return (("chat", update.chat_id), ("user", update.user.id if update.user is not None else None))


def _ignored_reason(update: Update) -> str:
    if update.bot.role != "message_bot":
        return f"{update.kind} to the {update.bot.role.replace('_', ' ')}"
    if update.kind == "message" and not (update.private and update.text is not None):
        return "not a private text message"
    if update.kind in ("my_chat_member", "chat_member") and update.member:
        return f"{update.kind} {update.member.new_status}"
    return update.kind
