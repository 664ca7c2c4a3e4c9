"""Cross-promo tables: settings, the job queue, the posts it made (for attribution), the /starts
through them, and the per-hour cache of news feeds."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from promostack_cli.core.clock import utcnow
from promostack_cli.crosspromo.states import JobStatus  # noqa: F401 - one definition, importable from here too
from promostack_cli.core.types import BigIntPK, JSONType
from promostack_cli.tenants.models import Tenant  # noqa: F401 - registers the table the foreign keys name


class CrossPromoSettings(SQLModel, table=True):
    """Only the keys set with ``crosspromo settings set`` (defaults live in code)."""

    __tablename__ = "crosspromo_settings"

    tenant_id: int = Field(foreign_key="tenants.id", primary_key=True, ondelete="CASCADE")
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class CrossPromoJob(SQLModel, table=True):
    """One post to make: a daily post (key ``<kind>:<local date>``) or a win copy (``win:<signal>[:tpN]``)."""

    __tablename__ = "crosspromo_jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "unique_key", name="uq_crosspromo_jobs_key"),
        Index("ix_crosspromo_jobs_due", "status", "run_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=20)               # morning_news | teaser | win | win_update
    unique_key: str = Field(max_length=80)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    scheduled_at: datetime                          # when it was meant to go out (UTC): the late window counts from it
    run_at: datetime                                # next attempt (a retry moves it)
    local_date: str = Field(max_length=10)          # the tenant's local date of scheduled_at
    status: str = Field(default=JobStatus.pending, max_length=10)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    claimed_by: str | None = Field(default=None, max_length=80)
    lease_expires_at: datetime | None = None
    outbox_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class CrossPromoPost(SQLModel, table=True):
    """A post a job queued; ``ref`` is its attribution code in the call to action's deep link."""

    __tablename__ = "crosspromo_posts"
    __table_args__ = (UniqueConstraint("tenant_id", "ref", name="uq_crosspromo_posts_ref"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    job_id: int = Field(sa_column=Column(BigInteger, ForeignKey("crosspromo_jobs.id", ondelete="CASCADE"),
                                         nullable=False, unique=True))
    kind: str = Field(max_length=20)
    ref: str = Field(max_length=16)
    signal_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    outbox_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = Field(default_factory=utcnow)


class CrossPromoStart(SQLModel, table=True):
    """A user who opened the message bot through a post's deep link (once per post and user)."""

    __tablename__ = "crosspromo_starts"
    __table_args__ = (UniqueConstraint("tenant_id", "ref", "chat_id", name="uq_crosspromo_starts_user"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    ref: str = Field(max_length=16)
    chat_id: str = Field(max_length=32)
    started_at: datetime


class FeedCache(SQLModel, table=True):
    """A news feed's headlines as a tenant fetched them in one UTC hour (or the error that left them out)."""

    __tablename__ = "crosspromo_feed_cache"

    tenant_id: int = Field(foreign_key="tenants.id", primary_key=True, ondelete="CASCADE")
    url_hash: str = Field(primary_key=True, max_length=64)
    hour: datetime = Field(primary_key=True)
    url: str = Field(sa_column=Column(Text, nullable=False))
    entries: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text))
    fetched_at: datetime = Field(default_factory=utcnow)
