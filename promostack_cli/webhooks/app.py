"""The webhook receiver (Starlette): Telegram routes (``telegram_routes``) and ``GET /healthz``.

Each process runs one store batcher (requests), one processor and one deliverer (threads):
an update is stored and answered, processed right after (``workers.Processor``), and what it
queued is sent right after that (``workers.Deliverer``); ``scheduler tick`` is the safety net for
both. Stripe routes (``stripe_routes``: the billing webhook and checkout/portal redirects) sit beside them.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def create_app(db=None, box=None, settings=None) -> Starlette:
    from promostack_cli.connections.lookup import WebhookDirectory
    from promostack_cli.runtime import default_box, default_db
    from promostack_cli.settings import get_settings
    from promostack_cli.webhooks.telegram_routes import StoreBatcher, telegram_routes
    from promostack_cli.webhooks.workers import Deliverer, Processor

    settings = settings or get_settings()
    db = db or default_db(settings)
    box = box or default_box(settings)
    deliverer = Deliverer(db, box, settings)
    processor = Processor(db, on_enqueued=None if settings.dry_run else deliverer.kick,
                          busy=lambda: batcher.busy())
    batcher = StoreBatcher(db, processor.kick)

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
        processor.start()
        try:
            yield
        finally:
            await batcher.close()
            await run_in_threadpool(processor.close)
            await run_in_threadpool(deliverer.close)

    from promostack_cli.webhooks.stripe_routes import stripe_routes

    routes = telegram_routes(WebhookDirectory(db, box), batcher) + [Route("/healthz", healthz, methods=["GET"])]
    routes += stripe_routes(db, box, settings, on_enqueued=None if settings.dry_run else deliverer.kick)
    return Starlette(routes=routes, lifespan=lifespan)


def app_from_env() -> Starlette:
    """uvicorn factory (``promostack webhook serve``): settings from the environment."""
    return create_app()
