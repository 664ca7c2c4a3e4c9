"""Billing tables: the tenant's settings (with Stripe's) and plans, subscriptions of every payment source,
Stripe's events, payments, members.

Idempotency lives in unique keys: a Stripe event once per (tenant, event id), a subscription once
per (tenant, Stripe subscription id), a payment once per (tenant, invoice, status), a member once per
(tenant, Telegram user). Secrets are stored encrypted (``core.secrets.SecretBox``), never in clear.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from promostack_cli.core.clock import utcnow
from promostack_cli.core.types import BigIntPK, JSONType
from promostack_cli.tenants.models import Tenant  # noqa: F401 - registers the table the foreign keys name

ACCESS_MODES = ("join_request", "invite_link")
# The statuses every payment source stores and what they mean for access (see billing/sources.py);
# any other status gives no access.
from promostack_cli.billing.due import KEEP_ACCESS  # noqa: E402 - one definition (the sweep's idle check)
GRACE_ACCESS = ("past_due",)
DEFAULT_INVITE_TTL = 86400


class BillingSettings(SQLModel, table=True):
    """One row per tenant: the Stripe webhook secret and API key (encrypted), grace, links."""

    __tablename__ = "billing_settings"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", unique=True, ondelete="CASCADE")
    webhook_secret_encrypted: str = Field(sa_column=Column(Text, nullable=False))
    webhook_secret_hint: str = Field(max_length=40)
    api_key_encrypted: str | None = Field(default=None, sa_column=Column(Text))
    api_key_hint: str | None = Field(default=None, max_length=40)
    link_secret_encrypted: str = Field(sa_column=Column(Text, nullable=False))  # signs linking tokens
    grace_seconds: int = Field(default=3 * 86400)
    access_mode: str = Field(default="join_request", max_length=20)
    vip_chat_id: str | None = Field(default=None, max_length=64)   # numeric -100… id of the VIP channel
    vip_link: str | None = Field(default=None, max_length=300)     # the channel's join-request link
    # access mode invite_link: how long a user's personal link stays valid
    invite_ttl_seconds: int = Field(default=DEFAULT_INVITE_TTL,
                                    sa_column=Column(Integer, nullable=False, server_default=str(DEFAULT_INVITE_TTL)))
    success_url: str | None = Field(default=None, max_length=500)
    cancel_url: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class BillingPrice(SQLModel, table=True):
    """A plan users may subscribe to: a Stripe recurring price and the name shown to users."""

    __tablename__ = "billing_prices"
    __table_args__ = (UniqueConstraint("tenant_id", "price_id", name="uq_billing_prices_tenant_price"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    price_id: str = Field(max_length=100)
    name: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)


class TelegramSubscription(SQLModel, table=True):
    """A subscription of one payment source (``source``: Stripe, a manual grant, ...) and the Telegram user
    it gives access to. Its ``status`` is in the shared access vocabulary (``billing/sources.py``).

    Status fields come from the newest *observation* (a subscription snapshot in an event, or
    ``billing sync``); ``state_key`` and ``snapshot_key`` order observations (terminal first, then
    time, status rank, event id), so an older or repeated event never moves the state backwards.
    """

    __tablename__ = "telegram_subscriptions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "stripe_subscription_id", name="uq_telegram_subscriptions_stripe"),
        Index("ix_telegram_subscriptions_user", "tenant_id", "telegram_user_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    source: str = Field(default="stripe", max_length=10)  # a PaymentSource name: stripe | manual
    stripe_subscription_id: str | None = Field(default=None, max_length=100)
    stripe_customer_id: str | None = Field(default=None, max_length=100)
    checkout_session_id: str | None = Field(default=None, max_length=200)
    client_reference_id: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    telegram_user_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    linked_at: datetime | None = None
    link_method: str | None = Field(default=None, max_length=20)  # checkout | metadata | deep_link | code | manual
    price_id: str | None = Field(default=None, max_length=100)
    plan: str | None = Field(default=None, max_length=100)
    amount: int | None = Field(default=None, sa_column=Column(BigInteger))  # per interval, minor units
    currency: str | None = Field(default=None, max_length=10)
    interval: str | None = Field(default=None, max_length=10)
    status: str = Field(default="incomplete", max_length=24)
    cancel_at_period_end: bool = False
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    paid_until: datetime | None = None           # the latest period end of a paid invoice
    # ordering keys of the observations the status and the period fields came from (see state.py)
    state_key: str = Field(default="", max_length=140)
    snapshot_key: str = Field(default="", max_length=140)
    revoked_at: datetime | None = None           # `billing revoke`: no access whatever Stripe says
    note: str | None = Field(default=None, max_length=500)
    payment_failed_at: datetime | None = None
    ended_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class BillingEvent(SQLModel, table=True):
    """A Stripe event, stored once by id in the transaction that applied it (or recorded it failed)."""

    __tablename__ = "billing_events"
    __table_args__ = (UniqueConstraint("tenant_id", "event_id", name="uq_billing_events_tenant_event"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    event_id: str = Field(max_length=100)
    type: str = Field(max_length=100)
    created: int = Field(sa_column=Column(BigInteger, nullable=False))   # Stripe's epoch seconds
    livemode: bool = False
    stripe_subscription_id: str | None = Field(default=None, max_length=100)
    source: str = Field(default="webhook", max_length=10)   # webhook | sync | replay
    status: str = Field(default="processed", max_length=12)  # processed | ignored | failed
    result: str | None = Field(default=None, max_length=300)
    error: str | None = Field(default=None, sa_column=Column(Text))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    received_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None


class BillingPayment(SQLModel, table=True):
    __tablename__ = "billing_payments"
    __table_args__ = (UniqueConstraint("tenant_id", "invoice_id", "status", name="uq_billing_payments_invoice"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    invoice_id: str = Field(max_length=100)
    stripe_subscription_id: str | None = Field(default=None, max_length=100)
    status: str = Field(max_length=10)  # paid | failed
    amount: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    currency: str | None = Field(default=None, max_length=10)
    period_start: datetime | None = None
    period_end: datetime | None = None
    at: datetime = Field(default_factory=utcnow)
    event_id: str | None = Field(default=None, max_length=100)


class BillingMember(SQLModel, table=True):
    """A Telegram user's VIP access: what we granted or removed, and when to look again."""

    __tablename__ = "billing_members"
    __table_args__ = (
        UniqueConstraint("tenant_id", "telegram_user_id", name="uq_billing_members_user"),
        Index("ix_billing_members_review", "review_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    telegram_user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    access: str = Field(default="none", max_length=10)   # none | granted | removed
    access_changed_at: datetime | None = None
    review_at: datetime | None = None                    # the sweep re-checks access then
    in_channel: bool | None = None                       # from chat_member updates
    updated_at: datetime = Field(default_factory=utcnow)


class BillingAccessChange(SQLModel, table=True):
    """History: every grant, approval, decline and removal (``billing show``)."""

    __tablename__ = "billing_access_changes"
    __table_args__ = (Index("ix_billing_access_changes_user", "tenant_id", "telegram_user_id"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    telegram_user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    action: str = Field(max_length=20)   # granted | removed | approved | declined | joined | left | linked
    reason: str | None = Field(default=None, max_length=300)
    at: datetime = Field(default_factory=utcnow)


class BillingLinkCode(SQLModel, table=True):
    """A single-use, expiring ``/verify`` code for one subscription (stored as a hash)."""

    __tablename__ = "billing_link_codes"
    __table_args__ = (UniqueConstraint("tenant_id", "code_hash", name="uq_billing_link_codes_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    subscription_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    code_hash: str = Field(max_length=64)
    expires_at: datetime
    used_at: datetime | None = None
    used_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = Field(default_factory=utcnow)


class BillingVerifyAttempt(SQLModel, table=True):
    """``/verify`` attempts per user, for the rate limit."""

    __tablename__ = "billing_verify_attempts"
    __table_args__ = (Index("ix_billing_verify_attempts_user", "tenant_id", "telegram_user_id", "at"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    telegram_user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    ok: bool = False
    at: datetime = Field(default_factory=utcnow)


class BillingInvite(SQLModel, table=True):
    """Access mode ``invite_link``: one user's single-use link to the VIP channel.

    The link itself (a secret) is not stored here: it is the result of the ``createChatInviteLink``
    outbox call whose dedupe key is :attr:`create_key`, and the revoke call takes it from there. The
    ``name`` (given to Telegram) finds the row again when someone joins through the link.
    Statuses: ``open`` (made, unused), ``used`` (its user joined; revoked), ``revoked`` (access
    ended, replaced, or used by someone else), ``expired`` (unused until ``expires_at``; revoked by
    the sweep), ``failed`` (the create call failed: the link never existed).
    """

    __tablename__ = "billing_invites"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_billing_invites_name"),
                      Index("ix_billing_invites_user", "tenant_id", "telegram_user_id"),
                      Index("ix_billing_invites_due", "status", "expires_at"))

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    telegram_user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    chat_id: str = Field(max_length=64)        # the VIP channel it was made for
    name: str = Field(max_length=32)           # Telegram's invite link name (32 characters at most)
    status: str = Field(default="open", max_length=10)
    expires_at: datetime
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: str | None = Field(default=None, max_length=200)

    @property
    def create_key(self) -> str:
        return f"billing:invite:{self.name}:create"
