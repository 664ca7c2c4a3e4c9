"""A small synchronous Bot API client on httpx, and the one factory that builds them.

:class:`BotApi` is how the product gets clients: one per process and base URL, holding one pooled
``httpx.Client`` that every bot's :class:`TelegramClient` shares (``api.client(token)``).
``TelegramClient(token, base_url=...)`` posts JSON to ``{base_url}/bot{token}/{method}`` and returns
the ``result`` of the envelope or raises a typed :mod:`promostack_cli.telegram.errors` exception. The
token never appears in exception messages or logs.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from promostack_cli.core.secrets import redact
from promostack_cli.telegram.errors import NetworkError, TelegramError, error_from_envelope

ALLOWED_UPDATES = [
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
]


DEFAULT_API_URL = "https://api.telegram.org"


def _shared_http(timeout: float, max_connections: int = 100) -> httpx.Client:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max(max_connections // 2, 10))
    return httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), limits=limits)


class BotApi:
    """The Bot API at ``base_url`` (Telegram's, a local Bot API server, a test stand-in).

    Builds a :class:`TelegramClient` per bot token over one shared connection pool; close it once.
    """

    def __init__(self, base_url: str = DEFAULT_API_URL, *, timeout: float = 15.0, max_connections: int = 100):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._max_connections = max_connections
        self._lock = threading.Lock()
        # built now, not by the first send: the pool (and its TLS context) is ready before the
        # sender's worker threads ask for clients at once
        self._http: httpx.Client | None = _shared_http(timeout, max_connections)

    @classmethod
    def from_settings(cls, settings, *, max_connections: int = 100) -> "BotApi":
        return cls(settings.telegram_api_url, timeout=settings.telegram_timeout, max_connections=max_connections)

    def client(self, token: str) -> "TelegramClient":
        if self._http is None:
            with self._lock:
                if self._http is None:
                    self._http = _shared_http(self.timeout, self._max_connections)
        return TelegramClient(token, base_url=self.base_url, timeout=self.timeout, http=self._http)

    __call__ = client  # a BotApi is the ``token -> client`` factory services take

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None


class TelegramClient:
    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_API_URL,
        timeout: float = 15.0,
        http: httpx.Client | None = None,
    ):
        self._token = token
        self.base_url = base_url.rstrip("/")
        self._owns_http = http is None
        self._http = http or _shared_http(timeout)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> "TelegramClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def bot_id(self) -> int:
        return int(self._token.split(":", 1)[0])

    def call(self, method: str, **params: Any) -> Any:
        payload = {k: v for k, v in params.items() if v is not None}
        url = f"{self.base_url}/bot{self._token}/{method}"
        try:
            response = self._http.post(url, json=payload)
        except httpx.TimeoutException as exc:
            raise NetworkError(f"timed out calling {method} ({type(exc).__name__})", None, method) from None
        except httpx.HTTPError as exc:
            raise NetworkError(f"cannot reach the Bot API at {self.base_url}: {redact(str(exc))}", None, method) from None
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            text = redact(response.text[:120].strip())
            if response.status_code >= 500:
                from promostack_cli.telegram.errors import ServerError

                raise ServerError(f"HTTP {response.status_code} {text}", response.status_code, method) from None
            raise NetworkError(f"non-JSON answer (HTTP {response.status_code}) from {self.base_url}: {text}", response.status_code, method) from None
        if isinstance(body, dict) and body.get("ok") is True:
            return body.get("result")
        if not isinstance(body, dict):
            raise TelegramError(f"unexpected answer to {method}", response.status_code, method)
        raise error_from_envelope(body, response.status_code, method)

    # -- the methods the product uses --------------------------------------------------------
    def get_me(self) -> dict:
        return self.call("getMe")

    def get_chat(self, chat_id: int | str) -> dict:
        return self.call("getChat", chat_id=chat_id)

    def get_chat_member(self, chat_id: int | str, user_id: int) -> dict:
        return self.call("getChatMember", chat_id=chat_id, user_id=user_id)

    def set_webhook(
        self,
        url: str,
        *,
        secret_token: str,
        allowed_updates: list[str] | None = None,
        max_connections: int | None = None,
        drop_pending_updates: bool | None = None,
    ) -> bool:
        return self.call(
            "setWebhook",
            url=url,
            secret_token=secret_token,
            allowed_updates=allowed_updates if allowed_updates is not None else ALLOWED_UPDATES,
            max_connections=max_connections,
            drop_pending_updates=drop_pending_updates,
        )

    def delete_webhook(self, drop_pending_updates: bool | None = None) -> bool:
        return self.call("deleteWebhook", drop_pending_updates=drop_pending_updates)

    def get_webhook_info(self) -> dict:
        return self.call("getWebhookInfo")

    def send_message(self, chat_id: int | str, text: str, **options: Any) -> dict:
        return self.call("sendMessage", chat_id=chat_id, text=text, **options)

    def answer_callback_query(self, callback_query_id: str, **options: Any) -> bool:
        return self.call("answerCallbackQuery", callback_query_id=callback_query_id, **options)
