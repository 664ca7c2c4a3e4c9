"""The few Stripe API calls billing makes, through ``stripe.StripeClient`` (imported only here, lazily).

``PROMOSTACK_STRIPE_API_URL`` points the library elsewhere (``base_addresses={"api": url}``): the
tests' loopback stand-in. Results come back as plain dicts (``to_dict()``): stripe-python ≥ 15
objects are not dicts. Errors become one :class:`OperationalError` sentence (exit 1), with no key in it.
"""

from __future__ import annotations

from typing import Any, Iterator

from promostack_cli.core.errors import OperationalError, ValidationError
from promostack_cli.core.secrets import redact

STRIPE_API_URL = "https://api.stripe.com"
EVENT_TYPES = ["checkout.session.completed", "customer.subscription.created", "customer.subscription.updated",
               "customer.subscription.deleted", "customer.subscription.paused", "customer.subscription.resumed",
               "customer.subscription.trial_will_end", "invoice.paid", "invoice.payment_failed"]


class StripeApi:
    def __init__(self, api_key: str | None, base_url: str | None = None, timeout: float = 20.0):
        if not api_key:
            raise ValidationError("This needs the tenant's Stripe API key: promostack billing setup --api-key sk_...")
        import stripe

        addresses = {"api": base_url.rstrip("/")} if base_url and base_url.rstrip("/") != STRIPE_API_URL else None
        http_client = stripe.RequestsClient(timeout=timeout) if hasattr(stripe, "RequestsClient") else None
        self._client = stripe.StripeClient(api_key, base_addresses=addresses, max_network_retries=2,
                                           http_client=http_client)
        self._stripe = stripe

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except self._stripe.AuthenticationError:
            raise OperationalError("Stripe refused the API key (401): store a valid one with billing setup --api-key.") from None
        except self._stripe.StripeError as exc:
            message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
            raise OperationalError(f"Stripe failed to {what}: {redact(message.splitlines()[0])[:200]}") from None

    @staticmethod
    def _dict(obj) -> dict:
        return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)

    def _all(self, what: str, lister, params: dict) -> Iterator[dict]:
        page = self._call(what, lister, params=params)
        while True:
            for item in page.data:
                yield self._dict(item)
            if not page.has_more or not page.data:
                return
            params = {**params, "starting_after": page.data[-1].id}
            page = self._call(what, lister, params=params)

    def subscriptions(self) -> Iterator[dict]:
        return self._all("list subscriptions", self._client.v1.subscriptions.list, {"status": "all", "limit": 100})

    def undelivered_events(self, since: int) -> Iterator[dict]:
        """Events Stripe could not deliver to the webhook endpoint (List Events keeps 30 days)."""
        return self._all("list events", self._client.v1.events.list,
                         {"delivery_success": False, "created": {"gte": since}, "types": EVENT_TYPES, "limit": 100})

    def create_checkout(self, *, price_id: str, token: str, telegram_user_id: int, success_url: str,
                        cancel_url: str) -> dict[str, Any]:
        from promostack_cli.billing.stripe.state import TOKEN_KEY

        metadata = {"telegram_user_id": str(telegram_user_id), TOKEN_KEY: token}
        params = {"mode": "subscription", "line_items": [{"price": price_id, "quantity": 1}],
                  "client_reference_id": token, "metadata": metadata,
                  "subscription_data": {"metadata": metadata}, "success_url": success_url, "cancel_url": cancel_url}
        return self._dict(self._call("create a Checkout Session", self._client.v1.checkout.sessions.create,
                                     params=params))

    def create_portal(self, *, customer: str, return_url: str | None) -> dict[str, Any]:
        params = {"customer": customer, **({"return_url": return_url} if return_url else {})}
        return self._dict(self._call("create a Customer Portal session",
                                     self._client.v1.billing_portal.sessions.create, params=params))
