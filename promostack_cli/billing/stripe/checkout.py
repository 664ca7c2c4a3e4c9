"""Checkout Sessions and Customer Portal sessions for one Telegram user (HTTP to Stripe: call these
outside any database transaction)."""

from __future__ import annotations

from datetime import datetime

from promostack_cli.billing import tokens
from promostack_cli.billing.config import BillingConfig
from promostack_cli.core.errors import NotFoundError, ValidationError


def _price(cfg: BillingConfig, price_id: str | None) -> str:
    if not cfg.plans:
        raise ValidationError("No plan is configured: promostack billing setup --price price_... --name \"VIP monthly\"")
    if price_id is None:
        return cfg.plans[0].price_id
    if price_id not in {p.price_id for p in cfg.plans}:
        raise ValidationError(f"Price {price_id[:40]} is not one of this tenant's plans "
                              f"({', '.join(p.price_id for p in cfg.plans)}).")
    return price_id


def checkout_url(api, cfg: BillingConfig, telegram_user_id: int, price_id: str | None, now: datetime,
                 bot_username: str | None) -> dict:
    """A Checkout Session whose payment links itself to ``telegram_user_id``."""
    if telegram_user_id <= 0:
        raise ValidationError("--telegram-user must be a Telegram user id (a positive number).")
    price = _price(cfg, price_id)
    token = tokens.checkout_token(cfg.link_secret, telegram_user_id, int(now.timestamp()))
    back = f"https://t.me/{bot_username}" if bot_username else None
    success, cancel = cfg.success_url or back, cfg.cancel_url or cfg.success_url or back
    if not success:
        raise ValidationError("Set a success page: billing setup --success-url URL (or connect the message bot).")
    session = api.create_checkout(price_id=price, token=token, telegram_user_id=telegram_user_id,
                                  success_url=success, cancel_url=cancel)
    return {"url": session.get("url"), "session": session.get("id"), "price": price, "client_reference_id": token}


def checkout_for_token(api, cfg: BillingConfig, token: str, price_id: str | None, now: datetime,
                       bot_username: str | None) -> str:
    """The receiver's ``/api/stripe/checkout`` redirect: a signed /subscribe token → a Checkout URL."""
    uid = tokens.checkout_user(cfg.link_secret, token, int(now.timestamp()))
    if uid is None:
        raise ValidationError("This subscribe link is not valid or has expired: send /subscribe to the bot again.")
    return checkout_url(api, cfg, uid, price_id, now, bot_username)["url"]


def portal_for_token(api, cfg: BillingConfig, customer: str | None, token: str, now: datetime) -> str:
    if tokens.checkout_user(cfg.link_secret, token, int(now.timestamp())) is None:
        raise ValidationError("This link is not valid or has expired.")
    if not customer:
        raise NotFoundError("No Stripe customer is linked to this Telegram account.")
    return api.create_portal(customer=customer, return_url=cfg.success_url)["url"]
