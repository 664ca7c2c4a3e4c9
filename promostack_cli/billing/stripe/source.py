"""Stripe as a payment source: its answers to the questions of :class:`promostack_cli.billing.sources.PaymentSource`.

Import-light (no ``stripe``, no HTTP): ``/subscribe`` offers the tenant's plans as buttons that open the
receiver's ``/api/stripe/checkout`` redirect (the Checkout Session is made when the user clicks, see
:mod:`.routes`), and a failed payment points at ``/api/stripe/portal`` (a Customer Portal session).
Both need the tenant's API key and ``PROMOSTACK_PUBLIC_URL``.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from promostack_cli.billing import tokens
from promostack_cli.billing.sources import Offer, PaymentSource
from promostack_cli.billing.stripe.events import STATUSES
from promostack_cli.telegram import html


def link_url(cfg, kind: str, token: str, **query: str) -> str | None:
    """A link to the receiver's checkout or portal redirect (None without PROMOSTACK_PUBLIC_URL or an API key)."""
    if not (cfg.public_url and cfg.api_key):
        return None
    return f"{cfg.public_url}/api/stripe/{kind}/{cfg.tenant_slug}?{urlencode({'t': token, **query})}"


class StripeSource(PaymentSource):
    name, label, statuses = "stripe", "Stripe", STATUSES
    ref_hint = "subscription (sub_…), customer (cus_…)"
    unstarted = ("incomplete", "incomplete_expired")

    def configured(self, session, cfg) -> bool:
        return bool(cfg.webhook_secret)

    def offer(self, session, cfg, telegram_user_id: int, now: datetime) -> Offer | None:
        token = tokens.checkout_token(cfg.link_secret, telegram_user_id, int(now.timestamp()))
        buttons = [[{"text": plan.name, "url": url}] for plan in cfg.plans
                   if (url := link_url(cfg, "checkout", token, price=plan.price_id))]
        if not buttons:
            return None
        names = ", ".join(html.escape(p.name) for p in cfg.plans)
        return Offer(f"Choose your VIP plan ({names}). Your payment links to this Telegram account by itself.", buttons)

    def manage_link(self, cfg, sub, now: datetime) -> str | None:
        """A link that opens a Customer Portal session for the user (made when they click)."""
        token = tokens.checkout_token(cfg.link_secret, sub.telegram_user_id, int(now.timestamp()))
        return link_url(cfg, "portal", token)

    def references(self, sub) -> tuple[str | None, str | None]:
        return sub.stripe_subscription_id, sub.stripe_customer_id

    def find(self, ref: str):
        from promostack_cli.billing.models import TelegramSubscription as S

        if ref.startswith("sub_"):
            return S.stripe_subscription_id == ref
        if ref.startswith("cus_"):
            return S.stripe_customer_id == ref
        return None

    def history(self, session, tenant_id: int, subs: list) -> tuple[list[dict], list[dict]]:
        from promostack_cli.billing.stripe.service import history

        return history(session, tenant_id, [s.stripe_subscription_id for s in subs if s.stripe_subscription_id])

    def still_billing(self, sub) -> bool:
        return sub.status in ("active", "trialing", "past_due")

    def cancel_hint(self, refs: list[str]) -> str:
        return f"Stripe still bills {', '.join(refs)}: cancel it in Stripe if you mean to."


SOURCE = StripeSource()
