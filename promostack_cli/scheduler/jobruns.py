"""Once-per-period jobs (a check per candle close, a briefing per day...): claimed by insert.

The unique key (tenant, kind, period) makes overlapping ticks on any number of machines run each
period once. A run that failed, or whose process died (lease expired), may be claimed again.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel, select

from promostack_cli.core import claims
from promostack_cli.core.clock import utcnow
from promostack_cli.core.types import BigIntPK
from promostack_cli.tenants.models import Tenant  # noqa: F401 - registers the table the foreign keys name

WORKER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # unique even for PID 1 in containers


class JobRun(SQLModel, table=True):
    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "period", name="uq_job_runs_period"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=40)
    period: str = Field(max_length=40)
    status: str = Field(default="running", max_length=10)  # running | done | failed
    claimed_by: str | None = Field(default=None, max_length=80)
    lease_expires_at: datetime | None = None
    attempts: int = 0
    detail: str | None = Field(default=None, sa_column=Column(Text))
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


def _key(tenant_id: int, kind: str, period: str) -> dict:
    return {"tenant_id": tenant_id, "kind": kind, "period": period}


def claim(db, tenant_id: int, kind: str, period: str, *, now: datetime, lease: float = 300,
          max_attempts: int = 3) -> bool:
    """True if this process now owns the run of ``kind`` for ``period``."""
    with db.transaction() as session:
        got = claims.claim_period(session, JobRun.__table__, _key(tenant_id, kind, period), WORKER, now,
                                  lease_seconds=lease, max_attempts=max_attempts)
    return got is not None


def finish(db, tenant_id: int, kind: str, period: str, *, ok: bool, now: datetime, detail: str | None = None) -> None:
    with db.transaction() as session:
        claims.finish_period(session, JobRun.__table__, _key(tenant_id, kind, period), WORKER, now, ok=ok,
                             detail=detail)


def status(db, tenant_id: int, kind: str, period: str) -> JobRun | None:
    with db.session() as session:
        return session.exec(select(JobRun).where(JobRun.tenant_id == tenant_id, JobRun.kind == kind,
                                                 JobRun.period == period)).first()
