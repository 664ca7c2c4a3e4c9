"""The webhook receiver: ``POST /api/bot-webhook/{secret}`` and ``GET /healthz`` (Starlette).

* The path secret picks the bot connection (looked up by its SHA-256); the
  ``X-Telegram-Bot-Api-Secret-Token`` header must equal the bot's second secret (constant-time
  compare). Otherwise 401 and nothing is stored. Bodies over 1 MiB get 413.
* The update is stored once per (bot, update_id) and processed in the same transaction; repeats,
  malformed and failing updates all get 200 (failures are recorded for ``webhook failures``).
* Right after the commit a per-process deliverer sends what the update queued (the first message
  of a journey reaches the Bot API well within a second); ``scheduler tick`` is the safety net.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from promostack_cli.core.clock import epoch, utcnow
from promostack_cli.core.secrets import fingerprint

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
CACHE_SECONDS = 30.0
DELIVERY_WINDOW = 5.0


class Deliverer:
    """One background sender per process, woken after commits that queued messages."""

    def __init__(self, db, box, settings):
        from promostack_cli.outbox.sender import Sender, SenderConfig

        self._sender = Sender(db, box, SenderConfig.from_settings(settings))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webhook-deliverer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def kick(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=DELIVERY_WINDOW + 5)
        self._sender.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._sender.run(epoch() + DELIVERY_WINDOW)
            except Exception:  # noqa: BLE001 - the tick delivers whatever is left
                log.exception("immediate delivery failed; scheduler tick will deliver")


def create_app(db=None, box=None, settings=None) -> Starlette:
    from promostack_cli.core.runtime import default_box, default_db
    from promostack_cli.settings import get_settings

    settings = settings or get_settings()
    db = db or default_db(settings)
    box = box or default_box(settings)
    cache: dict[str, tuple[float, object, str]] = {}
    cache_lock = threading.Lock()
    deliverer = Deliverer(db, box, settings)

    def lookup(secret: str):
        """(connection, header secret) for a path secret, or None. Cached briefly."""
        from sqlmodel import select

        from promostack_cli.connections.models import BotConnection

        key = fingerprint(secret)
        with cache_lock:
            hit = cache.get(key)
            if hit and hit[0] > time.monotonic():
                return hit[1], hit[2]
        with db.session() as session:
            conn = session.exec(select(BotConnection).where(BotConnection.webhook_path_hash == key)).first()
        if conn is None:
            return None
        header = box.decrypt(conn.webhook_token_encrypted, "the webhook secret")
        with cache_lock:
            cache[key] = (time.monotonic() + CACHE_SECONDS, conn, header)
        return conn, header

    def handle(conn, body: bytes):
        from promostack_cli.webhooks.service import ingest

        with db.transaction() as session:
            return ingest(session, conn, body, utcnow())

    def record_failure(conn, body: bytes, exc: Exception) -> bool:
        from promostack_cli.core.secrets import redact
        from promostack_cli.webhooks.models import TelegramUpdate

        try:
            with db.transaction() as session:
                session.add(TelegramUpdate(tenant_id=conn.tenant_id, bot_id=conn.bot_id, bot_role=conn.role,
                                           kind="unprocessed", raw=body[:65536].decode("utf-8", "replace"),
                                           status="failed", error=redact(f"{type(exc).__name__}: {exc}")[:2000],
                                           received_at=utcnow()))
            return True
        except Exception:  # noqa: BLE001
            log.exception("could not record the failed update either")
            return False

    def answer_callback(conn, callback_query_id: str) -> None:
        from promostack_cli.telegram.client import TelegramClient

        try:
            token = box.decrypt(conn.token_encrypted, f"the {conn.role} token")
            with TelegramClient(token, base_url=settings.telegram_api_url, timeout=5) as client:
                client.answer_callback_query(callback_query_id)
        except Exception as exc:  # noqa: BLE001 - the button's spinner just times out
            from promostack_cli.core.secrets import redact

            log.warning("answerCallbackQuery failed: %s", redact(str(exc)))

    async def bot_webhook(request: Request):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY:
            return JSONResponse({"ok": False, "error": "body too large"}, status_code=413)
        found = await run_in_threadpool(lookup, request.path_params["secret"])
        given = request.headers.get("x-telegram-bot-api-secret-token", "")
        if found is None or not hmac.compare_digest(given.encode(), found[1].encode()):
            return JSONResponse({"ok": False, "error": "unauthorized"}, status_code=401)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return JSONResponse({"ok": False, "error": "body too large"}, status_code=413)
        conn = found[0]
        try:
            outcome = await run_in_threadpool(handle, conn, bytes(body))
        except Exception as exc:  # noqa: BLE001 - never a 500 for an update we could store
            log.exception("update for bot %s could not be processed", conn.bot_id)
            stored = await run_in_threadpool(record_failure, conn, bytes(body), exc)
            if not stored:  # the database is unreachable: let Telegram retry later, nothing is lost
                return JSONResponse({"ok": False, "error": "temporarily unavailable"}, status_code=503)
            return JSONResponse({"ok": True, "status": "failed"})
        if outcome.callback_query_id:
            await run_in_threadpool(answer_callback, conn, outcome.callback_query_id)
        if outcome.enqueued and not settings.dry_run:
            deliverer.kick()
        return JSONResponse({"ok": True, "status": outcome.status})

    async def healthz(request: Request):
        def check() -> bool:
            from sqlalchemy import text

            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True

        try:
            await run_in_threadpool(check)
        except Exception as exc:  # noqa: BLE001
            return JSONResponse({"ok": False, "database": str(exc).splitlines()[0][:200]}, status_code=503)
        return JSONResponse({"ok": True, "database": "ok"})

    @asynccontextmanager
    async def lifespan(app):
        deliverer.start()
        try:
            yield
        finally:
            await run_in_threadpool(deliverer.close)

    return Starlette(routes=[Route("/api/bot-webhook/{secret}", bot_webhook, methods=["POST"]),
                             Route("/healthz", healthz, methods=["GET"])], lifespan=lifespan)


def app_from_env() -> Starlette:
    """uvicorn factory (``promostack webhook serve``): settings from the environment."""
    return create_app()
