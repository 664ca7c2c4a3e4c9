"""Once-per-period jobs (a check per candle close, a briefing per day...): claimed by insert.

The unique key (tenant, kind, period) makes overlapping ticks on any number of machines run each
period once. A run that failed, or whose process died (lease expired), may be claimed again.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Column, Text, UniqueConstraint, or_, update
from sqlmodel import Field, SQLModel, select

from promostack_cli.core.clock import utcnow
from promostack_cli.core.types import BigIntPK
from promostack_cli.core.upsert import upsert

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


def claim(db, tenant_id: int, kind: str, period: str, *, now: datetime | None = None, lease: float = 300,
          max_attempts: int = 3) -> bool:
    """True if this process now owns the run of ``kind`` for ``period``."""
    now = now or utcnow()
    until = now + timedelta(seconds=lease)
    with db.transaction() as session:
        upsert(session, JobRun, {"tenant_id": tenant_id, "kind": kind, "period": period, "status": "new",
                                 "attempts": 0, "started_at": now}, ["tenant_id", "kind", "period"])
        j = JobRun
        got = session.exec(
            update(j).where(j.tenant_id == tenant_id, j.kind == kind, j.period == period, j.attempts < max_attempts,
                            or_(j.status == "new", j.status == "failed",
                                (j.status == "running") & (j.lease_expires_at < now)))
            .values(status="running", claimed_by=WORKER, lease_expires_at=until, attempts=j.attempts + 1, started_at=now)
            .returning(j.id)
        ).first()
    return got is not None


def finish(db, tenant_id: int, kind: str, period: str, *, ok: bool, detail: str | None = None) -> None:
    j = JobRun
    with db.transaction() as session:
        session.exec(update(j).where(j.tenant_id == tenant_id, j.kind == kind, j.period == period,
                                     j.claimed_by == WORKER)
                     .values(status="done" if ok else "failed", detail=detail, finished_at=utcnow()))


def status(db, tenant_id: int, kind: str, period: str) -> JobRun | None:
    with db.session() as session:
        return session.exec(select(JobRun).where(JobRun.tenant_id == tenant_id, JobRun.kind == kind,
                                                 JobRun.period == period)).first()
