"""Telegram updates parsed once into a typed :class:`Update`; handlers never read the raw dict.

:func:`envelope` is what the receiver needs on the request path (the update id, its kind, a
callback query's id) and nothing more; :func:`parse` builds the full event when the stored update is
processed. Both raise :class:`MalformedUpdate` for a body that is not a Telegram update.

Commands: ``/name[@bot] args``; the name is lower-cased, ``args`` stripped. For ``/start`` the args
are the deep-link payload (``https://t.me/<bot>?start=<payload>``: ``[A-Za-z0-9_-]``, 1-64 chars);
anything else there is kept as text but gives no ``payload``. An attribution code at its end
(``vip__cp1a``: the link ``vip`` opened from cross-promo post ``cp1a``) is split off into ``ref``,
once, at parsing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

KINDS = ("message", "edited_message", "channel_post", "edited_channel_post", "callback_query",
         "my_chat_member", "chat_member", "chat_join_request", "inline_query", "poll", "poll_answer")
PAYLOAD_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# an attribution code at the end of a deep-link payload: "vip__cp1a" is the link "vip" opened from
# the cross-promo post cp1a ("cp1a" alone: a plain /start from that post)
REF_RE = re.compile(r"^(?:(?P<base>[A-Za-z0-9_-]+?)__)?(?P<ref>cp[0-9a-z]{1,12})$")
COMMAND_RE = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@[A-Za-z0-9_]{1,64})?(?:\s+(.*))?$", re.DOTALL)


class MalformedUpdate(ValueError):
    """The body is not a Telegram update (or one of its parts is not shaped as Telegram sends it)."""


@dataclass(frozen=True)
class BotRef:
    """Which bot an update reached: known from the webhook secret, never from the update itself."""

    tenant_id: int
    bot_id: int
    role: str


@dataclass(frozen=True)
class User:
    id: int | None
    first_name: str = ""
    last_name: str = ""
    username: str = ""
    is_bot: bool = False

    def variables(self) -> dict[str, str]:
        """The names a journey template may use."""
        return {"first_name": self.first_name, "last_name": self.last_name, "username": self.username}


@dataclass(frozen=True)
class MemberChange:
    """``my_chat_member`` / ``chat_member``: whose membership changed, from what to what."""

    old_status: str | None
    new_status: str | None
    user: User | None
    until_date: int | None = None
    invite_name: str | None = None   # chat_member: the name of the invite link the user joined through
    invite_link: str | None = field(default=None, repr=False)  # that link (a secret: never log it)


@dataclass(frozen=True)
class Envelope:
    update_id: int
    kind: str
    update: dict = field(repr=False)
    callback_query_id: str | None = None


@dataclass(frozen=True)
class Update:
    """A parsed Telegram update (every field read once, at :func:`parse`)."""

    kind: str                        # one of KINDS, or "unknown"
    update_id: int
    bot: BotRef
    chat_id: str | None = None
    chat_type: str | None = None     # private | group | supergroup | channel
    user: User | None = None
    text: str | None = None
    command: str | None = None       # "start" for "/start abc"
    args: str | None = None          # "abc"
    callback_id: str | None = None
    callback_data: str | None = None
    member: MemberChange | None = None
    join_user_chat_id: str | None = None  # chat_join_request: where the user may be messaged for 5 minutes
    payload: str | None = None       # /start: the deep-link payload without its attribution code
    ref: str | None = None           # /start: the attribution code (``cp...``: the cross-promo post)

    @property
    def private(self) -> bool:
        return self.chat_type == "private"

    @property
    def from_user(self) -> bool:
        """A private chat with a user we can name (id known): what "private chats only" means."""
        return self.private and self.chat_id is not None and self.user is not None and self.user.id is not None

    def variables(self) -> dict[str, str]:
        return self.user.variables() if self.user else {"first_name": "", "last_name": "", "username": ""}


def loads(body: bytes) -> dict:
    """The update as a dict; :class:`MalformedUpdate` when the body is not a Telegram update."""
    try:
        update = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedUpdate(f"not JSON: {exc}") from None
    update_id = update.get("update_id") if isinstance(update, dict) else None
    if type(update_id) is not int or update_id < 0:  # bool is an int subclass: true is not an update id
        raise MalformedUpdate("not a Telegram update (no integer update_id)")
    return update


def kind_of(update: dict) -> str:
    return next((k for k in KINDS if k in update), "unknown")


def envelope(body: bytes) -> Envelope:
    update = loads(body)
    kind = kind_of(update)
    cq = update.get("callback_query") if kind == "callback_query" else None
    cq_id = cq.get("id") if isinstance(cq, dict) and isinstance(cq.get("id"), str) else None
    return Envelope(update["update_id"], kind, update, cq_id)


def _obj(value: Any, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedUpdate(f"{what} is not an object")
    return value


def _user(value: Any) -> User | None:
    u = _obj(value, "user")
    if not u:
        return None
    uid = u.get("id")
    return User(id=uid if type(uid) is int else None, first_name=str(u.get("first_name") or ""),
                last_name=str(u.get("last_name") or ""), username=str(u.get("username") or ""),
                is_bot=bool(u.get("is_bot")))


def _chat(value: Any) -> tuple[str | None, str | None]:
    chat = _obj(value, "chat")
    cid = chat.get("id")
    return (str(cid) if type(cid) is int or isinstance(cid, str) and cid else None), chat.get("type")


def deep_link_payload(args: str | None) -> str | None:
    """``args`` of a ``/start`` when it is a payload Telegram could have sent, else None."""
    return args if args and PAYLOAD_RE.match(args) else None


def split_ref(payload: str | None) -> tuple[str | None, str | None]:
    """``("vip", "cp1a")`` for ``"vip__cp1a"``, ``(None, "cp1a")`` for ``"cp1a"``, else ``(payload, None)``."""
    m = REF_RE.match(payload) if payload else None
    if not m:
        return payload, None
    return m["base"], m["ref"]


def parse_command(text: str | None) -> tuple[str | None, str | None]:
    """``("start", "abc")`` for ``"/start abc"``; ``(None, None)`` when the text is not a command."""
    text = (text or "").strip()
    if not text.startswith("/"):
        return None, None
    m = COMMAND_RE.match(text)
    if not m:
        return None, None
    return m.group(1).lower(), (m.group(2) or "").strip() or None


def parse(update: dict, bot: BotRef) -> Update:
    """The typed update of a stored one (as returned by :func:`loads`)."""
    kind, update_id = kind_of(update), update["update_id"]
    if kind in ("message", "edited_message", "channel_post", "edited_channel_post"):
        msg = _obj(update[kind], kind)
        chat_id, chat_type = _chat(msg.get("chat"))
        text = msg.get("text") if isinstance(msg.get("text"), str) else None
        command, args = parse_command(text)
        payload, ref = split_ref(deep_link_payload(args)) if command == "start" else (None, None)
        return Update(kind, update_id, bot, chat_id, chat_type, _user(msg.get("from")), text, command, args,
                      payload=payload, ref=ref)
    if kind == "callback_query":
        cq = _obj(update[kind], kind)
        user = _user(cq.get("from"))
        chat_id, chat_type = _chat(_obj(cq.get("message"), "callback message").get("chat"))
        if chat_id is None and user and user.id is not None:
            chat_id, chat_type = str(user.id), "private"
        data = cq.get("data")
        return Update(kind, update_id, bot, chat_id, chat_type, user,
                     callback_id=cq.get("id") if isinstance(cq.get("id"), str) else None,
                     callback_data=data if isinstance(data, str) else "")
    if kind in ("my_chat_member", "chat_member"):
        m = _obj(update[kind], kind)
        chat_id, chat_type = _chat(m.get("chat"))
        old, new = _obj(m.get("old_chat_member"), "old_chat_member"), _obj(m.get("new_chat_member"), "new_chat_member")
        until = new.get("until_date")
        link = _obj(m.get("invite_link"), "invite_link")
        name, url = link.get("name"), link.get("invite_link")
        change = MemberChange(old.get("status"), new.get("status"), _user(new.get("user")),
                              until if type(until) is int else None, name if isinstance(name, str) else None,
                              url if isinstance(url, str) else None)
        return Update(kind, update_id, bot, chat_id, chat_type, _user(m.get("from")), member=change)
    if kind == "chat_join_request":
        r = _obj(update[kind], kind)
        chat_id, chat_type = _chat(r.get("chat"))
        ucid = r.get("user_chat_id")
        return Update(kind, update_id, bot, chat_id, chat_type, _user(r.get("from")),
                     join_user_chat_id=str(ucid) if type(ucid) is int else None)
    return Update(kind, update_id, bot)
