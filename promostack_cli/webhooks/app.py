"""The webhook receiver: ``POST /api/bot-webhook/{secret}`` and ``GET /healthz`` (Starlette).

* The path secret picks the bot connection (looked up by its SHA-256); the
  ``X-Telegram-Bot-Api-Secret-Token`` header must equal the bot's second secret (constant-time
  compare). Otherwise 401 and nothing is stored. Bodies over 1 MiB get 413.
* The update is stored once per (bot, update_id) and processed in the same transaction; repeats,
  malformed and failing updates all get 200 (failures are recorded, with their payload, for
  ``webhook failures`` and ``webhook retry``). A database failure (connection lost, serialization
  failure, lock timeout) is retried at once a few times; if it persists the answer is 503 and
  nothing is stored, so Telegram sends the update again: an update is never acknowledged unstored.
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
DB_ATTEMPTS = 3           # a transaction hit by a transient database error is run again this many times
DB_RETRY_DELAY = 0.05     # seconds before the first rerun, doubled each time


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

    def in_transaction(work):
        """Run ``work(session)`` in a transaction, again if the database failed transiently."""
        from promostack_cli.db import is_transient

        for attempt in range(DB_ATTEMPTS):
            try:
                with db.transaction() as session:
                    return work(session)
            except Exception as exc:  # noqa: BLE001
                if not is_transient(exc) or attempt == DB_ATTEMPTS - 1:
                    raise
                log.warning("database error, running the update's transaction again: %s",
                            str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200] if str(exc) else type(exc).__name__)
                time.sleep(DB_RETRY_DELAY * 2 ** attempt)

    def handle(conn, body: bytes):
        from promostack_cli.webhooks.service import ingest

        return in_transaction(lambda session: ingest(session, conn, body, utcnow()))

    def record_failure(conn, body: bytes, exc: Exception) -> bool:
        from promostack_cli.db import is_transient
        from promostack_cli.webhooks.service import store_failed

        if is_transient(exc):  # the database is failing: nothing stored, Telegram will resend
            return False
        try:
            in_transaction(lambda session: store_failed(session, conn, body, f"{type(exc).__name__}: {exc}", utcnow()))
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
        try:
            found = await run_in_threadpool(lookup, request.path_params["secret"])
        except Exception as exc:  # noqa: BLE001 - the database (or the key) is failing: Telegram will resend
            log.warning("cannot look the bot up: %s", str(exc).strip().splitlines()[0][:200] if str(exc) else type(exc).__name__)
            return JSONResponse({"ok": False, "error": "temporarily unavailable"}, status_code=503)
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
            from promostack_cli.db import is_transient

            if not is_transient(exc):
                log.exception("update for bot %s could not be processed", conn.bot_id)
            stored = await run_in_threadpool(record_failure, conn, bytes(body), exc)
            if not stored:  # the database is failing: let Telegram send it again, nothing is lost
                log.warning("update for bot %s not stored (database unavailable); answered 503 so Telegram "
                            "sends it again", conn.bot_id)
                return JSONResponse({"ok": False, "error": "temporarily unavailable"}, status_code=503)
            return JSONResponse({"ok": True, "status": "failed"})
        if outcome.callback_query_id:
            await run_in_threadpool(answer_callback, conn, outcome.callback_query_id)
        if (outcome.enqueued or not outcome.stored) and not settings.dry_run:  # a repeat: its first try may have queued
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
