"""A loopback fake of the Telegram Bot API, for tests and benchmarks.

Start it in-process (``with FakeTelegram() as tg: ...``) or as a separate process
(``python tests/fakes/telegram.py --port 0 --bot 123:ABC:my_bot``; the base URL is
printed as the first line of stdout).  Clients talk to it exactly as to
``https://api.telegram.org``: ``POST|GET {base_url}/bot{TOKEN}/{method}``.

Faithful to Telegram:
  * the envelope: HTTP status == ``error_code``; ``{"ok": true, "result": ...}`` or
    ``{"ok": false, "error_code": N, "description": "..."}``, 429 with
    ``"parameters": {"retry_after": S}``; ``"description"`` on (set|delete)Webhook;
  * parameters from the query string, JSON, urlencoded or multipart bodies (merged),
    JSON-typed parameters (reply_markup, ...) accepted as JSON strings;
  * method names are case-insensitive; a token not shaped ``digits:secret`` -> 404,
    an unknown token -> 401, an unknown method -> 404;
  * the error descriptions clients usually match on (chat not found, bot was blocked,
    message is too long, can't parse entities ... at byte offset N, retry after N,
    bad webhook ...);
  * HTML parse_mode is validated by a port of TDLib's parser (same tags, attributes,
    entities and error reasons); the length limit (4096) counts the parsed text;
  * setWebhook with an empty/absent url deletes the webhook; getWebhookInfo never
    reveals the secret token; non-https urls and ports other than 80/88/443/8443
    are refused.

Simplified / invented:
  * no updates (getUpdates, webhook delivery), no media: only the methods in
    ``FakeTelegram._handlers`` exist; MarkdownV2 is not validated, ``entities`` are
    not returned; text length counts code points (Telegram counts UTF-16 units);
  * a bare ``&`` that doesn't start an entity is rejected by default (TDLib keeps it
    literally; pass ``strict_html_entities=False`` for that behaviour);
  * rate limits are exact sliding windows (real Telegram is fuzzier):
    ``bot_per_second`` per token, ``private_per_second`` per (token, private chat),
    ``group_per_minute`` per (token, group/supergroup/channel);
  * membership: a bot is a member (administrator) of an added chat iff it's in the
    chat's ``admins`` (``None`` = every bot); positive ids are private chats that
    exist implicitly; message ids count per chat, starting at 1;
  * ``/_fake/stats``, ``/_fake/bots``, ``/_fake/chats``, ``/_fake/reset`` are control
    endpoints for out-of-process use, and two more for benchmarks:
      - ``POST /_fake/fail_next`` with ``{"method": "sendMessage", "error_code": 429,
        "retry_after": 10, "count": 1, "token": "...", "description": "..."}`` (all but
        ``method`` and ``error_code`` optional) scripts failures like :meth:`fail_next`;
      - ``GET /_fake/sent[?since=N]`` returns every successful sendMessage from the N-th on
        (``token``, ``bot_id``, ``chat_id``, ``text``, ``at``), the scripted failures that
        fired (``method``, ``token``, ``error_code``, ``retry_after``, ``at``), and ``now``
        (the fake's clock) with ``wall`` (``time.time()``) read together, so a client in
        another process can map ``at`` onto its own wall clock.
"""

from __future__ import annotations

import argparse
import collections
import email.parser
import email.policy
import json
import math
import re
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

__all__ = ["Call", "FakeTelegram", "main"]

TOKEN_RE = re.compile(r"^(\d+):([A-Za-z0-9_-]+)$")
SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MAX_TEXT_LENGTH = 4096
# Parameters whose value is a JSON object/array; form posts send them as JSON strings.
JSON_PARAMS = frozenset({"reply_markup", "reply_parameters", "link_preview_options",
                         "allowed_updates", "entities", "caption_entities"})
DEFAULT_DESCRIPTIONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                        404: "Not Found", 409: "Conflict", 500: "Internal Server Error",
                        502: "Bad Gateway"}
WEBHOOK_PORTS = (None, 80, 88, 443, 8443)


@dataclass
class Call:
    """One API request, recorded on arrival; ``status`` is filled in once answered."""
    method: str
    token: str
    params: dict
    at: float
    status: int = 0


class ApiError(Exception):
    """Raised by method handlers; becomes an ``ok: false`` response."""

    def __init__(self, code: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after

    def envelope(self) -> dict:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


# --------------------------------------------------------------------------- helpers

def _as_int(value: Any) -> int | None:
    """int for ints and numeric strings (as Telegram coerces), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _parse_params(query: str, content_type: str, body: bytes) -> dict:
    """Merge query-string and body parameters; decode JSON-typed string params."""
    params: dict[str, Any] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    ctype = content_type.split(";")[0].strip().lower()
    if body:
        if ctype == "application/json":
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("JSON body must be an object")
            params.update(data)
        elif ctype == "multipart/form-data":
            head = f"Content-Type: {content_type}\r\n\r\n".encode()
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                if name:  # files stay bytes, plain fields become str
                    params[name] = payload if part.get_filename() else payload.decode("utf-8")
        else:  # application/x-www-form-urlencoded (or unspecified)
            params.update(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    for key in JSON_PARAMS & params.keys():
        value = params[key]
        if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
            try:
                params[key] = json.loads(value)
            except ValueError:
                pass  # left as a string; the handler reports it
    return params


# ------------------------------------------------------------------ HTML validation
# A port of TDLib's parse_html (td/telegram/MessageEntity.cpp), minus entity building.

HTML_TAGS = frozenset({"a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del",
                       "code", "pre", "tg-spoiler", "blockquote", "span", "tg-emoji"})
_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8}));")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _decode_entity(text: str, i: int) -> tuple[str, int] | None:
    """Decode the HTML entity at text[i] ('&'): (character, end index) or None."""
    m = _ENTITY_RE.match(text, i)
    if not m:
        return None
    if m.group(1):
        return _NAMED_ENTITIES[m.group(1)], m.end()
    code = int(m.group(2)) if m.group(2) else int(m.group(3), 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), m.end()


def parse_html(text: str, *, strict_entities: bool = True) -> str:
    """Validate Telegram-HTML; return the visible text or raise ApiError(400)."""
    def fail(reason: str, pos: int | None = None) -> None:
        if pos is not None:
            reason += f" at byte offset {len(text[:pos].encode('utf-8'))}"
        raise ApiError(400, "Bad Request: can't parse entities: " + reason)

    out: list[str] = []
    stack: list[str] = []  # open tag names
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            decoded = _decode_entity(text, i)
            if decoded:
                out.append(decoded[0])
                i = decoded[1]
                continue
            if strict_entities:
                fail('Character "&" must be escaped as "&amp;"', i)
        if c != "<":  # ordinary character (a bare '>' is fine, as in Telegram)
            out.append(c)
            i += 1
            continue
        begin, i = i, i + 1
        if i < n and text[i] == "/":  # ---- end tag
            if not stack:
                fail("Unexpected end tag", begin)
            j = i + 1
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            name = text[i + 1:j].lower()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                fail("Unclosed end tag", begin)
            if name and name != stack[-1]:  # "</>" closes anything, as in TDLib
                offset = len(text[:begin].encode("utf-8"))
                fail(f'Unmatched end tag at byte offset {offset}, '
                     f'expected "</{stack[-1]}>", found "</{name}>"')
            stack.pop()
            i = j + 1
            continue
        j = i  # ---- start tag
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            fail("Unclosed start tag", begin)
        tag = text[i:j].lower()
        if tag not in HTML_TAGS:
            fail(f'Unsupported start tag "{tag}"', begin)
        attrs: dict[str, str] = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                fail(f'Unclosed start tag "{tag}"', begin)
            if text[j] == ">":
                j += 1
                break
            k = j
            while k < n and not text[k].isspace() and text[k] not in "=>/\"'":
                k += 1
            attr = text[j:k].lower()
            if not attr:
                fail(f'Empty attribute name in the tag "{tag}"', begin)
            j = k
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != "=":  # attribute without a value, e.g. "expandable"
                attrs[attr] = ""
                continue
            j += 1
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                fail(f'Unclosed start tag "{tag}"', begin)
            if text[j] in "\"'":
                end = text.find(text[j], j + 1)
                if end < 0:
                    fail(f'Unclosed start tag "{tag}"', begin)
                attrs[attr] = parse_html_attr(text[j + 1:end])
                j = end + 1
            else:  # unquoted value: [A-Za-z0-9.-]+
                k = j
                while k < n and (text[k].isascii() and text[k].isalnum() or text[k] in ".-"):
                    k += 1
                if k >= n or not (text[k].isspace() or text[k] == ">"):
                    fail("Unexpected end of name token", k)
                attrs[attr] = text[j:k].lower()
                j = k
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            fail('Tag "span" must have class "tg-spoiler"', begin)
        if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            fail("Invalid custom emoji identifier specified")
        stack.append(tag)
        i = j
    if stack:
        fail(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def parse_html_attr(value: str) -> str:
    """Decode entities inside a quoted attribute value (leniently, like TDLib)."""
    out, i = [], 0
    while i < len(value):
        decoded = _decode_entity(value, i) if value[i] == "&" else None
        if decoded:
            out.append(decoded[0])
            i = decoded[1]
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


# ---------------------------------------------------------------------- state model

@dataclass
class _Chat:
    id: int
    type: str  # "private" | "group" | "supergroup" | "channel"
    title: str | None = None
    username: str | None = None
    admins: set[int] | None = None  # bot ids; None = every bot

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            d["first_name"] = self.title or f"User{self.id}"
        else:
            d["title"] = self.title or (self.username or f"Chat {self.id}")
        if self.username:
            d["username"] = self.username
        return d


class _Limiter:
    """Exact sliding windows over successful sends (server arrival times)."""

    def __init__(self, bot_per_second: int, private_per_second: int, group_per_minute: int):
        self.rules = (bot_per_second, private_per_second, group_per_minute)
        self.windows: dict[tuple, collections.deque] = collections.defaultdict(collections.deque)

    def _keys(self, token: str, chat: _Chat) -> list[tuple[tuple, int, float]]:
        bot, private, group = self.rules
        per_chat = (private, 1.0) if chat.type == "private" else (group, 60.0)
        return [(("bot", token), bot, 1.0), (("chat", token, chat.id), *per_chat)]

    def wait(self, token: str, chat: _Chat, now: float) -> float:
        """Seconds until a send would fit in every window (0 = allowed now)."""
        wait = 0.0
        for key, limit, span in self._keys(token, chat):
            window = self.windows[key]
            while window and window[0] <= now - span:
                window.popleft()
            if len(window) >= limit:  # frees when the limit-th newest entry expires
                wait = max(wait, window[-limit] + span - now)
        return wait

    def record(self, token: str, chat: _Chat, now: float) -> None:
        for key, _limit, _span in self._keys(token, chat):
            self.windows[key].append(now)


# ---------------------------------------------------------------------- HTTP server

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response has Content-Length
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "FakeTelegram/1.0"
    timeout = 300  # idle keep-alive connections are dropped after this
    server: "_Server"

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.fake._track(self.connection, add=False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep quiet
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        status, payload = self.server.fake._handle_http(
            self.path, self.headers.get("Content-Type", ""), body)
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # client gave up (e.g. timed out during hang_next)
            self.close_connection = True

    do_GET = do_POST = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: "FakeTelegram"):
        self.fake = fake
        super().__init__(address, _Handler)


# ----------------------------------------------------------------------- the fake

class FakeTelegram:
    """In-process fake Telegram Bot API server.  All state is guarded by one lock."""

    def __init__(self, *, enforce_limits: bool = True, bot_per_second: int = 30,
                 private_per_second: int = 1, group_per_minute: int = 20,
                 host: str = "127.0.0.1", port: int = 0, latency: float = 0.0,
                 allow_http_webhooks: bool = False, strict_html_entities: bool = True,
                 clock: Callable[[], float] = time.monotonic):
        self.enforce_limits = enforce_limits
        self.latency = latency
        self.allow_http_webhooks = allow_http_webhooks
        self.strict_html_entities = strict_html_entities
        self._clock = clock  # injectable for deterministic limiter tests
        self._address = (host, port)
        self._limits = (bot_per_second, private_per_second, group_per_minute)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        # setup state (survives reset)
        self._bots: dict[str, dict] = {}  # token -> User dict
        self._chats: dict[int, _Chat] = {}
        self._usernames: dict[str, int] = {}  # lower-case username -> chat id
        self._blocked: set[tuple[int, str | None]] = set()
        self._next_generated_id = -1001000000000
        self._handlers: dict[str, Callable[[str, dict, dict, float], Any]] = {
            "getMe": self._get_me, "sendMessage": self._send_message,
            "getChat": self._get_chat, "getChatMember": self._get_chat_member,
            "setWebhook": self._set_webhook, "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "answerCallbackQuery": self._answer_callback_query,
            "createChatInviteLink": self._create_invite_link,
            "revokeChatInviteLink": self._revoke_invite_link,
            "banChatMember": self._ban_chat_member, "unbanChatMember": self._unban_chat_member,
            "approveChatJoinRequest": self._approve_join_request,
            "declineChatJoinRequest": self._decline_join_request,
        }
        self._tracked: set[int] = set()  # chats whose user membership is tracked (others: everyone "member")
        self._canonical = {name.lower(): name for name in self._handlers}
        self.reset()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "FakeTelegram":
        if self._server is None:
            self._server = _Server(self._address, self)
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name="fake-telegram", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:  # also end kept-alive connections, so clients see the outage
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeTelegram":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeTelegram is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    # ------------------------------------------------------------ test setup
    def add_bot(self, token: str, username: str, *, first_name: str = "Test Bot") -> dict:
        if not TOKEN_RE.match(token):
            raise ValueError(f"bad bot token {token!r}: expected digits:secret")
        user = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": first_name,
                "username": username, "can_join_groups": True,
                "can_read_all_group_messages": False, "supports_inline_queries": False}
        with self._lock:
            self._bots[token] = user
        return dict(user)

    def add_chat(self, chat_id: int | str, *, type: str = "channel",  # noqa: A002
                 title: str | None = None, username: str | None = None,
                 admins: set[int] | None = None) -> dict:
        """Register a chat; "@name" ids get a generated numeric id.  Returns the Chat dict."""
        with self._lock:
            if isinstance(chat_id, str) and chat_id.startswith("@"):
                username = chat_id[1:]
                numeric = self._next_generated_id = self._next_generated_id - 1
            elif (numeric := _as_int(chat_id)) is None:
                raise ValueError(f"bad chat id {chat_id!r}")
            chat = _Chat(numeric, type, title, username, None if admins is None else set(admins))
            self._chats[numeric] = chat
            if username:
                self._usernames[username.lower()] = numeric
            return chat.to_dict()

    def track_members(self, chat_id: int, members: tuple[int, ...] = ()) -> None:
        """Track who is in ``chat_id``: getChatMember then says member/left/kicked for users, join
        requests can be approved or declined, approvals make members and bans remove them."""
        with self._lock:
            self._tracked.add(int(chat_id))
            self.members.update((int(chat_id), int(u)) for u in members)

    def add_join_request(self, chat_id: int, user_id: int) -> None:
        """A user asked to join through a join-request link (the update itself is the test's to post)."""
        with self._lock:
            self.join_requests.add((int(chat_id), int(user_id)))

    def join_by_link(self, invite_link: str, user_id: int, *, at: float | None = None) -> dict:
        """A user opens an invite link, as Telegram judges it: a revoked or expired link, one whose
        ``member_limit`` is taken by members who joined through it, or a banned user raise ApiError;
        else they become a member. ``at``: the unix time of the attempt (default now; ``expire_date``
        is one). Returns the ChatInviteLink, for the test's ``chat_member`` update."""
        with self._lock:
            found = self._invite_links.get(invite_link)
            if found is None:
                raise ApiError(400, "Bad Request: INVITE_HASH_INVALID")
            chat_id, link = found
            joined = link.setdefault("_joined", set())
            if link["is_revoked"] or link.get("expire_date", float("inf")) <= (time.time() if at is None else at):
                raise ApiError(400, "Bad Request: INVITE_HASH_EXPIRED")
            if "member_limit" in link and len({u for u in joined if (chat_id, u) in self.members}) >= link["member_limit"]:
                raise ApiError(400, "Bad Request: USERS_TOO_MUCH")
            if (chat_id, int(user_id)) in self.banned:
                raise ApiError(400, "Bad Request: USER_BANNED_IN_CHANNEL")
            joined.add(int(user_id))
            self.members.add((chat_id, int(user_id)))
            return {k: v for k, v in link.items() if not k.startswith("_")}

    @property
    def invite_links(self) -> dict[str, dict]:
        """Invite links made so far, by link."""
        with self._lock:
            return {url: {k: v for k, v in link.items() if not k.startswith("_")}
                    for url, (_, link) in self._invite_links.items()}

    def block(self, chat_id: int, bot_token: str | None = None) -> None:
        """The user blocked the bot (every bot if bot_token is None)."""
        with self._lock:
            self._blocked.add((int(chat_id), bot_token))

    def unblock(self, chat_id: int, bot_token: str | None = None) -> None:
        with self._lock:
            self._blocked.discard((int(chat_id), bot_token))

    def fail_next(self, method: str, error_code: int, description: str | None = None, *,
                  count: int = 1, retry_after: int | None = None,
                  token: str | None = None) -> None:
        """Answer the next `count` calls of `method` (from `token`, if given) with an error."""
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = (f"Too Many Requests: retry after {retry_after}" if error_code == 429
                           else DEFAULT_DESCRIPTIONS.get(error_code, "Error"))
        error = ApiError(error_code, description, retry_after if error_code == 429 else None)
        with self._lock:
            self._failures[method.lower()].append([token, error, count])

    def hang_next(self, method: str, seconds: float, count: int = 1, *,
                  process_first: bool = True) -> None:
        """Delay the response to the next `count` calls of `method` by `seconds`.

        By default the request still takes effect at once (like a reply lost in the
        network); with process_first=False it is only processed after the delay.
        """
        with self._lock:
            self._hangs[method.lower()].append([seconds, process_first, count])

    def reset(self) -> None:
        """Forget calls, sends, scripted failures, limiter state, webhooks, invite links
        and bans; keep bots, chats and blocks."""
        with self._lock:
            self._calls: list[Call] = []
            self._sent: list[dict] = []
            self._failures: dict[str, list[list]] = collections.defaultdict(list)
            self._hangs: dict[str, list[list]] = collections.defaultdict(list)
            self._limiter = _Limiter(*self._limits)
            self._count_429 = self._count_scripted = self._count_scripted_429 = 0
            self._scripted_fired: list[dict] = []  # scripted failures as they fired (for /_fake/sent)
            self._webhooks: dict[str, dict] = {}
            self._invite_links: dict[str, tuple[int, dict]] = {}
            self._message_ids: dict[int, int] = collections.defaultdict(int)
            self.banned: set[tuple[int, int]] = set()  # (chat id, user id)
            self.members: set[tuple[int, int]] = set()  # (chat id, user id) in tracked chats
            self.join_requests: set[tuple[int, int]] = set()  # pending (chat id, user id)

    # ------------------------------------------------------------ inspection
    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def sent(self, *, token: str | None = None, chat_id: int | str | None = None) -> list[dict]:
        """Successfully sent messages; chat_id matches the id as given or as resolved."""
        want = _as_int(chat_id) if _as_int(chat_id) is not None else chat_id
        with self._lock:
            return [dict(m) for m in self._sent
                    if (token is None or m["token"] == token)
                    and (want is None or want in (m["chat_id"], m["resolved_chat_id"]))]

    @property
    def count_429(self) -> int:
        """429s produced by the rate limiter (scripted ones: count_scripted_429)."""
        with self._lock:
            return self._count_429

    @property
    def count_scripted(self) -> int:
        with self._lock:
            return self._count_scripted

    @property
    def count_scripted_429(self) -> int:
        with self._lock:
            return self._count_scripted_429

    @property
    def webhooks(self) -> dict[str, dict]:
        with self._lock:
            return {token: dict(info) for token, info in self._webhooks.items()}

    def stats(self) -> dict:
        """Aggregates for benchmarks (also served as GET /_fake/stats)."""
        with self._lock:
            times: dict[int, list[float]] = collections.defaultdict(list)
            for m in self._sent:
                times[m["bot_id"]].append(m["at"])
            stats = {"count_429": self._count_429, "count_scripted": self._count_scripted,
                     "calls": len(self._calls), "sent": len(self._sent),
                     "sent_by_bot": {}, "first_at_by_bot": {}, "last_at_by_bot": {},
                     "max_in_any_second_by_bot": {}, "now": self._clock()}
        for bot_id, ts in times.items():
            ts.sort()
            best, lo = 0, 0
            for hi, t in enumerate(ts):  # widest run inside any 1 s window
                while ts[lo] <= t - 1.0:
                    lo += 1
                best = max(best, hi - lo + 1)
            key = str(bot_id)
            stats["sent_by_bot"][key] = len(ts)
            stats["first_at_by_bot"][key], stats["last_at_by_bot"][key] = ts[0], ts[-1]
            stats["max_in_any_second_by_bot"][key] = best
        return stats

    # ------------------------------------------------------------ request entry
    def _handle_http(self, path: str, content_type: str, body: bytes) -> tuple[int, dict]:
        url = urllib.parse.urlsplit(path)
        if url.path.startswith("/_fake/"):
            return self._control(url.path, body, url.query)
        m = re.fullmatch(r"/bot([^/]*)/([^/]*)", url.path)
        if not m:
            return 404, ApiError(404, "Not Found").envelope()
        token, method = m.groups()
        try:
            params: dict | None = _parse_params(url.query, content_type, body)
        except (ValueError, UnicodeDecodeError):
            params = None
        return self._call_api(token, method, params)

    def _call_api(self, token: str, method: str, params: dict | None) -> tuple[int, dict]:
        method = self._canonical.get(method.lower(), method)
        call = Call(method, token, dict(params or {}), self._clock())
        with self._lock:
            self._calls.append(call)
            hang = self._pop_scripted(self._hangs, method, None)
        if hang and not hang[1]:
            time.sleep(hang[0])
        with self._lock:
            try:
                result = self._dispatch(token, method, params, self._clock())
                status, payload = 200, {"ok": True, "result": result}
                if isinstance(result, _WithDescription):
                    payload = {"ok": True, "result": result.result, "description": result.text}
            except ApiError as e:
                status, payload = e.code, e.envelope()
            call.status = status
        delay = self.latency + (hang[0] if hang and hang[1] else 0.0)
        if delay > 0:
            time.sleep(delay)
        return status, payload

    @staticmethod
    def _pop_scripted(queues: dict[str, list[list]], method: str, token: str | None) -> Any:
        """Consume one use of the first matching scripted entry (FIFO per method)."""
        queue = queues.get(method.lower())
        for index, entry in enumerate(queue or ()):
            if token is None or entry[0] in (None, token):
                entry[-1] -= 1
                if entry[-1] <= 0:
                    del queue[index]
                return entry
        return None

    def _dispatch(self, token: str, method: str, params: dict | None, now: float) -> Any:
        if not TOKEN_RE.match(token):
            raise ApiError(404, "Not Found")
        bot = self._bots.get(token)
        if bot is None:
            raise ApiError(401, "Unauthorized")
        failure = self._pop_scripted(self._failures, method, token)
        if failure:
            self._count_scripted += 1
            self._count_scripted_429 += failure[1].code == 429
            self._scripted_fired.append({"method": method, "token": token, "error_code": failure[1].code,
                                         "retry_after": failure[1].retry_after, "at": now})
            raise failure[1]
        handler = self._handlers.get(method)
        if handler is None:
            raise ApiError(404, "Not Found")
        if params is None:
            raise ApiError(400, "Bad Request: can't parse request body")
        return handler(token, bot, params, now)

    # ------------------------------------------------------------ chat helpers
    def _resolve_chat(self, value: Any) -> _Chat:
        if isinstance(value, str) and value.startswith("@"):
            chat = self._chats.get(self._usernames.get(value[1:].lower(), 0))
        else:
            numeric = _as_int(value)
            chat = self._chats.get(numeric) if numeric is not None else None
            if chat is None and numeric is not None and numeric > 0:
                chat = _Chat(numeric, "private")  # private chats exist implicitly
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _require_chat(self, params: dict) -> _Chat:
        if params.get("chat_id") in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        return self._resolve_chat(params["chat_id"])

    @staticmethod
    def _is_member(chat: _Chat, bot_id: int) -> bool:
        return chat.type == "private" or chat.admins is None or bot_id in chat.admins

    @staticmethod
    def _not_member(chat: _Chat) -> ApiError:
        return ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")

    def _managed_chat(self, params: dict, bot: dict) -> _Chat:
        """A group/supergroup/channel the bot administers (for invite links and bans)."""
        chat = self._require_chat(params)
        if chat.type == "private":
            raise ApiError(400, "Bad Request: method is available for supergroup and channel chats only")
        if not self._is_member(chat, bot["id"]):
            raise self._not_member(chat)
        return chat

    def _require_user_id(self, params: dict) -> int:
        user_id = _as_int(params.get("user_id"))
        if user_id is None or user_id <= 0:
            raise ApiError(400, "Bad Request: invalid user_id specified")
        return user_id

    # ------------------------------------------------------------ methods
    def _get_me(self, token: str, bot: dict, params: dict, now: float) -> dict:
        return dict(bot)

    def _send_message(self, token: str, bot: dict, p: dict, now: float) -> dict:
        if p.get("chat_id") in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        text = p.get("text")
        if text is None or str(text) == "":
            raise ApiError(400, "Bad Request: message text is empty")
        text = str(text)
        chat = self._resolve_chat(p["chat_id"])
        if (chat.id, token) in self._blocked or (chat.id, None) in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        parse_mode = str(p.get("parse_mode") or "")
        if parse_mode.lower() not in ("", "html", "markdown", "markdownv2"):
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        plain, html_error = text, None
        if parse_mode.lower() == "html":
            try:
                plain = parse_html(text, strict_entities=self.strict_html_entities)
            except ApiError as e:
                html_error = e
        if len(plain) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        if html_error is not None:
            raise html_error
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if not self._is_member(chat, bot["id"]):
            raise self._not_member(chat)
        markup = p.get("reply_markup")
        if markup is not None and not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if self.enforce_limits:  # after validation; rejected sends use no capacity
            wait = self._limiter.wait(token, chat, now)
            if wait > 0:
                self._count_429 += 1
                retry_after = max(1, math.ceil(wait))
                raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
            self._limiter.record(token, chat, now)
        self._message_ids[chat.id] += 1
        message_id = self._message_ids[chat.id]
        reply_to = p.get("reply_to_message_id")
        if reply_to is None and isinstance(p.get("reply_parameters"), dict):
            reply_to = p["reply_parameters"].get("message_id")
        given = _as_int(p["chat_id"])
        self._sent.append({
            "token": token, "bot_id": bot["id"],
            "chat_id": given if given is not None else p["chat_id"], "resolved_chat_id": chat.id,
            "text": text, "plain_text": plain, "message_id": message_id, "at": now,
            "parse_mode": p.get("parse_mode"), "reply_markup": markup,
            "reply_to_message_id": _as_int(reply_to) if reply_to is not None else None,
            "disable_notification": _as_bool(p.get("disable_notification")),
            "link_preview_options": p.get("link_preview_options"),
        })
        message = {"message_id": message_id, "from": dict(bot), "chat": chat.to_dict(),
                   "date": int(time.time()), "text": plain}
        if chat.type == "channel":
            message["sender_chat"] = chat.to_dict()
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message

    def _get_chat(self, token: str, bot: dict, p: dict, now: float) -> dict:
        chat = self._require_chat(p)
        return {**chat.to_dict(), "accent_color_id": 0, "max_reaction_count": 11}

    def _get_chat_member(self, token: str, bot: dict, p: dict, now: float) -> dict:
        chat = self._require_chat(p)
        user_id = self._require_user_id(p)
        member_bot = next((b for b in self._bots.values() if b["id"] == user_id), None)
        if member_bot is None or chat.type == "private":
            user = dict(member_bot) if member_bot else {"id": user_id, "is_bot": False,
                                                         "first_name": f"User{user_id}"}
            if member_bot is None and chat.id in self._tracked:
                if (chat.id, user_id) in self.banned:
                    return {"status": "kicked", "user": user, "until_date": 0}
                return {"status": "member" if (chat.id, user_id) in self.members else "left", "user": user}
            return {"status": "member", "user": user}
        if not self._is_member(chat, user_id):
            return {"status": "left", "user": dict(member_bot)}
        return {"status": "administrator", "user": dict(member_bot), "can_be_edited": False,
                "is_anonymous": False, "can_manage_chat": True, "can_delete_messages": True,
                "can_manage_video_chats": True, "can_restrict_members": True,
                "can_promote_members": False, "can_change_info": True,
                "can_invite_users": True, "can_post_messages": True,
                "can_edit_messages": True, "can_pin_messages": True,
                "can_post_stories": False, "can_edit_stories": False,
                "can_delete_stories": False}

    def _set_webhook(self, token: str, bot: dict, p: dict, now: float) -> Any:
        url = str(p.get("url") or "")
        if not url:  # Telegram: an empty url removes the webhook
            return self._delete_webhook(token, bot, p, now)
        parts = urllib.parse.urlsplit(url)
        allowed = ("https", "http") if self.allow_http_webhooks else ("https",)
        if parts.scheme.lower() not in allowed or not parts.hostname:
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if not self.allow_http_webhooks and port not in WEBHOOK_PORTS:
            raise ApiError(400, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = p.get("secret_token")
        if secret not in (None, "") and not SECRET_TOKEN_RE.match(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        raw_max = p.get("max_connections")
        max_connections = 40 if raw_max in (None, "") else _as_int(raw_max)
        if max_connections is None or not 1 <= max_connections <= 100:
            raise ApiError(400, "Bad Request: bad webhook: max_connections must be between 1 and 100")
        allowed_updates = p.get("allowed_updates")
        if allowed_updates is not None and not (
                isinstance(allowed_updates, list) and all(isinstance(u, str) for u in allowed_updates)):
            raise ApiError(400, "Bad Request: can't parse allowed updates: array of strings expected")
        info = {"url": url, "secret_token": secret or None, "max_connections": max_connections,
                "allowed_updates": allowed_updates, "ip_address": "127.0.0.1"}
        previous = self._webhooks.get(token)
        self._webhooks[token] = {**info, "drop_pending_updates": _as_bool(p.get("drop_pending_updates")),
                                 "set_at": now}
        if previous and all(previous.get(k) == v for k, v in info.items()):
            return _WithDescription(True, "Webhook is already set")
        return _WithDescription(True, "Webhook was set")

    def _delete_webhook(self, token: str, bot: dict, p: dict, now: float) -> Any:
        existed = self._webhooks.pop(token, None) is not None
        return _WithDescription(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    def _get_webhook_info(self, token: str, bot: dict, p: dict, now: float) -> dict:
        hook = self._webhooks.get(token)
        info: dict[str, Any] = {"url": hook["url"] if hook else "", "has_custom_certificate": False,
                                "pending_update_count": 0}
        if hook:  # the secret token is deliberately never returned (as in Telegram)
            info.update(ip_address=hook["ip_address"], max_connections=hook["max_connections"])
            if hook["allowed_updates"] is not None:
                info["allowed_updates"] = hook["allowed_updates"]
        return info

    def _answer_callback_query(self, token: str, bot: dict, p: dict, now: float) -> bool:
        if not p.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return True

    def _create_invite_link(self, token: str, bot: dict, p: dict, now: float) -> dict:
        chat = self._managed_chat(p, bot)
        link: dict[str, Any] = {"invite_link": "https://t.me/+" + secrets.token_urlsafe(12),
                                "creator": dict(bot), "is_primary": False, "is_revoked": False,
                                "creates_join_request": _as_bool(p.get("creates_join_request"))}
        if p.get("member_limit") not in (None, ""):
            limit = _as_int(p["member_limit"])
            if limit is None or not 1 <= limit <= 99999:
                raise ApiError(400, "Bad Request: member_limit must be between 1 and 99999")
            if link["creates_join_request"]:
                raise ApiError(400, "Bad Request: member limit can't be specified for links "
                                    "requiring administrator approval")
            link["member_limit"] = limit
        if p.get("name"):
            if len(str(p["name"])) > 32:
                raise ApiError(400, "Bad Request: invite link name is too long")
            link["name"] = str(p["name"])
        if p.get("expire_date") not in (None, ""):
            expire = _as_int(p["expire_date"])
            if expire is None or expire < 0:
                raise ApiError(400, "Bad Request: invalid expire_date specified")
            link["expire_date"] = expire
        self._invite_links[link["invite_link"]] = (chat.id, link)
        return dict(link)

    def _revoke_invite_link(self, token: str, bot: dict, p: dict, now: float) -> dict:
        chat = self._managed_chat(p, bot)
        found = self._invite_links.get(str(p.get("invite_link") or ""))
        if found is None or found[0] != chat.id:
            raise ApiError(400, "Bad Request: invite link not found")
        found[1]["is_revoked"] = True
        return {k: v for k, v in found[1].items() if not k.startswith("_")}

    def _ban_chat_member(self, token: str, bot: dict, p: dict, now: float) -> bool:
        chat = self._managed_chat(p, bot)
        user_id = self._require_user_id(p)
        self.banned.add((chat.id, user_id))
        self.members.discard((chat.id, user_id))
        return True

    def _join_request(self, bot: dict, p: dict) -> tuple[int, int]:
        chat = self._managed_chat(p, bot)
        key = (chat.id, self._require_user_id(p))
        if key not in self.join_requests:
            raise ApiError(400, "Bad Request: HIDE_REQUESTER_MISSING")
        self.join_requests.discard(key)
        return key

    def _approve_join_request(self, token: str, bot: dict, p: dict, now: float) -> bool:
        self.members.add(self._join_request(bot, p))
        return True

    def _decline_join_request(self, token: str, bot: dict, p: dict, now: float) -> bool:
        self._join_request(bot, p)
        return True

    def _unban_chat_member(self, token: str, bot: dict, p: dict, now: float) -> bool:
        chat = self._managed_chat(p, bot)
        self.banned.discard((chat.id, self._require_user_id(p)))
        return True

    # ------------------------------------------------------------ control endpoints
    def sent_log(self, since: int = 0) -> dict:
        """Every successful sendMessage from the ``since``-th on, the scripted failures that fired,
        and the fake's clock next to the wall clock (served as GET /_fake/sent)."""
        with self._lock:
            sent = [{"token": m["token"], "bot_id": m["bot_id"], "chat_id": m["chat_id"], "text": m["text"],
                     "at": m["at"]} for m in self._sent[since:]]
            scripted = [dict(f) for f in self._scripted_fired]
            now, wall = self._clock(), time.time()
        return {"ok": True, "now": now, "wall": wall, "since": since, "result": sent, "scripted": scripted}

    def _control(self, path: str, body: bytes, query: str = "") -> tuple[int, dict]:
        try:
            data = json.loads(body) if body else {}
            if path == "/_fake/stats":
                return 200, self.stats()
            if path == "/_fake/sent":
                since = int(dict(urllib.parse.parse_qsl(query)).get("since", 0))
                return 200, self.sent_log(max(0, since))
            if path == "/_fake/fail_next":
                self.fail_next(str(data["method"]), int(data["error_code"]), data.get("description"),
                               count=int(data.get("count", 1)),
                               retry_after=int(data["retry_after"]) if data.get("retry_after") is not None else None,
                               token=data.get("token"))
                return 200, {"ok": True}
            if path == "/_fake/reset":
                self.reset()
                return 200, {"ok": True}
            if path == "/_fake/bots":
                items = data if isinstance(data, list) else [data]
                return 200, {"ok": True, "result": [
                    self.add_bot(b["token"], b["username"], first_name=b.get("first_name", "Test Bot"))
                    for b in items]}
            if path == "/_fake/chats":
                items = data if isinstance(data, list) else [data]
                return 200, {"ok": True, "result": [
                    self.add_chat(c["chat_id"], type=c.get("type", "channel"), title=c.get("title"),
                                  username=c.get("username"),
                                  admins=set(c["admins"]) if c.get("admins") is not None else None)
                    for c in items]}
        except (ValueError, KeyError, TypeError) as e:
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {e}"}
        return 404, ApiError(404, "Not Found").envelope()


@dataclass
class _WithDescription:
    """A successful result whose envelope also carries a "description"."""
    result: Any
    text: str


# ----------------------------------------------------------------------- script mode

def _parse_bot_spec(spec: str) -> tuple[str, str]:
    """'123:ABC:name', '123:ABC name' or '123:ABC' -> (token, username)."""
    fields = spec.split()
    parts = fields[0].split(":")
    token = ":".join(parts[:2])
    username = fields[1] if len(fields) > 1 else (parts[2] if len(parts) > 2 else f"test{parts[0]}_bot")
    return token, username


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fake Telegram Bot API server (prints its base URL first).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--no-limits", action="store_true", help="disable rate limiting")
    ap.add_argument("--bot-per-second", type=int, default=30)
    ap.add_argument("--private-per-second", type=int, default=1)
    ap.add_argument("--group-per-minute", type=int, default=20)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to each response")
    ap.add_argument("--allow-http-webhooks", action="store_true")
    ap.add_argument("--bot", action="append", default=[], metavar="TOKEN[:USERNAME]")
    ap.add_argument("--bots-file", help="one 'TOKEN[:USERNAME]' or 'TOKEN USERNAME' per line")
    ap.add_argument("--chat", action="append", default=[], metavar="ID[:TYPE]",
                    help="register a chat, e.g. --chat=-1001234:channel or --chat=@news")
    args = ap.parse_args(argv)

    fake = FakeTelegram(enforce_limits=not args.no_limits, bot_per_second=args.bot_per_second,
                        private_per_second=args.private_per_second,
                        group_per_minute=args.group_per_minute, host=args.host, port=args.port,
                        latency=args.latency, allow_http_webhooks=args.allow_http_webhooks)
    specs = list(args.bot)
    if args.bots_file:
        with open(args.bots_file, encoding="utf-8") as f:
            specs += [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
    for spec in specs:
        fake.add_bot(*_parse_bot_spec(spec))
    for spec in args.chat:
        chat_id, _, chat_type = spec.partition(":")
        fake.add_chat(chat_id if chat_id.startswith("@") else int(chat_id), type=chat_type or "channel")

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    fake.start()
    print(fake.base_url, flush=True)
    while not stop.wait(0.5):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
