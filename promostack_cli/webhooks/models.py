from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from promostack_cli.core.clock import utcnow
from promostack_cli.core.types import BigIntPK, JSONType
from promostack_cli.tenants.models import Tenant  # noqa: F401 - registers the table the foreign keys name


class TelegramUpdate(SQLModel, table=True):
    """Every update Telegram delivered, stored once per (bot, update_id) with what became of it.

    status: processed | ignored (a kind we do not act on) | failed (``error`` says why; see
    ``promostack webhook failures`` and ``webhook retry``) | dismissed (a failure the operator set
    aside with ``webhook failures --dismiss``: kept, no longer counted as failed).
    """

    __tablename__ = "telegram_updates"
    __table_args__ = (UniqueConstraint("bot_id", "update_id", name="uq_telegram_updates_bot_update"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    bot_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    bot_role: str = Field(max_length=20)
    update_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    kind: str = Field(max_length=30)
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    raw: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # only when the body was not JSON
    status: str = Field(max_length=10, index=True)
    result: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    received_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None
