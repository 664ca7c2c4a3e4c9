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
import random
import socket
import threading
import time
from collections import Counter, defaultdict, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

import httpx
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from promostack_cli.core.clock import epoch, from_epoch
from promostack_cli.core.errors import BotNotConfiguredError, PromoStackError
from promostack_cli.core.secrets import redact
from promostack_cli.core.upsert import upsert
from promostack_cli.db import Database, for_claim, for_update
from promostack_cli.outbox.models import BotRateLimit, ChatState, OutboxMessage, OutboxStatus
from promostack_cli.telegram import errors as tg
from promostack_cli.telegram.chats import api_chat_id
from promostack_cli.telegram.client import TelegramClient

log = logging.getLogger(__name__)

LEASE_SECONDS = 120
IDLE_POLL_SECONDS = 0.1


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dry_run: int = 0
    retrying: int = 0        # transient failure, back in the queue with a backoff
    rate_limited: int = 0    # 429s received (waited out)
    released: int = 0        # claimed but handed back (deadline, credentials unreadable)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("sent", "failed", "dry_run", "retrying", "rate_limited", "released", "errors")}


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

    @property
    def lane_key(self) -> tuple[int, str]:
        return (self.tenant_id, self.bot_role)


@dataclass
class SenderConfig:
    rate_per_bot: float = 28.0
    interval_private: float = 1.05
    interval_group: float = 3.1
    workers: int = 16
    max_attempts: int = 6
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

def _head_of_lane():
    earlier = aliased(OutboxMessage)
    o = OutboxMessage
    return ~exists().where(
        earlier.tenant_id == o.tenant_id,
        earlier.bot_role == o.bot_role,
        earlier.chat_id == o.chat_id,
        earlier.id < o.id,
        earlier.status.in_([OutboxStatus.pending, OutboxStatus.sending]),
    )


def _due(now):
    o = OutboxMessage
    return or_(
        and_(o.status == OutboxStatus.pending, o.not_before <= now),
        and_(o.status == OutboxStatus.sending, o.lease_expires_at < now),
    )


def claim(db: Database, worker: str, limit: int, *, tenant_id: int | None = None,
          lease_seconds: float = LEASE_SECONDS) -> list[Claimed]:
    """Claim up to ``limit`` due lane heads whose chat may receive a message now."""
    now_ts = epoch()
    now = from_epoch(now_ts)
    o, cs = OutboxMessage, ChatState
    q = (
        select(o.id, o.tenant_id, o.bot_role, o.chat_id, o.chat_kind, o.method, o.payload, o.attempts, cs.blocked_at)
        .outerjoin(cs, and_(cs.tenant_id == o.tenant_id, cs.bot_role == o.bot_role, cs.chat_id == o.chat_id))
        .where(_due(now), _head_of_lane(), or_(cs.id.is_(None), cs.next_send_at <= now_ts, cs.blocked_at.is_not(None)))
        .order_by(o.id)
        .limit(limit)
    )
    if tenant_id is not None:
        q = q.where(o.tenant_id == tenant_id)
    with db.transaction() as session:
        rows = session.execute(for_claim(q, session, o)).all()
        if not rows:
            return []
        session.execute(
            update(o)
            .where(o.id.in_([r.id for r in rows]))
            .values(status=OutboxStatus.sending, claimed_by=worker,
                    lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
        )
    return [Claimed(r.id, r.tenant_id, r.bot_role, r.chat_id, r.chat_kind, r.method, dict(r.payload), r.attempts,
                    r.blocked_at is not None) for r in rows]


def has_due_heads(db: Database, *, tenant_id: int | None = None) -> bool:
    """Whether some lane head is due now (perhaps only waiting for its chat's pacing)."""
    now = from_epoch(epoch())
    o = OutboxMessage
    q = select(o.id).where(o.status == OutboxStatus.pending, o.not_before <= now, _head_of_lane())
    if tenant_id is not None:
        q = q.where(o.tenant_id == tenant_id)
    with db.session() as session:
        return session.execute(q.limit(1)).first() is not None


# -- the shared send schedule ----------------------------------------------------------------

def reserve_bot_slot(db: Database, bot_id: int, tenant_id: int, interval: float) -> float:
    """Reserve the bot's next send slot; returns its epoch time (may be in the future)."""
    now = epoch()
    with db.transaction() as session:
        row = session.execute(for_update(select(BotRateLimit).where(BotRateLimit.bot_id == bot_id), session)).scalar()
        if row is None:
            upsert(session, BotRateLimit, {"bot_id": bot_id, "tenant_id": tenant_id, "next_slot_at": 0.0,
                                           "paused_until": 0.0}, ["bot_id"])
            row = session.execute(for_update(select(BotRateLimit).where(BotRateLimit.bot_id == bot_id), session)).scalar_one()
        slot = max(now, row.next_slot_at, row.paused_until)
        row.next_slot_at = slot + interval
    return slot


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
        self._print_lock = threading.Lock()
        self.report = DeliveryReport()
        self._report_lock = threading.Lock()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # -- main loop ----------------------------------------------------------------------------
    def run(self, deadline: float, *, tenant_id: int | None = None) -> DeliveryReport:
        workers = self.config.workers
        per_lane_cap = max(2, workers // 2)
        queues: dict[tuple[int, str], deque[Claimed]] = defaultdict(deque)
        inflight: dict[Future, Claimed] = {}
        inflight_per_bot: Counter = Counter()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send") as pool:
            while True:
                queued = sum(len(q) for q in queues.values())
                claimed_now = 0
                if epoch() < deadline and queued + len(inflight) < workers * 2:
                    batch = claim(self.db, self.worker, workers * 4 - queued - len(inflight), tenant_id=tenant_id)
                    for msg in batch:
                        queues[msg.lane_key].append(msg)
                    claimed_now = len(batch)
                # dispatch round-robin across bots, each bot capped so one busy bot cannot starve others
                progressed = True
                while len(inflight) < workers and progressed:
                    progressed = False
                    for key in list(queues):
                        q = queues[key]
                        if q and inflight_per_bot[key] < per_lane_cap and len(inflight) < workers:
                            msg = q.popleft()
                            fut = pool.submit(self._deliver_safely, msg, deadline)
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
                    if not has_due_heads(self.db, tenant_id=tenant_id):
                        break
                    time.sleep(IDLE_POLL_SECONDS)  # due work exists but its chats are being paced
        return self.report

    def _count(self, **deltas: int) -> None:
        with self._report_lock:
            for key, n in deltas.items():
                setattr(self.report, key, getattr(self.report, key) + n)

    def _deliver_safely(self, msg: Claimed, deadline: float) -> None:
        try:
            self._deliver(msg, deadline)
        except Exception as exc:  # never lose a message to a bug: hand it back and report
            log.exception("delivering outbox message %s failed unexpectedly", msg.id)
            self._release(msg, delay=5.0, error=f"internal error: {redact(str(exc))[:200]}")
            with self._report_lock:
                self.report.errors.append(f"message {msg.id}: {redact(str(exc))[:200]}")

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

    def _deliver(self, msg: Claimed, deadline: float) -> None:
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

        slot = reserve_bot_slot(self.db, creds.bot_id, msg.tenant_id, 1.0 / self.config.rate_per_bot)
        if slot > deadline:
            self._release(msg, not_before=slot)
            self._count(released=1)
            return
        delay = slot - epoch()
        if delay > 0:
            time.sleep(delay)

        client = TelegramClient(creds.token, base_url=self.config.api_url, http=self._http)
        params = dict(msg.payload)
        params["chat_id"] = api_chat_id(msg.chat_id)
        try:
            result = client.call(msg.method, **params)
        except tg.RetryAfter as exc:
            until = epoch() + max(exc.retry_after, 1.0)
            pause_bot(self.db, creds.bot_id, until)
            self._release(msg, not_before=until, rate_limited=True, error=str(exc))
            self._count(rate_limited=1)
            return
        except tg.TelegramError as exc:
            self._fail_or_retry(msg, exc)
            return
        sent_at = epoch()
        message_id = result.get("message_id") if isinstance(result, dict) else None
        self._finish(msg, OutboxStatus.sent, message_id=message_id, sent_at=sent_at)
        self._count(sent=1)

    def _fail_or_retry(self, msg: Claimed, exc: tg.TelegramError) -> None:
        error = redact(str(exc))
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

    # -- bookkeeping (each a short transaction, guarded by claimed_by) ------------------------
    def _mine(self, msg: Claimed):
        return and_(OutboxMessage.id == msg.id, OutboxMessage.claimed_by == self.worker)

    def _finish(self, msg: Claimed, status: OutboxStatus, *, message_id: int | None = None, sent_at: float | None = None,
                error: str | None = None, code: int | None = None, blocked: bool = False) -> None:
        now = from_epoch(epoch())
        with self.db.transaction() as session:
            result = session.execute(
                update(OutboxMessage).where(self._mine(msg)).values(
                    status=status, claimed_by=None, lease_expires_at=None, updated_at=now,
                    attempts=OutboxMessage.attempts + (0 if status == OutboxStatus.dry_run else 1),
                    telegram_message_id=message_id, last_error=error, error_code=code,
                    sent_at=from_epoch(sent_at) if sent_at else None,
                )
            )
            if result.rowcount == 0:
                log.warning("outbox message %s: lease lost before it was recorded as %s", msg.id, status)
                return
            if status == OutboxStatus.sent:
                interval = self.config.interval_private if msg.chat_kind == "private" else self.config.interval_group
                lane = {"tenant_id": msg.tenant_id, "bot_role": msg.bot_role, "chat_id": msg.chat_id}
                upsert(session, ChatState, {**lane, "next_send_at": sent_at + interval},
                       ["tenant_id", "bot_role", "chat_id"], {"next_send_at": sent_at + interval})
            elif blocked:
                lane = {"tenant_id": msg.tenant_id, "bot_role": msg.bot_role, "chat_id": msg.chat_id}
                reason = (error or "blocked")[:200]
                upsert(session, ChatState, {**lane, "next_send_at": 0.0, "blocked_at": now, "blocked_reason": reason},
                       ["tenant_id", "bot_role", "chat_id"], {"blocked_at": now, "blocked_reason": reason})

    def _release(self, msg: Claimed, *, not_before: float | None = None, delay: float | None = None,
                 error: str | None = None, rate_limited: bool = False, attempted: bool = False) -> None:
        when = not_before if not_before is not None else epoch() + (delay or 0.0)
        values = dict(status=OutboxStatus.pending, claimed_by=None, lease_expires_at=None,
                      not_before=from_epoch(when), updated_at=from_epoch(epoch()))
        if error:
            values["last_error"] = error
        if rate_limited:
            values["rate_limited"] = OutboxMessage.rate_limited + 1
        if attempted:
            values["attempts"] = OutboxMessage.attempts + 1
        with self.db.transaction() as session:
            session.execute(update(OutboxMessage).where(self._mine(msg)).values(**values))
