"""What cross promo would post, without the job queue: ``crosspromo run --dry-run`` (the due jobs of
a run, rolled back) and ``crosspromo preview`` / ``test`` (one post now)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import select

from promostack_cli.core.errors import PromoStackError
from promostack_cli.crosspromo import posts, queue
from promostack_cli.crosspromo.models import CrossPromoJob
from promostack_cli.crosspromo.service import Skip, attribution_ref, build, enabled_tenants, enqueue_due


@dataclass
class Planned:
    job: CrossPromoJob
    post: posts.Post | None = None
    skipped: str | None = None     # why it would not post (late, not profitable, an error)


class _Rollback(Exception):
    pass


def plan(db, app_settings, now: datetime, *, market_for, tenant_id: int | None = None, http=None) -> list[Planned]:
    """What a run at ``now`` would post, without writing anything (``crosspromo run --dry-run``)."""
    from sqlalchemy.orm import make_transient

    from promostack_cli.connections.service import get_connection
    from promostack_cli.crosspromo.config import load
    from promostack_cli.runtime import TenantRuntime

    jobs: list[CrossPromoJob] = []
    try:
        with db.transaction() as session:
            for tid, settings in enabled_tenants(session, tenant_id):
                enqueue_due(session, tid, settings, now)
            q = select(CrossPromoJob).where(queue.claims.due(queue.JOBS, now)).order_by(CrossPromoJob.run_at)
            if tenant_id is not None:
                q = q.where(CrossPromoJob.tenant_id == tenant_id)
            for job in session.exec(q):
                session.expunge(job)
                make_transient(job)
                jobs.append(job)
            raise _Rollback()
    except _Rollback:
        pass
    out = []
    for job in jobs:
        runtime = TenantRuntime(job.tenant_id, db=db, settings=app_settings)
        with db.session() as session:
            settings = load(session, job.tenant_id)
            message_bot = get_connection(session, job.tenant_id, "message_bot")
        try:
            if now > job.scheduled_at + timedelta(seconds=settings.late_window_seconds):
                raise Skip(f"late: beyond the late window ({settings.late_window})")
            post = build(job, settings, runtime, market_for, now, http=http)
            if post.kind != "win_update":
                post.button = posts.button(settings, attribution_ref(job.id), message_bot.username if message_bot else None)
            out.append(Planned(job, post))
        except PromoStackError as exc:
            out.append(Planned(job, skipped=str(exc)))
        finally:
            runtime.close()
    return out


def queue_test_post(session, tenant_id: int, settings, post: posts.Post, now: datetime) -> tuple[int, str]:
    """``crosspromo test``: the post in the FREE channel now, outside the schedule and the job queue."""
    from promostack_cli.connections.service import get_connection
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.outbox.service import enqueue

    signal_bot = get_connection(session, tenant_id, "signal_bot")
    channel = settings.free_channel or (signal_bot.free_channel if signal_bot else None)
    if signal_bot is None or not channel:
        raise ValidationError("No FREE channel to post to: set the signal bot's --free-channel (connections set) "
                              "or crosspromo settings set --free-channel.")
    message = enqueue(session, tenant_id, "signal_bot", channel, post.text, now=now, reply_markup=post.reply_markup,
                      source=f"crosspromo:test:{post.kind}", disable_web_page_preview=True)
    return message.id, channel


def latest_win(session, tenant_id: int, stage: int) -> int | None:
    """The newest VIP signal that reached take-profit ``stage`` (for previews)."""
    from promostack_cli.forex.models import ForexSignal

    s = ForexSignal
    return session.exec(select(s.id).where(s.tenant_id == tenant_id, s.stage >= stage).order_by(s.opened_at.desc())).first()
