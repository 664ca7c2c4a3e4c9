"""Deliver due outbox messages, safely from several processes at once.

How it stays correct under concurrency (see DESIGN.md, "Data and concurrency"):

* **Claim** — a short transaction selects due messages that are the *head of their lane* (no earlier
  unfinished message to the same chat through the same bot) and whose chat is not being paced, with
  ``FOR UPDATE SKIP LOCKED`` on PostgreSQL or under ``BEGIN IMMEDIATE`` on SQLite, marks them
  ``sending`` with ``claimed_by`` and a lease, and commits. A crashed sender's lease expires and the
  message is claimed again (at-least-once: Telegram has no idempotency key).
* **Pace** — each bot has one row holding the next free send slot (GCRA). A sender reserves a slot
  in a tiny transaction, sleeps until it, then sends: every process sending for the bot shares one
  schedule, so the bot never exceeds its rate however many ticks run. A 429 pauses the bot for
  ``retry_after`` for everyone. Each lane records when it may next receive a message (1/s per user,
  20/min per group or channel), set from the real send time when the message completes.
* **Finish** — ``UPDATE ... WHERE id = ? AND claimed_by = me``; HTTP happens outside transactions.
  Every message ends ``sent``, ``failed`` (with the error), ``cancelled`` or ``dry_run``.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import socket
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable

import httpx
from sqlalchemy import and_, or_, select, update

from promostack_cli.core.clock import epoch, from_epoch, to_epoch
from promostack_cli.core.errors import BotNotConfiguredError, PromoStackError
from promostack_cli.core.secrets import redact
from promostack_cli.core.upsert import upsert
from promostack_cli.db import Database, for_claim, get_engine
from promostack_cli.outbox.models import REPLY_TO_DEDUPE, BotRateLimit, ChatState, OutboxMessage, OutboxStatus
from promostack_cli.telegram import errors as tg
from promostack_cli.telegram.chats import api_chat_id
from promostack_cli.telegram.client import TelegramClient

log = logging.getLogger(__name__)

LEASE_SECONDS = 120
IDLE_POLL_SECONDS = 0.1
LATE_TOLERANCE_SECONDS = 0.025
LEASE_MARGIN_SECONDS = 5.0
PAUSE_REFRESH_SECONDS = 0.25
RECORD_RETRY_SECONDS = 60.0


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dry_run: int = 0
    retrying: int = 0        # transient failure, back in the queue with a backoff
    rate_limited: int = 0    # 429s received (waited out)
    released: int = 0        # claimed but handed back (deadline, credentials unreadable)
    late_slots: int = 0      # send slots given up because the sender woke too late (CPU contention)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("sent", "failed", "dry_run", "retrying", "rate_limited", "released",
                                              "late_slots", "errors")}


@dataclass
class Claimed:
    id: int
    tenant_id: int
    bot_role: str
    chat_id: str
    chat_kind: str
    method: str
    payload: dict
    attempts: int
    blocked: bool
    claim_token: str = ""     # claimed_by value of this claim: unique per claim, not per process
    lease_until: float = 0.0  # epoch; past it another sender may take the message

    @property
    def lane_key(self) -> tuple[int, str]:
        return (self.tenant_id, self.bot_role)


@dataclass
class SenderConfig:
    rate_per_bot: float = 28.0
    interval_private: float = 1.05
    interval_group: float = 3.1
    workers: int = 64
    max_attempts: int = 6
    lease_seconds: float = LEASE_SECONDS
    api_url: str = "https://api.telegram.org"
    timeout: float = 15.0
    dry_run: bool = False

    @classmethod
    def from_settings(cls, settings, *, dry_run: bool | None = None) -> "SenderConfig":
        return cls(
            rate_per_bot=settings.send_rate_per_bot,
            interval_private=settings.send_interval_private,
            interval_group=settings.send_interval_group,
            workers=settings.send_workers,
            max_attempts=settings.send_max_attempts,
            api_url=settings.telegram_api_url,
            timeout=settings.telegram_timeout,
            dry_run=settings.dry_run if dry_run is None else dry_run,
        )


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def backoff_seconds(attempt: int) -> float:
    """2, 4, 8 ... capped at 5 minutes, with ±20 % jitter so retries of many messages spread out."""
    base = min(2.0 ** attempt, 300.0)
    return base * random.uniform(0.8, 1.2)


# -- claiming --------------------------------------------------------------------------------

def _lane_heads():
    """Ids of the oldest unfinished message of every lane.

    A GROUP BY is linear whatever the planner believes about the table (a correlated NOT EXISTS
    became a quadratic nested loop on a freshly filled outbox with stale statistics).
    """
    from sqlalchemy import func

    o = OutboxMessage
    return (
        select(func.min(o.id).label("id"))
        .where(o.status.in_([OutboxStatus.pending, OutboxStatus.sending]))
        .group_by(o.tenant_id, o.bot_role, o.chat_id)
        .subquery("lane_heads")
    )


def _due(now):
    o = OutboxMessage
    return or_(
        and_(o.status == OutboxStatus.pending, o.not_before <= now),
        and_(o.status == OutboxStatus.sending, o.lease_expires_at < now),
    )


def claim(db: Database, worker: str, limit: int, *, tenant_id: int | None = None,
          lease_seconds: float = LEASE_SECONDS, per_bot: int | None = None) -> list[Claimed]:
    """Claim up to ``limit`` due lane heads whose chat may receive a message now.

    Fair across bots: at most ``per_bot`` messages per (tenant, bot role) are taken, interleaved
    (the 1st of every bot, then the 2nd...), so one tenant's backlog cannot starve the others.
    """
    from sqlalchemy import func

    now_ts = epoch()
    now = from_epoch(now_ts)
    o, cs = OutboxMessage, ChatState
    lane_join = and_(cs.tenant_id == o.tenant_id, cs.bot_role == o.bot_role, cs.chat_id == o.chat_id)
    rank = func.row_number().over(partition_by=(o.tenant_id, o.bot_role), order_by=o.id).label("rank")
    heads = _lane_heads()
    candidates = (
        select(o.id, rank)
        .join(heads, heads.c.id == o.id)
        .outerjoin(cs, lane_join)
        .where(_due(now), or_(cs.id.is_(None), cs.next_send_at <= now_ts, cs.blocked_at.is_not(None)))
    )
    if tenant_id is not None:
        candidates = candidates.where(o.tenant_id == tenant_id)
    ranked = candidates.subquery()
    picked = select(ranked.c.id, ranked.c.rank).where(ranked.c.rank <= (per_bot or limit)).order_by(ranked.c.rank, ranked.c.id).limit(limit).subquery()
    q = (
        select(o.id, o.tenant_id, o.bot_role, o.chat_id, o.chat_kind, o.method, o.payload, o.attempts, cs.blocked_at)
        .outerjoin(cs, lane_join)
        .join(picked, picked.c.id == o.id)
        # re-checked on the latest row version after the lock: a row another sender claimed
        # and committed meanwhile is no longer due and drops out
        .where(_due(now))
        .order_by(picked.c.rank, o.id)
    )
    token = f"{worker}/{uuid.uuid4().hex[:10]}"
    with db.transaction() as session:
        _linear_plans(session)
        rows = session.execute(for_claim(q, session, o)).all()
        if not rows:
            return []
        claimed_at = epoch()  # after the select: a slow query must not shorten the lease we rely on
        session.execute(
            update(o)
            .where(o.id.in_([r.id for r in rows]))
            .values(status=OutboxStatus.sending, claimed_by=token,
                    lease_expires_at=from_epoch(claimed_at + lease_seconds), updated_at=from_epoch(claimed_at))
        )
    return [Claimed(r.id, r.tenant_id, r.bot_role, r.chat_id, r.chat_kind, r.method, dict(r.payload), r.attempts,
                    r.blocked_at is not None, token, claimed_at + lease_seconds) for r in rows]


def _linear_plans(session) -> None:
    """On PostgreSQL, forbid nested-loop joins for this transaction's queries.

    Right after a burst of enqueues the planner's statistics say the outbox is nearly empty and
    it picks nested loops, which are quadratic over thousands of unfinished rows; hash joins over
    them stay linear whatever the statistics say.
    """
    from sqlalchemy import text

    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_nestloop = off"))


def next_due_head(db: Database, *, tenant_id: int | None = None) -> float | None:
    """Epoch time at which the earliest pending lane head becomes due (None: no pending work).

    A head that is due but not claimable is waiting for its chat's pacing or its bot's pause.
    """
    from sqlalchemy import func

    o = OutboxMessage
    heads = _lane_heads()
    q = select(func.min(o.not_before)).join(heads, heads.c.id == o.id).where(o.status == OutboxStatus.pending)
    if tenant_id is not None:
        q = q.where(o.tenant_id == tenant_id)
    with db.transaction() as session:
        _linear_plans(session)
        earliest = session.execute(q).scalar()
    if earliest is None:
        return None
    return to_epoch(earliest)


# -- the shared send schedule ----------------------------------------------------------------

def reserve_bot_slot(db: Database, bot_id: int, tenant_id: int, interval: float, count: int = 1) -> float:
    """Reserve the bot's next ``count`` send slots; returns the first one's epoch time (may be in
    the future). The others follow at ``interval`` spacing.

    One atomic ``UPDATE ... RETURNING`` (autocommitted on PostgreSQL): the row lock lives only inside
    the statement, so senders of one bot never queue behind a thread waiting for the GIL.
    """
    from sqlalchemy import func

    table = BotRateLimit.__table__
    postgres = db.dialect == "postgresql"
    latest = (func.greatest if postgres else func.max)(table.c.next_slot_at, table.c.paused_until, epoch())
    span = interval * count
    stmt = update(table).where(table.c.bot_id == bot_id).values(next_slot_at=latest + span).returning(table.c.next_slot_at)
    for _ in range(2):
        if postgres:
            fast = get_engine(db.url, async_commit=True)
            with fast.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                row = conn.execute(stmt).first()
        else:
            with db.engine.begin() as conn:
                row = conn.execute(stmt).first()
        if row is not None:
            return row[0] - span
        with db.transaction() as session:  # first send of this bot: create its row, then reserve
            upsert(session, BotRateLimit, {"bot_id": bot_id, "tenant_id": tenant_id, "next_slot_at": 0.0,
                                           "paused_until": 0.0}, ["bot_id"])
    raise RuntimeError(f"cannot reserve a send slot for bot {bot_id}")


def pause_bot(db: Database, bot_id: int, until: float) -> None:
    with db.transaction() as session:
        session.execute(
            update(BotRateLimit).where(BotRateLimit.bot_id == bot_id, BotRateLimit.paused_until < until)
            .values(paused_until=until)
        )


class Sender:
    """Delivers due outbox rows until none is due or the deadline passes."""

    def __init__(self, db: Database, box, config: SenderConfig, *, worker: str | None = None,
                 printer: Callable[[Claimed], None] | None = None, http: httpx.Client | None = None):
        self.db = db
        self.box = box
        self.config = config
        self.worker = worker or worker_identity()
        self.printer = printer
        self._owns_http = http is None
        self._http = http or httpx.Client(
            timeout=httpx.Timeout(config.timeout, connect=min(config.timeout, 10.0)),
            limits=httpx.Limits(max_connections=max(config.workers * 2, 20), max_keepalive_connections=max(config.workers, 10)),
        )
        self._creds: dict[tuple[int, str], object] = {}
        self._creds_lock = threading.Lock()
        self._pause_lock = threading.Lock()
        self._local_pause: dict[int, float] = {}
        self._shared_pause: dict[int, tuple[float, float]] = {}
        self._print_lock = threading.Lock()
        self.report = DeliveryReport()
        self._report_lock = threading.Lock()
        self._recorder = Recorder(db)

    def close(self) -> None:
        self._recorder.close()
        if self._owns_http:
            self._http.close()

    def flush(self) -> None:
        """Wait until every outcome submitted so far is committed."""
        self._recorder.flush()

    # -- main loop ----------------------------------------------------------------------------
    def run(self, deadline: float, *, tenant_id: int | None = None) -> DeliveryReport:
        with self._creds_lock:  # each tick reads connections afresh (a token may have been replaced)
            self._creds.clear()
        if self.config.dry_run:
            return self._run_dry(deadline, tenant_id)
        workers = self.config.workers
        per_lane_cap = max(2, workers // 2)
        per_bot_claim = max(4, int(self.config.rate_per_bot * 2))  # ~2 s of a bot's sending
        queues: dict[tuple[int, str], deque[Claimed]] = defaultdict(deque)
        inflight: dict[Future, Claimed] = {}
        inflight_per_bot: Counter = Counter()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send") as pool:
            while True:
                queued = sum(len(q) for q in queues.values())
                claimed_now = 0
                if epoch() < deadline and queued + len(inflight) < workers * 2:
                    batch = claim(self.db, self.worker, workers * 4 - queued - len(inflight), tenant_id=tenant_id,
                                  per_bot=per_bot_claim, lease_seconds=self.config.lease_seconds)
                    for msg in batch:
                        queues[msg.lane_key].append(msg)
                    claimed_now = len(batch)
                # dispatch round-robin across bots, each bot capped so one busy bot cannot starve others
                progressed = True
                while len(inflight) < workers and progressed:
                    progressed = False
                    for key in list(queues):
                        q = queues[key]
                        room = min(per_lane_cap - inflight_per_bot[key], workers - len(inflight), len(q))
                        if room > 0:
                            msgs = [q.popleft() for _ in range(room)]
                            for msg, slot in zip(msgs, self._reserve_for(msgs)):
                                fut = pool.submit(self._deliver_safely, msg, deadline, slot)
                                inflight[fut] = msg
                                inflight_per_bot[key] += 1
                            progressed = True
                        if not q:
                            queues.pop(key, None)
                if inflight:
                    done, _ = wait(list(inflight), timeout=IDLE_POLL_SECONDS, return_when=FIRST_COMPLETED)
                    for fut in done:
                        msg = inflight.pop(fut)
                        inflight_per_bot[msg.lane_key] -= 1
                    continue
                if queues:
                    continue
                if epoch() >= deadline:
                    break
                if claimed_now == 0:
                    self.flush()  # our own finished sends must be visible before judging what is due
                    # Drain: wait for work that comes due before the deadline (paced chats, a bot's
                    # 429 pause, retry backoffs); stop when the next due message lies beyond it.
                    due = next_due_head(self.db, tenant_id=tenant_id)
                    if due is None or due >= deadline:
                        break
                    time.sleep(min(max(due - epoch(), IDLE_POLL_SECONDS), 1.0))
        self.flush()
        return self.report

    def _run_dry(self, deadline: float, tenant_id: int | None) -> DeliveryReport:
        """Dry run: no sends and no pacing, so one thread prints messages in queue order."""
        while epoch() < deadline:
            batch = claim(self.db, self.worker, 200, tenant_id=tenant_id, lease_seconds=self.config.lease_seconds)
            if not batch:
                break
            for msg in batch:
                self._deliver_safely(msg, deadline)
            self.flush()
        self.flush()
        return self.report

    def _count(self, **deltas: int) -> None:
        with self._report_lock:
            for key, n in deltas.items():
                setattr(self.report, key, getattr(self.report, key) + n)

    def _reserve_for(self, msgs: list[Claimed]) -> list[float | None]:
        """Send slots for messages of one bot, reserved in one statement (None: no slot needed/known)."""
        needing = [m for m in msgs if not m.blocked]
        if not needing:
            return [None] * len(msgs)
        try:
            creds = self._credentials(needing[0])
        except PromoStackError:
            return [None] * len(msgs)  # the worker reports the problem
        interval = 1.0 / self.config.rate_per_bot
        first = reserve_bot_slot(self.db, creds.bot_id, needing[0].tenant_id, interval, count=len(needing))
        slots = iter(first + i * interval for i in range(len(needing)))
        return [None if m.blocked else next(slots) for m in msgs]

    def _deliver_safely(self, msg: Claimed, deadline: float, slot: float | None = None) -> None:
        try:
            self._deliver(msg, deadline, slot)
        except Exception as exc:  # never lose a message to a bug: count an attempt, hand it back or fail it
            error = f"internal error: {redact(str(exc))[:200]}"
            log.exception("delivering outbox message %s failed unexpectedly", msg.id)
            if msg.attempts + 1 >= self.config.max_attempts:
                self._finish(msg, OutboxStatus.failed, error=f"gave up after {msg.attempts + 1} attempts: {error}")
                self._count(failed=1)
            else:
                self._release(msg, delay=backoff_seconds(msg.attempts + 1), error=error, attempted=True)
                self._count(retrying=1)
            with self._report_lock:
                if error not in self.report.errors:
                    self.report.errors.append(f"message {msg.id}: {error}")

    # -- one message --------------------------------------------------------------------------
    def _credentials(self, msg: Claimed):
        key = msg.lane_key
        with self._creds_lock:
            if key not in self._creds:
                from promostack_cli.core.credentials import BotCredentialResolver

                try:
                    self._creds[key] = BotCredentialResolver(msg.tenant_id, db=self.db, box=self.box).get_bot_credentials(msg.bot_role)
                except PromoStackError as exc:
                    self._creds[key] = exc
            value = self._creds[key]
        if isinstance(value, Exception):
            raise value
        return value

    def _deliver(self, msg: Claimed, deadline: float, slot: float | None = None) -> None:
        if self.config.dry_run:
            if self.printer:
                with self._print_lock:
                    self.printer(msg)
            self._finish(msg, OutboxStatus.dry_run)
            self._count(dry_run=1)
            return
        if msg.blocked:
            self._finish(msg, OutboxStatus.failed, error="not sent: the user blocked the bot (403). "
                         "promostack outbox retry sends it anyway", code=403)
            self._count(failed=1)
            return
        try:
            creds = self._credentials(msg)
        except BotNotConfiguredError as exc:
            self._finish(msg, OutboxStatus.failed, error=str(exc))
            self._count(failed=1)
            return
        except PromoStackError as exc:  # e.g. the secret key cannot decrypt the token: an operator problem
            self._release(msg, delay=60.0, error=str(exc))
            with self._report_lock:
                if str(exc) not in self.report.errors:
                    self.report.errors.append(str(exc))
            self._count(released=1)
            return

        # Send only while the claim is surely ours: the HTTP call must end before the lease does,
        # or another sender could take the message and both would send it.
        margin = min(LEASE_MARGIN_SECONDS, self.config.lease_seconds / 4)
        send_by = min(deadline, msg.lease_until - self.config.timeout - margin)
        slot = self._wait_for_slot(creds.bot_id, msg.tenant_id, send_by, slot)
        if slot is None:
            self._release(msg, not_before=min(epoch() + 1.0, deadline))
            self._count(released=1)
            return
        paused = self._paused_until(creds.bot_id)
        if paused > epoch():  # a 429 arrived after this slot was reserved: wait it out, don't send into it
            self._release(msg, not_before=paused)
            self._count(released=1)
            return

        client = TelegramClient(creds.token, base_url=self.config.api_url, http=self._http)
        params = dict(msg.payload)
        params["chat_id"] = api_chat_id(msg.chat_id)
        reply_ref = params.pop(REPLY_TO_DEDUPE, None)
        if reply_ref:
            reply_id = self._sent_message_id(msg.tenant_id, reply_ref)
            if reply_id:
                params["reply_parameters"] = {"message_id": reply_id, "allow_sending_without_reply": True}
        try:
            result = client.call(msg.method, **params)
        except tg.RetryAfter as exc:
            until = epoch() + max(exc.retry_after, 1.0)
            with self._pause_lock:
                self._local_pause[creds.bot_id] = max(self._local_pause.get(creds.bot_id, 0.0), until)
            pause_bot(self.db, creds.bot_id, until)
            self._release(msg, not_before=until, rate_limited=True, error=str(exc))
            self._count(rate_limited=1)
            return
        except tg.TelegramError as exc:
            if isinstance(exc, tg.Unauthorized):
                with self._creds_lock:  # the token may have been replaced since it was cached
                    self._creds.pop(msg.lane_key, None)
            self._fail_or_retry(msg, exc)
            return
        sent_at = epoch()
        log.debug("sent outbox message %s to %s via %s", msg.id, msg.chat_id, msg.bot_role)
        message_id = result.get("message_id") if isinstance(result, dict) else None
        self._finish(msg, OutboxStatus.sent, message_id=message_id, sent_at=sent_at)
        self._count(sent=1)

    def _sent_message_id(self, tenant_id: int, dedupe_key: str) -> int | None:
        """The Telegram id of an earlier outbox message (a reply's parent; same lane, so it is final)."""
        with self.db.session() as session:
            return session.scalar(select(OutboxMessage.telegram_message_id).where(
                OutboxMessage.tenant_id == tenant_id, OutboxMessage.dedupe_key == dedupe_key))

    def _wait_for_slot(self, bot_id: int, tenant_id: int, deadline: float, reserved: float | None = None) -> float | None:
        """Sleep until a reserved send slot of the bot; None if none is free before the deadline.

        A sender that wakes up late (CPU contention) gives its slot up and takes a new one: a late
        send would bunch with the on-time sends after it and break the per-second limit.
        """
        interval = 1.0 / self.config.rate_per_bot
        for _ in range(50):
            slot = reserved if reserved is not None else reserve_bot_slot(self.db, bot_id, tenant_id, interval)
            reserved = None
            if slot > deadline:
                return None
            delay = slot - epoch()
            if delay > 0:
                time.sleep(delay)
            if epoch() - slot <= LATE_TOLERANCE_SECONDS:
                return slot
            self._count(late_slots=1)
        return epoch()  # pathological overload: proceed; the 429 handling is the backstop

    def _paused_until(self, bot_id: int) -> float:
        """The bot's 429 pause: this process's own at once, other processes' read at most every 0.25 s."""
        now = epoch()
        with self._pause_lock:
            local = self._local_pause.get(bot_id, 0.0)
            cached, read_at = self._shared_pause.get(bot_id, (0.0, 0.0))
            fresh = now - read_at < PAUSE_REFRESH_SECONDS
        if not fresh:
            with self.db.session() as session:
                cached = session.execute(
                    select(BotRateLimit.paused_until).where(BotRateLimit.bot_id == bot_id)).scalar() or 0.0
            with self._pause_lock:
                self._shared_pause[bot_id] = (cached, now)
        return max(local, cached)

    def _fail_or_retry(self, msg: Claimed, exc: tg.TelegramError) -> None:
        error = redact(str(exc))
        log.info("outbox message %s to %s: %s", msg.id, msg.chat_id, error)
        if exc.transient:
            attempts = msg.attempts + 1
            if attempts < self.config.max_attempts:
                self._release(msg, not_before=epoch() + backoff_seconds(attempts), error=error, attempted=True)
                self._count(retrying=1)
                return
            error = f"gave up after {attempts} attempts: {error}"
        elif isinstance(exc, tg.Unauthorized):
            error = f"the {msg.bot_role} token was rejected (401); run connections set {msg.bot_role}, then outbox retry --failed"
        self._finish(msg, OutboxStatus.failed, error=error, code=exc.error_code, blocked=isinstance(exc, tg.BotBlocked))
        self._count(failed=1)

    # -- bookkeeping: outcomes go to the recorder, which writes them in batches -----------------
    def _finish(self, msg: Claimed, status: OutboxStatus, *, message_id: int | None = None, sent_at: float | None = None,
                error: str | None = None, code: int | None = None, blocked: bool = False) -> None:
        interval = self.config.interval_private if msg.chat_kind == "private" else self.config.interval_group
        self._recorder.submit(Outcome(
            msg=msg, worker=self.worker, status=status, message_id=message_id, sent_at=sent_at, error=error,
            code=code, blocked=blocked, next_send_at=(sent_at + interval) if sent_at else None,
        ))

    def _release(self, msg: Claimed, *, not_before: float | None = None, delay: float | None = None,
                 error: str | None = None, rate_limited: bool = False, attempted: bool = False) -> None:
        when = not_before if not_before is not None else epoch() + (delay or 0.0)
        self._recorder.submit(Outcome(
            msg=msg, worker=self.worker, status=OutboxStatus.pending, error=error, not_before=when,
            rate_limited=rate_limited, attempted=attempted,
        ))


@dataclass
class Outcome:
    """What happened to one claimed message; ``status == pending`` hands it back to the queue."""

    msg: Claimed
    worker: str
    status: OutboxStatus
    message_id: int | None = None
    sent_at: float | None = None
    error: str | None = None
    code: int | None = None
    blocked: bool = False
    next_send_at: float | None = None
    not_before: float | None = None
    rate_limited: bool = False
    attempted: bool = False


def _bulk_upsert(session, rows: list[dict], update_cols: list[str]) -> None:
    table = ChatState.__table__
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=["tenant_id", "bot_role", "chat_id"],
                                      set_={c: getattr(stmt.excluded, c) for c in update_cols})
    session.execute(stmt, rows)


def write_outcomes(session, outcomes: list[Outcome]) -> int:
    """Record outcomes with one executemany per kind of write; returns rows updated."""
    from sqlalchemy import bindparam, func

    o = OutboxMessage.__table__
    now = from_epoch(epoch())
    mine = and_(o.c.id == bindparam("b_id"), o.c.claimed_by == bindparam("b_claim"))
    done = [x for x in outcomes if x.status != OutboxStatus.pending]
    back = [x for x in outcomes if x.status == OutboxStatus.pending]
    updated = 0
    if done:
        stmt = update(o).where(mine).values(
            status=bindparam("b_status"), claimed_by=None, lease_expires_at=None, updated_at=now,
            attempts=o.c.attempts + bindparam("b_tries"), telegram_message_id=bindparam("b_mid"),
            last_error=bindparam("b_error"), error_code=bindparam("b_code"), sent_at=bindparam("b_sent", type_=o.c.sent_at.type),
        )
        result = session.execute(stmt, [
            {"b_id": x.msg.id, "b_claim": x.msg.claim_token, "b_status": str(x.status), "b_mid": x.message_id,
             "b_tries": 0 if x.status == OutboxStatus.dry_run else 1, "b_error": x.error, "b_code": x.code,
             "b_sent": from_epoch(x.sent_at) if x.sent_at else None} for x in done])
        updated += result.rowcount if result.rowcount and result.rowcount > 0 else 0
    if back:
        stmt = update(o).where(mine).values(
            status=OutboxStatus.pending, claimed_by=None, lease_expires_at=None, updated_at=now,
            not_before=bindparam("b_when", type_=o.c.not_before.type),
            last_error=func.coalesce(bindparam("b_error", type_=o.c.last_error.type), o.c.last_error),
            rate_limited=o.c.rate_limited + bindparam("b_rl"), attempts=o.c.attempts + bindparam("b_tries"),
        )
        result = session.execute(stmt, [
            {"b_id": x.msg.id, "b_claim": x.msg.claim_token, "b_when": from_epoch(x.not_before), "b_error": x.error,
             "b_rl": int(x.rate_limited), "b_tries": int(x.attempted)} for x in back])
        updated += result.rowcount if result.rowcount and result.rowcount > 0 else 0
    paced = {}
    for x in done:
        if x.next_send_at is not None:
            paced[(x.msg.tenant_id, x.msg.bot_role, x.msg.chat_id)] = x.next_send_at
    if paced:
        _bulk_upsert(session, [{"tenant_id": t, "bot_role": r, "chat_id": c, "next_send_at": at}
                               for (t, r, c), at in paced.items()], ["next_send_at"])
    blocked = {(x.msg.tenant_id, x.msg.bot_role, x.msg.chat_id): (x.error or "blocked")[:200] for x in done if x.blocked}
    if blocked:
        _bulk_upsert(session, [{"tenant_id": t, "bot_role": r, "chat_id": c, "next_send_at": 0.0, "blocked_at": now,
                                "blocked_reason": why} for (t, r, c), why in blocked.items()], ["blocked_at", "blocked_reason"])
    return updated


class Recorder:
    """Writes the outcomes of sends in batches: one transaction per ~20 ms instead of one per message.

    Outcomes wait here only milliseconds; if the process dies first, the messages' leases expire
    and they are sent again (delivery is at-least-once, as with any crash between send and record).
    """

    BATCH_WINDOW = 0.02
    MAX_BATCH = 500

    def __init__(self, db: Database):
        self.db = db
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="outbox-recorder", daemon=True)
        self._stopping = threading.Event()
        self._thread.start()

    def submit(self, outcome: Outcome) -> None:
        self._queue.put(outcome)

    def flush(self) -> None:
        done = threading.Event()
        self._queue.put(done)  # set by the writer once everything queued before it is committed
        done.wait()

    def close(self) -> None:
        """Write everything submitted so far, then stop."""
        self._stopping.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.BATCH_WINDOW)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            items = [first]
            deadline = time.monotonic() + self.BATCH_WINDOW
            while len(items) < self.MAX_BATCH:
                remaining = deadline - time.monotonic()
                try:
                    items.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(items)

    def _write(self, items: list) -> None:
        outcomes = [x for x in items if isinstance(x, Outcome)]
        try:
            if outcomes:
                self._write_batch(outcomes)
        finally:
            for marker in items:
                if isinstance(marker, threading.Event):
                    marker.set()

    def _write_batch(self, outcomes: list[Outcome]) -> None:
        # A database blip (restart, failover) must not turn sent messages into resends: keep trying
        # for most of the lease (120 s) before recording one by one and, failing that, giving up.
        give_up_at = time.monotonic() + RECORD_RETRY_SECONDS
        delay = 0.2
        attempt = 0
        while True:
            attempt += 1
            try:
                with self.db.transaction() as session:
                    updated = write_outcomes(session, outcomes)
                if 0 <= updated < len(outcomes):
                    log.warning("%d outbox result(s) not recorded: their lease had expired and another sender "
                                "claimed them", len(outcomes) - updated)
                return
            except Exception:  # noqa: BLE001
                log.warning("recording %d outbox results failed (attempt %d); retrying", len(outcomes), attempt,
                            exc_info=attempt == 1)
                if time.monotonic() + delay > give_up_at:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        for outcome in outcomes:
            try:
                with self.db.transaction() as session:
                    write_outcomes(session, [outcome])
            except Exception:  # noqa: BLE001
                log.error("could not record the result of outbox message %s for %.0f s; its lease will expire "
                          "and it will be sent again", outcome.msg.id, RECORD_RETRY_SECONDS)
