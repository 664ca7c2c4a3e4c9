"""What cross promo's tick step has to do, written once: the job queue's conditions below are used by
the idle check (:func:`crosspromo_due`, SQLAlchemy Core on light table clauses, no ORM) and by
:mod:`.queue` (claim and settle, on the ORM tables' columns): a job due or whose lease expired, a
queued job whose message the outbox finished; and, for a tenant with cross promo on, a daily post or
win copy due and not yet enqueued (the schedule's own functions, shared with ``service.run``).

Conservative: it may find work the step then does not do, never the other way round."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import JSON, BigInteger, Integer, String, and_, column, exists, or_, select, table

from promostack_cli.core.types import UTCDateTime
from promostack_cli.core import claims
from promostack_cli.crosspromo.states import JobStatus

FINAL = ("sent", "failed", "cancelled", "dry_run")          # outbox.models.OutboxStatus.final()
TP_LEVELS = {"tp1": 1, "tp2": 2, "tp3": 3}


def jobs(table) -> claims.Leased:
    """The job queue's claim spelling over ``table`` (the light clause below, or the ORM table)."""
    return claims.Leased(table, claimed=JobStatus.claimed, waiting=(JobStatus.pending,), due_column="run_at")


def delivered(j, o):
    """``j``, ``o``: crosspromo_jobs' and outbox_messages' columns. A queued job whose message the
    outbox finished (sent, failed, cancelled or dry run): it settles."""
    return and_(j.status == JobStatus.queued, o.id == j.outbox_id, o.status.in_(FINAL))


settings_t = table("crosspromo_settings", column("tenant_id", Integer), column("values", JSON()))
jobs_t = table("crosspromo_jobs", column("id", BigInteger), column("tenant_id", Integer), column("unique_key", String),
               column("status", String), column("run_at", UTCDateTime()), column("lease_expires_at", UTCDateTime()),
               column("outbox_id", BigInteger), column("claimed_by", String))
outbox_t = table("outbox_messages", column("id", BigInteger), column("status", String))
events_t = table("forex_signal_events", column("tenant_id", Integer), column("signal_id", BigInteger),
                 column("kind", String), column("at", UTCDateTime()))


def crosspromo_due(conn, now: datetime, deadline: datetime, tenant_id: int | None = None) -> bool:
    j, o = jobs_t.c, outbox_t.c
    work = select(j.status).where(or_(claims.due(jobs(jobs_t), now), exists(select(o.id).where(delivered(j, o)))))
    if tenant_id is not None:
        work = work.where(j.tenant_id == tenant_id)
    if conn.execute(select(exists(work))).scalar():
        return True
    q = select(settings_t.c.tenant_id, settings_t.c["values"])
    if tenant_id is not None:
        q = q.where(settings_t.c.tenant_id == tenant_id)
    rows = conn.execute(q).all()
    if not rows:
        return False
    from promostack_cli.crosspromo.config import resolve  # time zones and the schedule: only for tenants with settings

    for tid, values in rows:
        try:
            settings = resolve(dict(values or {}))
        except Exception:  # noqa: BLE001 - a setting that no longer checks: the step reports it
            return True
        if settings.enabled and _unqueued(conn, tid, settings, now):
            return True
    return False


def _unqueued(conn, tenant_id: int, settings, now: datetime) -> bool:
    from promostack_cli.crosspromo.schedule import due_slots, switched_on

    since = switched_on(settings, now)
    keys = {s.key for s in due_slots(settings, now) if not (since and s.run_at < since)}
    delay = timedelta(seconds=settings.win_delay_seconds)
    lookback = now - delay - timedelta(seconds=settings.late_window_seconds) - timedelta(hours=1)
    if since:
        lookback = max(lookback, since - delay)
    e = events_t
    for signal_id, kind, at in conn.execute(select(e.c.signal_id, e.c.kind, e.c.at).where(
            e.c.tenant_id == tenant_id, e.c.kind.in_(list(TP_LEVELS)), e.c.at >= lookback, e.c.at <= now - delay)):
        level = TP_LEVELS[kind]
        if level == settings.win_stage:
            keys.add(f"win:{signal_id}")
        elif level > settings.win_stage:
            keys.add(f"win:{signal_id}:tp{level}")
    if not keys:
        return False
    found = {k for (k,) in conn.execute(select(jobs_t.c.unique_key).where(jobs_t.c.tenant_id == tenant_id,
                                                                         jobs_t.c.unique_key.in_(sorted(keys))))}
    return bool(keys - found)
