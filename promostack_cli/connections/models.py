from datetime import datetime

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from promostack_cli.core.clock import utcnow
from promostack_cli.core.roles import BotRole  # noqa: F401 - one definition, importable from here too
from promostack_cli.tenants.models import Tenant  # noqa: F401 - registers the table the foreign keys name


class BotConnection(SQLModel, table=True):
    """A tenant's Telegram bot in one role. Secrets are stored encrypted, never in clear.

    The webhook URL carries a random path secret (looked up by its SHA-256 fingerprint) that picks
    tenant and bot; Telegram also sends a second random secret in X-Telegram-Bot-Api-Secret-Token.
    """

    __tablename__ = "bot_connections"
    __table_args__ = (UniqueConstraint("tenant_id", "role", name="uq_bot_connections_tenant_role"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    role: str = Field(max_length=20)
    bot_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    username: str | None = Field(default=None, max_length=64)
    token_encrypted: str = Field(sa_column=Column(Text, nullable=False))
    token_hint: str = Field(max_length=40)
    vip_channel: str | None = Field(default=None, max_length=64)
    free_channel: str | None = Field(default=None, max_length=64)
    channel: str | None = Field(default=None, max_length=64)
    webhook_path_hash: str = Field(max_length=64, unique=True)
    webhook_path_encrypted: str = Field(sa_column=Column(Text, nullable=False))
    webhook_token_encrypted: str = Field(sa_column=Column(Text, nullable=False))
    webhook_url: str | None = Field(default=None, max_length=500)
    webhook_registered_at: datetime | None = None
    validated_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
