"""The cross-promo job queue on the shared claim queries (:mod:`promostack_cli.core.claims`).

Life of a job: ``pending`` (until ``run_at``) → ``claimed`` (a run holds a lease while it builds the
post: candles, feeds, figures) → ``queued`` (the message is in the outbox, written in the same
transaction that released the claim; the outbox's dedupe key carries the job id) → ``completed`` /
``failed`` / ``cancelled``, following the outbox's delivery of it (:func:`settle`).

A run whose process died leaves its jobs ``claimed``; their lease expires and another run claims
them. A build that fails for a passing reason (Twelve Data down, a 5xx) retries with backoff up to
:data:`MAX_ATTEMPTS`; Bot API failures are retried by the outbox (5xx, 429, network) and a message
that ends failed fails its job with the error. A job past its late window is cancelled, not posted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from promostack_cli.core import claims
from promostack_cli.core.upsert import upsert
from promostack_cli.crosspromo import due
from promostack_cli.crosspromo.models import CrossPromoJob, JobStatus
from promostack_cli.outbox.models import OutboxMessage, OutboxStatus

LEASE_SECONDS = 300
MAX_ATTEMPTS = 5
JOBS = due.jobs(CrossPromoJob.__table__)


def backoff(attempt: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min... capped at 15 min."""
    return timedelta(seconds=min(30 * 2 ** max(attempt - 1, 0), 900))


def enqueue(session, tenant_id: int, kind: str, key: str, scheduled_at: datetime, local_date: str, now: datetime, *,
            payload: dict | None = None, cancelled: str | None = None) -> bool:
    """Add the job ``key`` unless it exists (any status); True if this call added it.

    ``cancelled="reason"`` records it as cancelled at once (too late, over the daily limit), so
    ``crosspromo jobs`` shows why a post did not go out.
    """
    row = {"tenant_id": tenant_id, "kind": kind, "unique_key": key, "payload": payload or {},
           "scheduled_at": scheduled_at, "run_at": scheduled_at, "local_date": local_date,
           "status": JobStatus.cancelled if cancelled else JobStatus.pending, "attempts": 0,
           "last_error": cancelled, "created_at": now, "updated_at": now,
           "finished_at": now if cancelled else None}
    result = upsert(session, CrossPromoJob, row, ["tenant_id", "unique_key"])
    return (result.rowcount or 0) > 0


def claim(db, worker: str, now: datetime, *, limit: int = 20, tenant_id: int | None = None) -> list[tuple[CrossPromoJob, str]]:
    """Claim up to ``limit`` due jobs with a lease; returns (job snapshot, claim token) pairs."""
    c = JOBS.c
    q = select(c.id).where(claims.due(JOBS, now)).order_by(c.run_at, c.id).limit(limit)
    if tenant_id is not None:
        q = q.where(c.tenant_id == tenant_id)
    token = claims.new_token(worker)
    with db.transaction() as session:
        ids = [r.id for r in session.execute(claims.lock_due(q, session))]
        if not ids:
            return []
        claims.take(session, JOBS, ids, token, now + timedelta(seconds=LEASE_SECONDS),
                    attempts=c.attempts + 1, updated_at=now)
        jobs = list(session.execute(select(CrossPromoJob).where(CrossPromoJob.id.in_(ids)).order_by(CrossPromoJob.run_at)).scalars())
    return [(j, token) for j in jobs]


def mark_queued(session, job: CrossPromoJob, token: str, outbox_id: int | None, now: datetime) -> bool:
    """The job's message is in the outbox (same transaction); False if this claim lost the job."""
    return claims.finish(session, JOBS, job.id, token, JobStatus.queued, outbox_id=outbox_id, updated_at=now,
                         last_error=None)


def retry_later(session, job: CrossPromoJob, token: str, error: str, now: datetime) -> str:
    """A passing failure: back to pending after a backoff, or ``failed`` after MAX_ATTEMPTS tries."""
    if job.attempts >= MAX_ATTEMPTS:
        claims.finish(session, JOBS, job.id, token, JobStatus.failed, last_error=error[:500], updated_at=now,
                      finished_at=now)
        return JobStatus.failed
    claims.finish(session, JOBS, job.id, token, JobStatus.pending, last_error=error[:500], updated_at=now,
                  run_at=now + backoff(job.attempts))
    return JobStatus.pending


def end(session, job: CrossPromoJob, token: str, status: str, reason: str | None, now: datetime) -> bool:
    """End a claimed job as failed or cancelled (a reason that retrying would not change)."""
    return claims.finish(session, JOBS, job.id, token, status, last_error=(reason or "")[:500] or None,
                         updated_at=now, finished_at=now)


def settle(session, now: datetime, *, tenant_id: int | None = None) -> dict[str, int]:
    """Move ``queued`` jobs on as the outbox delivered their message: sent or dry run → completed,
    failed → failed with the Bot API's error, cancelled → cancelled."""
    j, o = CrossPromoJob, OutboxMessage
    q = (select(j, o.status, o.last_error).join(o, o.id == j.outbox_id)
         .where(due.delivered(j.__table__.c, o.__table__.c)))
    if tenant_id is not None:
        q = q.where(j.tenant_id == tenant_id)
    moved = {JobStatus.completed: 0, JobStatus.failed: 0, JobStatus.cancelled: 0}
    for job, status, error in session.execute(claims.lock_due(q, session, j)).all():
        if status in (OutboxStatus.sent, OutboxStatus.dry_run):
            job.status, job.last_error = JobStatus.completed, None
        elif status == OutboxStatus.failed:
            job.status, job.last_error = JobStatus.failed, f"Telegram: {error}" if error else "the message failed"
        else:
            job.status, job.last_error = JobStatus.cancelled, error or "its message was cancelled"
        job.finished_at = job.updated_at = now
        session.add(job)
        moved[job.status] += 1
    return moved


def retry(session, tenant_id: int, job_id: int, now: datetime) -> CrossPromoJob:
    """``crosspromo retry``: a failed or cancelled job runs again now (its failed message is retried)."""
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.outbox.service import retry as retry_messages

    job = get(session, tenant_id, job_id)
    if job.status not in (JobStatus.failed, JobStatus.cancelled):
        raise ValidationError(f"Job {job_id} is {job.status}; only failed or cancelled jobs can be retried.")
    message = session.get(OutboxMessage, job.outbox_id) if job.outbox_id else None
    if message is not None and message.status in (OutboxStatus.failed, OutboxStatus.cancelled):
        retry_messages(session, tenant_id, now, ids=[message.id])
        job.status = JobStatus.queued
    else:
        job.status, job.run_at, job.scheduled_at, job.outbox_id = JobStatus.pending, now, now, None
    job.attempts, job.last_error, job.finished_at, job.updated_at = 0, None, None, now
    session.add(job)
    return job


def cancel(session, tenant_id: int, job_id: int, now: datetime) -> CrossPromoJob:
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.outbox.service import cancel as cancel_messages

    job = get(session, tenant_id, job_id)
    if job.status not in (JobStatus.pending, JobStatus.queued, JobStatus.failed):
        raise ValidationError(f"Job {job_id} is {job.status}; only pending, queued or failed jobs can be cancelled.")
    if job.status == JobStatus.queued and job.outbox_id:
        message = session.get(OutboxMessage, job.outbox_id)
        if message is not None and message.status not in OutboxStatus.final():
            if message.status == OutboxStatus.sending:
                raise ValidationError(f"Job {job_id}'s message is being sent right now; it cannot be withdrawn.")
            cancel_messages(session, tenant_id, [message.id], now, reason="cross-promo job cancelled")
    job.status, job.last_error, job.finished_at, job.updated_at = JobStatus.cancelled, "cancelled by operator", now, now
    session.add(job)
    return job


def get(session, tenant_id: int, job_id: int) -> CrossPromoJob:
    from promostack_cli.core.errors import NotFoundError

    job = session.get(CrossPromoJob, job_id)
    if job is None or job.tenant_id != tenant_id:
        raise NotFoundError(f"No cross-promo job {job_id} for this tenant.")
    return job


def list_jobs(session, tenant_id: int, *, statuses: list[str] | None = None, limit: int = 200) -> list[CrossPromoJob]:
    q = select(CrossPromoJob).where(CrossPromoJob.tenant_id == tenant_id)
    if statuses:
        q = q.where(CrossPromoJob.status.in_(statuses))
    return list(session.execute(q.order_by(CrossPromoJob.scheduled_at.desc(), CrossPromoJob.id.desc()).limit(limit)).scalars())


def describe(job: CrossPromoJob) -> dict:
    return {"id": job.id, "kind": job.kind, "key": job.unique_key, "local_date": job.local_date,
            "scheduled_at": job.scheduled_at.isoformat(), "run_at": job.run_at.isoformat(), "status": job.status,
            "attempts": job.attempts, "outbox_id": job.outbox_id, "last_error": job.last_error,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None}
