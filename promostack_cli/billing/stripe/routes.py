"""Billing's receiver routes (Stripe): ``POST /api/stripe/webhook/{tenant}`` and the two redirects users click.

* The webhook: ``Stripe-Signature`` is verified by the library against the tenant's signing secret,
  over the raw body, with a 300 s tolerance. Anything that fails (a bad or missing signature, a stale
  timestamp, another tenant's secret, a body altered by one byte, an unknown tenant, a body that is
  not an event) is answered 400 and nothing is stored. A verified event is stored once by id in the
  same transaction as its effect (:func:`promostack_cli.billing.stripe.service.ingest`): 200 ``processed``,
  ``ignored`` (a type billing does not use), ``failed`` (stored with the error, for ``billing replay``)
  or ``duplicate``. A database failure is retried, then answered 503: Stripe sends it again, and a
  2xx always means "stored".
* ``GET /api/stripe/checkout/{tenant}?t=…&price=…`` (the buttons of ``/subscribe``) and
  ``GET /api/stripe/portal/{tenant}?t=…`` (the card-update link) create the Stripe session when the
  user clicks, so the links never expire before they are used, and answer 303 to it.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Route

from promostack_cli.core.clock import utcnow
from promostack_cli.db import first_line, is_transient

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
TOLERANCE = 300
DB_ATTEMPTS = 3
CACHE_SECONDS = 30.0


class BillingDirectory:
    """Tenant slug → decrypted billing settings, cached briefly (the receiver asks on every event)."""

    def __init__(self, db, box, public_url):
        self._db, self._box, self._public_url = db, box, public_url
        self._cache: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def get(self, slug: str):
        with self._lock:
            hit = self._cache.get(slug)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        from sqlmodel import select

        from promostack_cli.billing.config import load
        from promostack_cli.tenants.models import Tenant

        with self._db.session() as session:
            tenant = session.exec(select(Tenant).where(Tenant.slug == slug)).first()
            cfg = load(session, tenant.id, self._box, self._public_url) if tenant else None
        if cfg is not None:
            with self._lock:
                self._cache[slug] = (time.monotonic() + CACHE_SECONDS, cfg)
        return cfg


def _store(db, cfg, payload: dict):
    from promostack_cli.billing.stripe.service import ingest

    for attempt in range(DB_ATTEMPTS):
        try:
            with db.transaction() as session:
                return ingest(session, cfg, payload, utcnow())
        except Exception as exc:  # noqa: BLE001
            if not is_transient(exc) or attempt == DB_ATTEMPTS - 1:
                raise
            log.warning("database error, storing Stripe event again: %s", first_line(exc))
            time.sleep(0.05 * 2 ** attempt)


def routes(receiver) -> list[Route]:
    """The routes, served by ``receiver`` (:class:`promostack_cli.webhooks.app.Receiver`)."""
    db, settings, on_enqueued = receiver.db, receiver.settings, receiver.on_enqueued
    directory = BillingDirectory(db, receiver.box, settings.public_url)

    async def webhook(request: Request):
        import stripe

        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, status_code=413)
        try:
            cfg = await run_in_threadpool(directory.get, request.path_params["tenant"])
        except Exception as exc:  # noqa: BLE001 - the database is failing: Stripe will send it again
            log.warning("cannot read billing settings: %s", first_line(exc))
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        if cfg is None:
            return JSONResponse({"error": "signature verification failed"}, status_code=400)
        try:
            stripe.WebhookSignature.verify_header(body, request.headers.get("stripe-signature", ""),
                                                  cfg.webhook_secret, tolerance=TOLERANCE)
            payload = json.loads(body)
        except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError):
            return JSONResponse({"error": "signature verification failed"}, status_code=400)
        from promostack_cli.billing.stripe.events import BadEvent, parse_event

        try:
            parse_event(payload)
        except BadEvent as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            done = await run_in_threadpool(_store, db, cfg, payload)
        except Exception as exc:  # noqa: BLE001 - not stored: 503, Stripe retries
            log.warning("Stripe event %s not stored (%s); answered 503", payload.get("id"), first_line(exc))
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        if done.stored and on_enqueued is not None:
            on_enqueued()
        return JSONResponse({"received": True, "status": done.status if done.stored else "duplicate"})

    def _bot_username(cfg):
        from promostack_cli.billing.access import message_bot_username

        with db.session() as session:
            return message_bot_username(session, cfg.tenant_id)

    def _customer(cfg, token):
        from sqlmodel import select

        from promostack_cli.billing import tokens
        from promostack_cli.billing.models import TelegramSubscription as S

        uid = tokens.checkout_user(cfg.link_secret, token)
        if uid is None:
            return None
        with db.session() as session:
            return session.exec(select(S.stripe_customer_id).where(
                S.tenant_id == cfg.tenant_id, S.telegram_user_id == uid, S.stripe_customer_id.is_not(None))
                .order_by(S.id.desc())).first()

    async def redirect(request: Request):
        from promostack_cli.billing.stripe import checkout
        from promostack_cli.billing.stripe.api import StripeApi
        from promostack_cli.core.errors import PromoStackError

        kind = request.path_params["kind"]
        token = request.query_params.get("t", "")
        try:
            cfg = await run_in_threadpool(directory.get, request.path_params["tenant"])
            if cfg is None or kind not in ("checkout", "portal"):
                return PlainTextResponse("Not found.", status_code=404)
            api = StripeApi(cfg.api_key, settings.stripe_api_url)
            now = utcnow()
            if kind == "checkout":
                username = await run_in_threadpool(_bot_username, cfg)
                url = await run_in_threadpool(checkout.checkout_for_token, api, cfg, token,
                                              request.query_params.get("price"), now, username)
            else:
                customer = await run_in_threadpool(_customer, cfg, token)
                url = await run_in_threadpool(checkout.portal_for_token, api, cfg, customer, token, now)
        except PromoStackError as exc:
            return PlainTextResponse(exc.message, status_code=400 if exc.exit_code == 2 else 502)
        return RedirectResponse(url, status_code=303)

    return [Route("/api/stripe/webhook/{tenant}", webhook, methods=["POST"]),
            Route("/api/stripe/{kind}/{tenant}", redirect, methods=["GET"])]
