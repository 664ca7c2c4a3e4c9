"""``crosspromo run``: enqueue due daily posts and win copies, build and queue due jobs, settle.

Idempotent and safe to run from any number of processes at once: daily jobs and win copies are
unique per key; due jobs are claimed with a lease (:mod:`.queue`); the message and the job's move to
``queued`` commit together, and the outbox's dedupe key (``crosspromo:job:<id>``) makes a retried
build that already queued its message reuse it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import select

from promostack_cli.core import claims
from promostack_cli.core.codes import base36
from promostack_cli.core.errors import OperationalError, PromoStackError
from promostack_cli.crosspromo import posts, queue
from promostack_cli.crosspromo.config import PromoSettings, resolve
from promostack_cli.crosspromo.models import CrossPromoJob, CrossPromoPost, CrossPromoSettings, JobStatus
from promostack_cli.crosspromo.schedule import due_slots, switched_on

def attribution_ref(job_id: int) -> str:
    """The code a post's deep link carries (``?start=vip__cp1a``): the job's id, short."""
    return "cp" + base36(job_id)


TP_KINDS = {"tp1": 1, "tp2": 2, "tp3": 3}


@dataclass
class RunReport:
    enqueued: int = 0
    queued: int = 0             # messages put in the outbox
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    completed: int = 0          # settled from the outbox
    warnings: list[str] = field(default_factory=list)
    posts: list[posts.Post] = field(default_factory=list)   # what was (or, dry run, would be) posted

    def as_dict(self) -> dict:
        return {"enqueued": self.enqueued, "queued": self.queued, "retrying": self.retrying, "failed": self.failed,
                "cancelled": self.cancelled, "completed": self.completed, "warnings": self.warnings}

    def line(self) -> str:
        return summary_line(self.as_dict())


def summary_line(c: dict) -> str:
    """``crosspromo run``'s line, from a run's counts."""
    return (f"{c.get('enqueued', 0)} job(s) enqueued, {c.get('queued', 0)} post(s) queued, "
            f"{c.get('completed', 0)} delivered, {c.get('retrying', 0)} retrying, {c.get('failed', 0)} failed, "
            f"{c.get('cancelled', 0)} cancelled")


def enabled_tenants(session, tenant_id: int | None = None) -> list[tuple[int, PromoSettings]]:
    q = select(CrossPromoSettings)
    if tenant_id is not None:
        q = q.where(CrossPromoSettings.tenant_id == tenant_id)
    out = []
    for row in session.exec(q):
        settings = resolve(dict(row.values))
        if settings.enabled:
            out.append((row.tenant_id, settings))
    return out


# -- enqueue ------------------------------------------------------------------------------------

def enqueue_due(session, tenant_id: int, settings: PromoSettings, now: datetime) -> int:
    """Daily posts due by ``now`` (too late ones recorded as cancelled) and win copies of new TP hits."""
    enabled_at = switched_on(settings, now)
    late = timedelta(seconds=settings.late_window_seconds)
    added = 0
    slots = [s for s in due_slots(settings, now) if not (enabled_at and s.run_at < enabled_at)]
    # a run every minute finds the same slots again: one read instead of an insert attempt each
    existing = _existing_keys(session, tenant_id, [s.key for s in slots])
    for slot in slots:
        if slot.key in existing:
            continue
        reason = None
        if now > slot.run_at + late:
            reason = f"late: due {slot.local_time:%a %d %b %H:%M %Z}; the late window ({settings.late_window}) had passed"
        added += queue.enqueue(session, tenant_id, slot.kind, slot.key, slot.run_at, slot.local_date.isoformat(),
                               now, cancelled=reason)
    return added + _enqueue_wins(session, tenant_id, settings, now, enabled_at)


def _existing_keys(session, tenant_id: int, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    j = CrossPromoJob
    return set(session.exec(select(j.unique_key).where(j.tenant_id == tenant_id, j.unique_key.in_(keys))).all())


def _enqueue_wins(session, tenant_id: int, settings: PromoSettings, now: datetime, enabled_at) -> int:
    from promostack_cli.forex.models import ForexSignalEvent

    delay = timedelta(seconds=settings.win_delay_seconds)
    since = now - delay - timedelta(seconds=settings.late_window_seconds) - timedelta(hours=1)
    if enabled_at:
        since = max(since, enabled_at - delay)
    e = ForexSignalEvent
    events = session.exec(select(e).where(e.tenant_id == tenant_id, e.kind.in_(list(TP_KINDS)), e.at >= since,
                                          e.at <= now).order_by(e.at, e.id)).all()
    added = 0
    existing = _existing_keys(session, tenant_id, [f"win:{ev.signal_id}" if TP_KINDS[ev.kind] == settings.win_stage
                                                   else f"win:{ev.signal_id}:tp{TP_KINDS[ev.kind]}" for ev in events])
    for ev in events:
        level = TP_KINDS[ev.kind]
        if level < settings.win_stage:
            continue
        run_at = ev.at + delay
        if run_at > now:
            continue
        local_date = run_at.astimezone(settings.zone).date().isoformat()
        payload = {"signal_id": ev.signal_id, "level": level}
        if (f"win:{ev.signal_id}" if level == settings.win_stage else f"win:{ev.signal_id}:tp{level}") in existing:
            continue
        if level == settings.win_stage:
            added += _enqueue_win(session, tenant_id, settings, ev.signal_id, run_at, local_date, now, payload)
        else:
            added += queue.enqueue(session, tenant_id, "win_update", f"win:{ev.signal_id}:tp{level}", run_at,
                                   local_date, now, payload=payload)
    return added


def _enqueue_win(session, tenant_id, settings, signal_id, run_at, local_date, now, payload) -> int:
    return queue.enqueue(session, tenant_id, "win", f"win:{signal_id}", run_at, local_date, now, payload=payload)


def _check_daily_wins(session, job: CrossPromoJob, settings) -> None:
    """At most ``max_wins_per_day`` copies per local day, counted when a copy is queued (a signal
    that turns out unprofitable does not take a place), under a lock so two machines cannot both
    take the last place."""
    claims.serialise(session, "crosspromo-wins", job.tenant_id, job.local_date)
    j = CrossPromoJob
    taken = len(session.exec(select(j.id).where(j.tenant_id == job.tenant_id, j.kind == "win",
                                                j.local_date == job.local_date, j.id != job.id,
                                                j.status.in_([JobStatus.queued, JobStatus.completed]))).all())
    if taken >= settings.max_wins_per_day:
        raise Skip(f"max_wins_per_day ({settings.max_wins_per_day}) already reached on {job.local_date}")


# -- build and queue ----------------------------------------------------------------------------

class Later(OperationalError):
    """Not now, but soon (a copy this reply waits for is not queued yet)."""


def build(job: CrossPromoJob, settings: PromoSettings, runtime, market_for, now: datetime, *, http=None,
          writer=None) -> posts.Post:
    """The post a job makes, its facts read first and its text written (by ``writer``, the tenant's by
    default) with no session open. OperationalError: try again later; other PromoStackError: give up."""
    from promostack_cli.forex.config import load as load_forex
    from promostack_cli.forex.models import ForexSignal

    writer = writer or posts.writer(runtime, settings)
    if job.kind == "morning_news":
        with runtime.session() as session:
            forex = load_forex(session, job.tenant_id)
        return posts.morning_news(writer, settings, market_for(runtime, forex.symbol), forex.symbol, forex.pip_size,
                                  now, db=runtime.db, tenant_id=job.tenant_id, http=http)
    if job.kind == "teaser":
        with runtime.session() as session:
            figures = posts.vip_figures(session, job.tenant_id, now)
        return posts.teaser(writer, settings, figures, now)
    with runtime.session() as session:
        signal = session.get(ForexSignal, job.payload["signal_id"])
        if job.kind == "win_update":
            copy = session.exec(select(CrossPromoJob).where(CrossPromoJob.tenant_id == job.tenant_id,
                                                            CrossPromoJob.unique_key == f"win:{signal.id}")).first() if signal else None
            if copy is None or copy.status in (JobStatus.cancelled, JobStatus.failed):
                raise Skip(f"signal {job.payload['signal_id']} has no copy in the FREE channel to reply to")
            if copy.status in (JobStatus.pending, JobStatus.claimed):
                raise Later(f"waiting for the copy of signal {signal.id} (job {copy.id}) to be queued")
    if signal is None:
        raise Skip(f"signal {job.payload['signal_id']} no longer exists")
    if signal.status == "closed" and signal.pips <= 0:
        raise Skip(f"signal {signal.id} closed without profit ({signal.result}, {signal.pips:+.1f} pips): not copied")
    return posts.win_copy(writer, settings, signal, job.payload["level"], job.kind,
                          banked=_banked(runtime, signal.id, job.payload["level"]))


def _banked(runtime, signal_id: int, level: int) -> float | None:
    """Pips the signal's TP events recorded up to ``level`` (None if any lacks its figure)."""
    from promostack_cli.forex.models import ForexSignalEvent

    kinds = [f"tp{n}" for n in range(1, level + 1)]
    with runtime.session() as session:
        pips = session.exec(select(ForexSignalEvent.pips).where(ForexSignalEvent.signal_id == signal_id,
                                                                ForexSignalEvent.kind.in_(kinds))).all()
    return sum(pips) if len(pips) == level and all(p is not None for p in pips) else None


class Skip(PromoStackError):
    """The job should not post at all (cancelled, with this reason)."""


class _LeaseLost(Exception):
    pass


def process(db, app_settings, now: datetime, worker: str, *, market_for, tenant_id: int | None = None,
            report: RunReport | None = None, http=None, limit: int = 50, writers=None) -> RunReport:
    """Claim due jobs and queue their posts (one claim batch; call again while it returns work).

    Needs no bot token: channels and the message bot's username are read from connections; the
    outbox's sender decrypts the token when it delivers. ``writers(runtime, settings)``: the writer
    of a tenant's posts (default :func:`.posts.writer`).
    """
    from promostack_cli.runtime import TenantRuntime

    report = report or RunReport()
    runtimes: dict[int, TenantRuntime] = {}
    try:
        for job, token in queue.claim(db, worker, now, limit=limit, tenant_id=tenant_id):
            runtime = runtimes.get(job.tenant_id)
            if runtime is None:
                runtime = runtimes[job.tenant_id] = TenantRuntime(job.tenant_id, db=db, settings=app_settings)
            _process_one(db, runtime, job, token, now, market_for, report, http, writers or posts.writer)
    finally:
        for runtime in runtimes.values():
            runtime.close()
    return report


def _process_one(db, runtime, job, token, now, market_for, report: RunReport, http, writers) -> None:
    from promostack_cli.crosspromo.config import load

    with db.session() as session:
        settings = load(session, job.tenant_id)
    late = timedelta(seconds=settings.late_window_seconds)
    outcome = None
    try:
        if not settings.enabled:
            raise Skip("cross promo is disabled for this tenant")
        if now > job.scheduled_at + late:
            raise Skip(f"late: due {job.scheduled_at.astimezone(settings.zone):%a %d %b %H:%M %Z}, "
                       f"beyond the late window ({settings.late_window})")
        post = build(job, settings, runtime, market_for, now, http=http, writer=writers(runtime, settings))
        try:
            with db.transaction() as session:
                message = _queue_post(session, runtime, settings, job, post, now)
                if not queue.mark_queued(session, job, token, message.id, now):
                    raise _LeaseLost()  # another run took the job over (our lease expired): it posts, not us
            outcome = "queued"
        except _LeaseLost:
            pass
        if outcome:
            report.queued += 1
            report.posts.append(post)
            report.warnings += [f"job {job.id}: {w}" for w in post.warnings]
        return
    except Skip as exc:
        status, reason = JobStatus.cancelled, str(exc)
    except OperationalError as exc:   # Twelve Data or a feed server down, credits spent, a copy not queued yet
        with db.transaction() as session:
            moved = queue.retry_later(session, job, token, str(exc), now)
        if moved == JobStatus.failed:
            report.failed += 1
        else:
            report.retrying += 1
        return
    except PromoStackError as exc:     # no FREE channel, a broken template...: retrying would not help
        status, reason = JobStatus.failed, str(exc)
    with db.transaction() as session:
        queue.end(session, job, token, status, reason, now)
    if status == JobStatus.cancelled:
        report.cancelled += 1
    else:
        report.failed += 1


def _queue_post(session, runtime, settings, job, post: posts.Post, now):
    from promostack_cli.connections.service import get_connection
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.outbox.service import enqueue

    if job.kind == "win":
        _check_daily_wins(session, job, settings)
    signal_bot = get_connection(session, job.tenant_id, "signal_bot")
    if signal_bot is None:
        raise ValidationError("No signal bot: cross promo posts through it. Run: promostack connections set signal_bot ...")
    channel = settings.free_channel or signal_bot.free_channel
    if not channel:
        raise ValidationError("No FREE channel: set crosspromo settings set --free-channel, or the signal bot's "
                              "--free-channel in connections.")
    ref = None
    if post.kind != "win_update":
        ref = attribution_ref(job.id)
        message_bot = get_connection(session, job.tenant_id, "message_bot")
        post.button = posts.button(settings, ref, message_bot.username if message_bot else None)
    dedupe = f"crosspromo:win:{post.signal_id}" if post.kind == "win" else f"crosspromo:job:{job.id}"
    message = enqueue(session, job.tenant_id, "signal_bot", channel, post.text, now=now,
                      reply_markup=post.reply_markup, reply_to_dedupe=post.reply_to, dedupe_key=dedupe,
                      source=f"crosspromo:{post.kind}", disable_web_page_preview=True)
    if ref:
        from promostack_cli.core.upsert import upsert

        upsert(session, CrossPromoPost, {"tenant_id": job.tenant_id, "job_id": job.id, "kind": post.kind, "ref": ref,
                                         "signal_id": post.signal_id, "outbox_id": message.id, "created_at": now},
               ["job_id"])
    return message



# -- one run ------------------------------------------------------------------------------------

def live_markets(app_settings):
    """``market_for(runtime, symbol)``: the forex candle cache topped up from Twelve Data."""
    from promostack_cli.forex.market import live_market

    return lambda runtime, symbol: live_market(runtime, app_settings, symbol)


def file_market(path, note=None):
    """``market_for`` that reads candles from a CSV file (offline runs, the demo, replays)."""
    from promostack_cli.forex.market import FileMarket

    market = FileMarket.from_csv(path, note=note)
    return lambda runtime, symbol: market


def run(db, app_settings, now: datetime, worker: str, *, market_for, tenant_id: int | None = None,
        deadline: datetime | None = None, clock=None, http=None, writers=None) -> RunReport:
    """Enqueue what is due, build and queue due jobs until none is left (or ``deadline``), settle.
    Each post's text is written before the transaction that queues it (``writers`` as for :func:`process`)."""
    report = RunReport()
    with db.transaction() as session:
        for tid, settings in enabled_tenants(session, tenant_id):
            report.enqueued += enqueue_due(session, tid, settings, now)
    while True:
        before = report.queued + report.retrying + report.failed + report.cancelled
        process(db, app_settings, now, worker, market_for=market_for, tenant_id=tenant_id, report=report,
                http=http, writers=writers)
        if report.queued + report.retrying + report.failed + report.cancelled == before:
            break
        if deadline is not None and clock is not None and clock() >= deadline:
            break
    with db.transaction() as session:
        moved = queue.settle(session, now, tenant_id=tenant_id)
        _prune_feed_cache(session, now)
    report.completed += moved[JobStatus.completed]
    report.failed += moved[JobStatus.failed]
    report.cancelled += moved[JobStatus.cancelled]
    return report


def _prune_feed_cache(session, now: datetime) -> None:
    from sqlalchemy import delete

    from promostack_cli.crosspromo.models import FeedCache

    session.execute(delete(FeedCache).where(FeedCache.hour < now - timedelta(days=2)))
