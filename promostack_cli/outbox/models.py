from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Float, Index, SmallInteger, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from promostack_cli.core.clock import utcnow
from promostack_cli.core.types import BigIntPK, JSONType
from promostack_cli.tenants.models import Tenant  # noqa: F401 - registers the table the foreign keys name


# payload key: reply to the earlier outbox message with this dedupe key (its Telegram id is looked
# up at send time, when lane order guarantees the parent has been sent)
REPLY_TO_DEDUPE = "_reply_to_dedupe"
# payload key: fill ``{{result.FIELD}}`` placeholders from the recorded result of the earlier outbox
# call with this dedupe key (see outbox/results.py); the message waits in its lane until that call is sent
RESULT_OF = "_result_of"


class OutboxStatus(StrEnum):
    pending = "pending"      # waiting to be sent (possibly after a backoff: see not_before)
    sending = "sending"      # claimed by a sender until lease_expires_at
    sent = "sent"
    failed = "failed"        # final; last_error says why
    cancelled = "cancelled"  # final; withdrawn before sending
    dry_run = "dry_run"      # final; rendered and printed instead of sent

    @classmethod
    def final(cls) -> tuple["OutboxStatus", ...]:
        return (cls.sent, cls.failed, cls.cancelled, cls.dry_run)


INTERACTIVE, NORMAL = 0, 1  # OutboxMessage.priority


class OutboxMessage(SQLModel, table=True):
    """One outgoing Bot API call (normally sendMessage), written in the transaction that caused it.

    Messages to one chat through one bot (a "lane": tenant, bot_role, chat_id) are delivered in id
    order, one at a time: only the head of a lane can be claimed. The head is the message in flight
    (``sending``) if there is one, else the oldest pending message that *holds* the lane: one that
    is due, or that a sender has already claimed once (``first_claimed_at``: a retry backoff or a
    429 keeps its place). A message only scheduled for later (``not_before`` days ahead, never
    claimed) does not hold the lane: later messages that are due go first.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dedupe_key", name="uq_outbox_tenant_dedupe"),
        Index("ix_outbox_due", "status", "not_before"),
        Index("ix_outbox_lane", "tenant_id", "bot_role", "chat_id", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    bot_role: str = Field(max_length=20)
    chat_id: str = Field(max_length=64)
    chat_kind: str = Field(max_length=10)  # private | group (groups, supergroups and channels)
    method: str = Field(default="sendMessage", max_length=40)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    status: str = Field(default=OutboxStatus.pending, max_length=12)
    not_before: datetime = Field(default_factory=utcnow)
    attempts: int = 0
    rate_limited: int = 0  # 429s received; they are waited out and never make a message fail
    claimed_by: str | None = Field(default=None, max_length=80)
    lease_expires_at: datetime | None = None
    first_claimed_at: datetime | None = None  # set by the first claim; reset by `outbox retry`
    telegram_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    # Telegram's result of a call other than sendMessage (e.g. the ChatInviteLink that
    # createChatInviteLink made); later messages may use it (RESULT_OF). May hold secrets: never logged
    result: Any | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    error_code: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    dedupe_key: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=120)
    # 0: answers a user's action (claimed first); 1: everything else (timers, broadcasts, signals)
    priority: int = Field(default=1, sa_column=Column(SmallInteger, nullable=False, server_default="1"))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class ChatState(SQLModel, table=True):
    """Per-lane delivery state shared by every sender process: pacing and the user's block."""

    __tablename__ = "chat_states"
    __table_args__ = (UniqueConstraint("tenant_id", "bot_role", "chat_id", name="uq_chat_states_lane"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    bot_role: str = Field(max_length=20)
    chat_id: str = Field(max_length=64)
    next_send_at: float = Field(default=0.0, sa_column=Column(Float, nullable=False, server_default="0"))
    blocked_at: datetime | None = None
    blocked_reason: str | None = Field(default=None, max_length=200)


class BotRateLimit(SQLModel, table=True):
    """Shared send schedule of one Telegram bot (GCRA): the next free slot and any 429 pause."""

    __tablename__ = "bot_rate_limits"

    bot_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    next_slot_at: float = Field(default=0.0, sa_column=Column(Float, nullable=False, server_default="0"))
    paused_until: float = Field(default=0.0, sa_column=Column(Float, nullable=False, server_default="0"))
