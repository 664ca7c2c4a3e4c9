"""The webhook receiver (Starlette): every domain's receiver routes, served by one :class:`Receiver`.

Each process runs one store batcher (requests), one processor and one deliverer (threads): an
update is stored and answered, processed right after (``workers.Processor``), and what it queued is
sent right after that (``workers.Deliverer``); ``scheduler tick`` is the safety net for both. The
routes come from the domains' declarations: the Telegram webhook and ``GET /healthz``
(``telegram_routes``), billing's Stripe webhook and redirects (``billing/routes.py``).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool


@dataclass(frozen=True)
class Receiver:
    """What a domain's routes may use: made once per receiver process, at its edge."""

    db: Any                                   # promostack_cli.db.Database, every table registered
    box: Any                                  # SecretBox
    settings: Any                             # Settings
    dispatcher: Any                           # webhooks.handlers.Dispatcher
    batcher: Any                              # telegram_routes.StoreBatcher
    on_enqueued: Callable[[], None] | None    # wakes the deliverer (None on a dry run)


def create_app(db=None, box=None, settings=None) -> Starlette:
    from promostack_cli.core.domain import load
    from promostack_cli.domains import domains
    from promostack_cli.runtime import default_box, default_db
    from promostack_cli.settings import get_settings
    from promostack_cli.webhooks.handlers import Dispatcher
    from promostack_cli.webhooks.telegram_routes import StoreBatcher
    from promostack_cli.webhooks.workers import Deliverer, Processor

    settings = settings or get_settings()
    db = db or default_db(settings)
    box = box or default_box(settings)
    dispatcher = Dispatcher(settings, box)
    deliverer = Deliverer(db, box, settings)
    on_enqueued = None if settings.dry_run else deliverer.kick
    processor = Processor(db, dispatcher, on_enqueued=on_enqueued, busy=lambda: batcher.busy())
    batcher = StoreBatcher(db, processor.kick)
    receiver = Receiver(db, box, settings, dispatcher, batcher, on_enqueued)

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

    routes = [route for domain in domains() if domain.routes for route in load(domain.routes)(receiver)]
    return Starlette(routes=routes, lifespan=lifespan)


def app_from_env() -> Starlette:
    """uvicorn factory (``promostack webhook serve``): settings from the environment."""
    return create_app()
