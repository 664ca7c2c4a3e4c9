"""A tenant's billing settings: stored encrypted, validated together, shown masked.

:class:`BillingConfig` is the decrypted view the services use; it keeps its secrets out of ``repr``.
One row holds the source-neutral settings (grace, access mode, the VIP channel and link, the link
secret, the invite lifetime) and Stripe's (its webhook secret, API key, plans, success and cancel
pages): ``billing setup`` is still Stripe's setup. A second payment source keeps its settings in a
table of its own and reads them in its :class:`~.sources.PaymentSource` methods (they get the session).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from promostack_cli.billing.models import ACCESS_MODES, DEFAULT_INVITE_TTL, BillingPrice, BillingSettings
from promostack_cli.core.errors import NotFoundError, ValidationError
from promostack_cli.core.secrets import SecretBox, mask, new_secret

WEBHOOK_SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9+/=_-]{8,200}$")
API_KEY_RE = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9]{8,250}$")
PRICE_RE = re.compile(r"^(price|plan)_[A-Za-z0-9_]{3,90}$")
CHAT_RE = re.compile(r"^-100\d{5,20}$")
URL_RE = re.compile(r"^https?://\S{1,490}$")
MAX_GRACE_DAYS = 60
INVITE_TTL_RANGE = (300, 7 * 86400)   # a personal invite link lives 5 minutes to 7 days


@dataclass(frozen=True)
class Plan:
    price_id: str
    name: str


@dataclass(frozen=True)
class BillingConfig:
    tenant_id: int
    webhook_secret: str = field(repr=False)
    api_key: str | None = field(repr=False)
    link_secret: str = field(repr=False)
    grace_seconds: int
    access_mode: str
    vip_chat_id: str | None
    vip_link: str | None
    success_url: str | None
    cancel_url: str | None
    plans: tuple[Plan, ...] = ()
    tenant_slug: str = ""
    public_url: str | None = None     # PROMOSTACK_PUBLIC_URL: where a source's /subscribe and manage links point
    invite_ttl_seconds: int = DEFAULT_INVITE_TTL  # access mode invite_link: a personal link's lifetime

    def plan_name(self, price_id: str | None) -> str | None:
        return next((p.name for p in self.plans if p.price_id == price_id), None)


def _row(session: Session, tenant_id: int) -> BillingSettings | None:
    return session.exec(select(BillingSettings).where(BillingSettings.tenant_id == tenant_id)).first()


def load(session: Session, tenant_id: int, box: SecretBox, public_url: str | None = None) -> BillingConfig | None:
    """The tenant's decrypted billing settings, or None when billing was never set up."""
    from promostack_cli.tenants.models import Tenant

    row = _row(session, tenant_id)
    if row is None:
        return None
    tenant = session.get(Tenant, tenant_id)
    plans = session.exec(select(BillingPrice).where(BillingPrice.tenant_id == tenant_id).order_by(BillingPrice.id)).all()
    return BillingConfig(
        tenant_id=tenant_id,
        webhook_secret=box.decrypt(row.webhook_secret_encrypted, "the Stripe webhook secret"),
        api_key=box.decrypt(row.api_key_encrypted, "the Stripe API key") if row.api_key_encrypted else None,
        link_secret=box.decrypt(row.link_secret_encrypted, "the billing link secret"),
        grace_seconds=row.grace_seconds, access_mode=row.access_mode, vip_chat_id=row.vip_chat_id,
        vip_link=row.vip_link, success_url=row.success_url, cancel_url=row.cancel_url,
        plans=tuple(Plan(p.price_id, p.name) for p in plans), tenant_slug=tenant.slug if tenant else "",
        public_url=public_url, invite_ttl_seconds=row.invite_ttl_seconds)


def require(session: Session, tenant_id: int, box: SecretBox, tenant_slug: str,
            public_url: str | None = None) -> BillingConfig:
    cfg = load(session, tenant_id, box, public_url)
    if cfg is None:
        raise NotFoundError(f"Billing is not set up for tenant '{tenant_slug}'. Run: promostack --tenant "
                            f"{tenant_slug} billing setup --webhook-secret whsec_... --vip-chat -100...")
    return cfg


def _vip_chat_default(session: Session, tenant_id: int) -> str | None:
    from promostack_cli.connections.models import BotConnection

    conn = session.exec(select(BotConnection).where(BotConnection.tenant_id == tenant_id,
                                                    BotConnection.role == "signal_bot")).first()
    return conn.vip_channel if conn and conn.vip_channel and CHAT_RE.match(conn.vip_channel) else None


def setup(session: Session, tenant_id: int, box: SecretBox, now: datetime, *, webhook_secret: str | None = None,
          api_key: str | None = None, prices: list[tuple[str, str | None]] = (), grace_seconds: float | None = None,
          access_mode: str | None = None, vip_chat_id: str | None = None, vip_link: str | None = None,
          success_url: str | None = None, cancel_url: str | None = None,
          invite_ttl_seconds: float | None = None) -> BillingSettings:
    """Create or update the settings; every value is checked before anything is written."""
    row = _row(session, tenant_id)
    if webhook_secret is not None and not WEBHOOK_SECRET_RE.match(webhook_secret):
        raise ValidationError("--webhook-secret must be the endpoint's signing secret, whsec_... "
                              "(Stripe Dashboard → Developers → Webhooks → your endpoint).")
    if row is None and webhook_secret is None:
        raise ValidationError("The first billing setup needs --webhook-secret whsec_...")
    if api_key is not None and not API_KEY_RE.match(api_key):
        raise ValidationError("--api-key must be a Stripe secret or restricted key (sk_live_..., sk_test_..., rk_...).")
    for price_id, name in prices:
        if not PRICE_RE.match(price_id):
            raise ValidationError(f"--price '{price_id[:40]}' is not a Stripe price id (price_...).")
        if name is not None and not 1 <= len(name.strip()) <= 100:
            raise ValidationError("--name must be 1-100 characters.")
    if grace_seconds is not None and not 0 <= grace_seconds <= MAX_GRACE_DAYS * 86400:
        raise ValidationError(f"--grace must be between 0 and {MAX_GRACE_DAYS}d.")
    if access_mode is not None and access_mode not in ACCESS_MODES:
        raise ValidationError(f"--access-mode must be one of {', '.join(ACCESS_MODES)}.")
    low, high = INVITE_TTL_RANGE
    if invite_ttl_seconds is not None and not low <= invite_ttl_seconds <= high:
        raise ValidationError(f"--invite-ttl must be between {low // 60}m and {high // 86400}d.")
    if vip_chat_id is not None and not CHAT_RE.match(vip_chat_id):
        raise ValidationError("--vip-chat must be the VIP channel's numeric id, -100… (join requests carry it).")
    for opt, url in (("--vip-link", vip_link), ("--success-url", success_url), ("--cancel-url", cancel_url)):
        if url is not None and not URL_RE.match(url):
            raise ValidationError(f"{opt} must be an http(s) URL.")
    vip_chat_id = vip_chat_id or (row.vip_chat_id if row else None) or _vip_chat_default(session, tenant_id)
    if vip_chat_id is None:
        raise ValidationError("Billing needs the VIP channel's numeric id: pass --vip-chat -100… "
                              "(or set the signal bot's --vip-channel to it).")
    if row is None:
        row = BillingSettings(tenant_id=tenant_id, webhook_secret_encrypted="", webhook_secret_hint="",
                              link_secret_encrypted=box.encrypt(new_secret(32)), created_at=now)
    if webhook_secret is not None:
        row.webhook_secret_encrypted, row.webhook_secret_hint = box.encrypt(webhook_secret), mask(webhook_secret, 4)
    if api_key is not None:
        row.api_key_encrypted, row.api_key_hint = box.encrypt(api_key), mask(api_key, 4)
    if grace_seconds is not None:
        row.grace_seconds = int(grace_seconds)
    if invite_ttl_seconds is not None:
        row.invite_ttl_seconds = int(invite_ttl_seconds)
    for name, value in (("access_mode", access_mode), ("vip_link", vip_link), ("success_url", success_url),
                        ("cancel_url", cancel_url)):
        if value is not None:
            setattr(row, name, value)
    row.vip_chat_id, row.updated_at = vip_chat_id, now
    session.add(row)
    session.flush()
    for price_id, name in prices:
        existing = session.exec(select(BillingPrice).where(BillingPrice.tenant_id == tenant_id,
                                                           BillingPrice.price_id == price_id)).first()
        if existing is None:
            session.add(BillingPrice(tenant_id=tenant_id, price_id=price_id, name=(name or price_id).strip(),
                                     created_at=now))
        elif name:
            existing.name = name.strip()
            session.add(existing)
    session.flush()
    return row


def remove_price(session: Session, tenant_id: int, price_id: str) -> None:
    row = session.exec(select(BillingPrice).where(BillingPrice.tenant_id == tenant_id,
                                                  BillingPrice.price_id == price_id)).first()
    if row is None:
        raise NotFoundError(f"No plan with price {price_id[:40]} for this tenant.")
    session.delete(row)


def describe(session: Session, tenant_id: int) -> dict | None:
    """The settings for ``billing settings show``: secrets only as hints (``wh…ab``)."""
    row = _row(session, tenant_id)
    if row is None:
        return None
    plans = session.exec(select(BillingPrice).where(BillingPrice.tenant_id == tenant_id).order_by(BillingPrice.id)).all()
    return {
        "webhook_secret": row.webhook_secret_hint,
        "api_key": row.api_key_hint or "(not set: no checkout links, portal links or billing sync)",
        "grace": f"{row.grace_seconds / 86400:g}d",
        "access_mode": row.access_mode,
        "invite_ttl": f"{row.invite_ttl_seconds / 3600:g}h",
        "vip_chat": row.vip_chat_id,
        "vip_link": row.vip_link,
        "success_url": row.success_url,
        "cancel_url": row.cancel_url,
        "plans": [{"price": p.price_id, "name": p.name} for p in plans],
    }
