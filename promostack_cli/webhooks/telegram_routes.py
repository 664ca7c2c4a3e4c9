"""``POST /api/bot-webhook/{secret}``: verify, store, answer; processing happens after the answer.

* The path secret picks the bot (``connections.lookup``, cached); the
  ``X-Telegram-Bot-Api-Secret-Token`` header must equal the bot's second secret (constant-time
  compare). Otherwise 401 and nothing is stored. Bodies over 1 MiB get 413.
* The update is stored once per (bot, update_id) by the :class:`StoreBatcher`: the updates of
  all requests waiting at that moment go in one INSERT and one commit (group commit: under load a
  commit serves many requests; idle, a request waits for its own commit only). Then 200:
  ``stored``, ``duplicate`` (a repeat), or ``failed`` (not an update; kept for ``webhook failures``).
* A database failure is retried at once a few times; if it persists the answer is 503 and
  nothing is stored, so Telegram sends the update again: an update is never acknowledged unstored.
* A ``callback_query`` is answered in the response body (``answerCallbackQuery`` as a webhook
  reply, which Telegram allows): the button's spinner stops without an extra request.
* After the commit the process's :class:`~promostack_cli.webhooks.workers.Processor` is woken.
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from promostack_cli.core.clock import utcnow
from promostack_cli.db import first_line
from promostack_cli.telegram.updates import MalformedUpdate, envelope
from promostack_cli.webhooks.inbox import Incoming

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
MAX_BATCH = 256
IN_FLIGHT = 2             # batches being written at once per process (the next fills while one commits)
DB_ATTEMPTS = 3           # a batch hit by a transient database error is written again this many times
DB_RETRY_DELAY = 0.05     # seconds before the first rerun, doubled each time


class StoreBatcher:
    """Collects the updates of concurrent requests and writes them with one commit."""

    def __init__(self, db, on_stored):
        self._db, self._on_stored = db, on_stored
        self._queue: list[tuple[Incoming, asyncio.Future]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._last = 0.0

    def busy(self, window: float = 0.05) -> bool:
        """Whether an update arrived in the last ``window`` seconds (any thread may ask)."""
        return time.monotonic() - self._last < window

    async def store(self, item: Incoming) -> str:
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        self._last = time.monotonic()
        self._queue.append((item, future))
        self._wake.set()
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        slots = asyncio.Semaphore(IN_FLIGHT)
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await slots.acquire()
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                if not batch:
                    slots.release()
                    break
                asyncio.get_running_loop().create_task(self._flush(batch, slots))

    async def _flush(self, batch, slots: asyncio.Semaphore) -> None:
        try:
            results = await run_in_threadpool(self._write, [item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every request of the batch answers 503
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        finally:
            slots.release()
        for (_, future), result in zip(batch, results):
            if not future.done():
                future.set_result(result)

    def _write(self, items: list[Incoming]) -> list[str]:
        from promostack_cli.db import is_transient
        from promostack_cli.webhooks import inbox

        for attempt in range(DB_ATTEMPTS):
            try:
                with self._db.engine.begin() as conn:  # no ORM session on the hot path
                    results = inbox.store(conn, items, utcnow())
                break
            except Exception as exc:  # noqa: BLE001
                if not is_transient(exc) and len(items) > 1:  # one odd update must not fail the others
                    return [self._write_one(item) for item in items]
                if not is_transient(exc) or attempt == DB_ATTEMPTS - 1:
                    raise
                log.warning("database error, storing %d update(s) again: %s", len(items), first_line(exc))
                time.sleep(DB_RETRY_DELAY * 2 ** attempt)
        stored = {item.bot for item, result in zip(items, results) if result == "stored"}
        if stored:
            self._on_stored(stored)
        return results

    def _write_one(self, item: Incoming) -> str:
        try:
            return self._write([item])[0]
        except Exception as exc:  # noqa: BLE001 - answered 503 for this update only
            log.exception("update for bot %s could not be stored", item.bot.bot_id)
            return f"error:{type(exc).__name__}"


def routes(receiver) -> list[Route]:
    """``POST /api/bot-webhook/{secret}`` and ``GET /healthz``, served by ``receiver``
    (:class:`promostack_cli.webhooks.app.Receiver`)."""
    from promostack_cli.connections.lookup import WebhookDirectory

    directory, batcher, db = WebhookDirectory(receiver.db, receiver.box), receiver.batcher, receiver.db

    async def healthz(request: Request):
        def check() -> bool:
            from sqlalchemy import text

            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True

        try:
            await run_in_threadpool(check)
        except Exception as exc:  # noqa: BLE001
            return JSONResponse({"ok": False, "database": first_line(exc)}, status_code=503)
        return JSONResponse({"ok": True, "database": "ok"})

    async def bot_webhook(request: Request):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY:
            return JSONResponse({"ok": False, "error": "body too large"}, status_code=413)
        secret = request.path_params["secret"]
        bot = directory.cached(secret)
        if bot is None:
            try:
                bot = await run_in_threadpool(directory.lookup, secret)
            except Exception as exc:  # noqa: BLE001 - the database (or the key) is failing: Telegram will resend
                log.warning("cannot look the bot up: %s", first_line(exc))
                return JSONResponse({"ok": False, "error": "temporarily unavailable"}, status_code=503)
        if bot is None or not bot.header_matches(request.headers.get("x-telegram-bot-api-secret-token", "")):
            return JSONResponse({"ok": False, "error": "unauthorized"}, status_code=401)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return JSONResponse({"ok": False, "error": "body too large"}, status_code=413)
        try:
            env, error = envelope(bytes(body)), None
        except MalformedUpdate as exc:
            env, error = None, str(exc)
        try:
            status = await batcher.store(Incoming(bot.ref, env, bytes(body), error))
        except Exception as exc:  # noqa: BLE001
            status = f"error:{type(exc).__name__}"
            log.warning("update for bot %s not stored (%s); answered 503 so Telegram sends it again",
                        bot.bot_id, first_line(exc))
        if status.startswith("error:"):
            return JSONResponse({"ok": False, "error": "temporarily unavailable"}, status_code=503)
        if env is not None and env.callback_query_id:
            return JSONResponse({"method": "answerCallbackQuery", "callback_query_id": env.callback_query_id})
        return JSONResponse({"ok": True, "status": status})

    return [Route("/api/bot-webhook/{secret}", bot_webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"])]
