from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Index, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

from promostack_cli.core.clock import utcnow
from promostack_cli.core.types import BigIntPK, JSONType
from promostack_cli.tenants.models import Tenant  # noqa: F401 - registers the table the foreign keys name


class Journey(SQLModel, table=True):
    """A journey as imported from YAML; ``definition`` is the canonical form (JourneySpec.to_dict)."""

    __tablename__ = "journeys"
    __table_args__ = (UniqueConstraint("tenant_id", "slug", name="uq_journeys_tenant_slug"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    slug: str = Field(max_length=64)
    name: str = Field(max_length=200)
    status: str = Field(max_length=10)
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    content_hash: str = Field(max_length=64)
    source_path: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class JourneyTrigger(SQLModel, table=True):
    """How a journey starts: a deep-link code, a keyword or an event. Looked up by the webhook.

    A deep-link code is unique among a tenant's active journeys (a partial unique index, on both
    databases), so one /start payload can never start two journeys.
    """

    __tablename__ = "journey_triggers"
    __table_args__ = (
        Index("ix_journey_triggers_lookup", "tenant_id", "kind", "value"),
        Index("uq_journey_triggers_active_deep_link", "tenant_id", "value", unique=True,
              sqlite_where=text("active AND kind = 'deep_link'"),
              postgresql_where=text("active AND kind = 'deep_link'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    journey_id: int = Field(foreign_key="journeys.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=10)  # deep_link | keyword | event
    value: str = Field(max_length=64)
    active: bool = False


LIVE_SQL = "status IN ('active', 'waiting_delay', 'awaiting_reply')"  # journeys.states.LIVE


class JourneySession(SQLModel, table=True):
    """One user's run through one journey: the engine's SessionState, persisted.

    ``journey_id`` is cleared (not cascaded) when a journey is deleted, so the history stays for
    stats; live sessions of a removed journey are cancelled first.

    ``exclusive``: started under ``re_entry: block`` or ``restart``. A partial unique index makes
    "one live exclusive session per (tenant, journey, chat)" a fact of the database, whatever
    races the code might have; ``allow`` sessions run in parallel deliberately.
    """

    __tablename__ = "journey_sessions"
    __table_args__ = (
        Index("ix_journey_sessions_due", "status", "wake_at"),
        Index("ix_journey_sessions_user", "tenant_id", "chat_id", "status"),
        Index("uq_journey_sessions_one_live", "tenant_id", "journey_id", "chat_id", unique=True,
              sqlite_where=text(f"exclusive AND {LIVE_SQL}"), postgresql_where=text(f"exclusive AND {LIVE_SQL}")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    journey_id: int | None = Field(default=None, foreign_key="journeys.id", index=True, ondelete="SET NULL")
    journey_slug: str = Field(max_length=64)
    chat_id: str = Field(max_length=64)
    status: str = Field(max_length=16)
    step_id: str | None = Field(default=None, max_length=64)
    variables: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    wake_at: datetime | None = None
    started_at: datetime = Field(default_factory=utcnow)
    last_activity_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    end_reason: str | None = Field(default=None, max_length=200)  # for people (may be reworded)
    end_code: str | None = Field(default=None, max_length=24)     # for stats: journeys.states.END_*
    exclusive: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))


class JourneyStepVisit(SQLModel, table=True):
    """A step's message was queued for a user: the funnel's "users reached" counts these.

    Written in the transaction that queued the message (one row per step and transition, however
    many messages the step sent). ``session_id`` is unknown for rows backfilled by migration 0008.
    """

    __tablename__ = "journey_step_visits"
    __table_args__ = (Index("ix_journey_step_visits_funnel", "tenant_id", "journey_slug", "step_id"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    journey_slug: str = Field(max_length=64)
    step_id: str = Field(max_length=64)
    chat_id: str = Field(max_length=64)
    session_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    reached_at: datetime = Field(default_factory=utcnow)
