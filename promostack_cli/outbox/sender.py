"""Deliver due outbox messages, safely from several processes at once.

How it stays correct under concurrency (see DESIGN.md, "Data and concurrency"):

* **Claim** (:mod:`.claims`) — lane heads that are due, taken with a lease in a short transaction.
* **Pace** (:mod:`.pacing`) — every process sending for a bot shares one schedule of send slots.
  The dispatcher asks for slots for the messages it is about to hand to worker threads; a slot is
  granted only within a second of real time and before this sender's deadline, so the schedule
  never runs ahead of the clock and no slot is reserved that will not be used. Messages refused a
  slot wait in this process's queue and are offered again as the schedule frees up. A 429 pauses
  the bot for ``retry_after`` for everyone. Each lane records when it may next receive a message
  (1/s per user, 20/min per group or channel), set from the real send time.
* **Finish** (:mod:`.recorder`) — ``UPDATE ... WHERE id = ? AND claimed_by = me``, batched; HTTP
  happens outside transactions. Every message ends ``sent``, ``failed`` (with the error),
  ``cancelled`` or ``dry_run``. Only Telegram's answers count as attempts: a database error before
  the call hands the message back untouched.
* **Deadline** — claimed messages without a slot are handed back at once (due now, for any other
  sender); only sends already scheduled before the deadline go out after it.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from promostack_cli.core.clock import epoch
from promostack_cli.core.errors import BotNotConfiguredError, PromoStackError
from promostack_cli.core.secrets import redact
from promostack_cli.db import Database
from promostack_cli.outbox.claims import LEASE_SECONDS, Claimed, claim
from promostack_cli.outbox.models import BotRateLimit, OutboxStatus
from promostack_cli.outbox.pacing import Grant, Pacer
from promostack_cli.outbox.recorder import Outcome, Recorder
from promostack_cli.outbox.report import DeliveryReport, SenderConfig  # noqa: F401 (imported from here)
from promostack_cli.outbox.results import prepare
from promostack_cli.outbox.loop import DeliveryLoop
from promostack_cli.telegram import errors as tg
from promostack_cli.telegram.chats import api_chat_id
from promostack_cli.telegram.client import BotApi

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 0.1
LATE_TOLERANCE_SECONDS = 0.025
MAX_LATE_WAKEUPS = 20
LEASE_MARGIN_SECONDS = 5.0
PAUSE_REFRESH_SECONDS = 0.25
DB_RETRY_SECONDS = 2.0         # after a database error, wait this long before claiming again


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def backoff_seconds(attempt: int) -> float:
    """2, 4, 8 ... capped at 5 minutes, with ±20 % jitter so retries of many messages spread out."""
    base = min(2.0 ** attempt, 300.0)
    return base * random.uniform(0.8, 1.2)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return redact(text.splitlines()[0] if text else type(exc).__name__)[:200]


class Sender:
    """Delivers due outbox rows until none is due or the deadline passes.

    ``clock`` (epoch seconds) and ``sleep`` are injectable; the recorder and the pacer use the same
    clock.
    """

    def __init__(self, db: Database, box, config: SenderConfig, *, worker: str | None = None,
                 printer: Callable[[Claimed], None] | None = None, api: BotApi | None = None,
                 clock: Callable[[], float] = epoch, sleep: Callable[[float], None] = time.sleep):
        self.db = db
        self.box = box
        self.config = config
        self.worker = worker or worker_identity()
        self.printer = printer
        self.clock = clock
        self.sleep = sleep
        self._owns_api = api is None
        self._api = api or BotApi(config.api_url, timeout=config.timeout, max_connections=max(config.workers * 2, 20))
        self.pacer = Pacer(db, 1.0 / config.rate_per_bot)
        self._creds: dict[tuple[int, str], object] = {}
        self._creds_lock = threading.Lock()
        self._pause_lock = threading.Lock()
        self._local_pause: dict[int, float] = {}
        self._shared_pause: dict[int, tuple[float, float]] = {}
        self._pause_reading: set[int] = set()
        self._print_lock = threading.Lock()
        self.report = DeliveryReport()
        self._report_lock = threading.Lock()
        self._recorder = Recorder(db, clock=clock)

    def close(self) -> None:
        self._recorder.close()
        if self._owns_api:
            self._api.close()

    def flush(self) -> None:
        """Wait until every outcome submitted so far is committed."""
        self._recorder.flush()

    # -- main loop ----------------------------------------------------------------------------
    def run(self, deadline: float, *, tenant_id: int | None = None) -> DeliveryReport:
        with self._creds_lock:  # each tick reads connections afresh (a token may have been replaced)
            self._creds.clear()
        if self.config.dry_run:
            return self._run_dry(deadline, tenant_id)
        loop = DeliveryLoop(self, deadline, tenant_id)
        with ThreadPoolExecutor(max_workers=self.config.workers, thread_name_prefix="send") as pool:
            loop.run(pool)
        self.flush()
        return self.report

    def _run_dry(self, deadline: float, tenant_id: int | None) -> DeliveryReport:
        """Dry run: no sends and no pacing, so one thread prints messages in queue order."""
        while self.clock() < deadline:
            batch = claim(self.db, self.worker, 200, tenant_id=tenant_id, lease_seconds=self.config.lease_seconds,
                          clock=self.clock)
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

    def _note_error(self, error: str) -> None:
        with self._report_lock:
            if error not in self.report.errors:
                self.report.errors.append(error)

    def _db_error(self, where: str, exc: BaseException) -> None:
        log.warning("database error while %s: %s", where, _first_line(exc))
        self._count(db_errors=1)
        self._note_error(f"database error while {where}: {_first_line(exc)}")

    def send_by(self, msg: Claimed, deadline: float) -> float:
        """The last moment this sender may start the HTTP call: it must end before the lease does,
        or another sender could take the message and both would send it."""
        margin = min(LEASE_MARGIN_SECONDS, self.config.lease_seconds / 4)
        return min(deadline, msg.lease_until - self.config.timeout - margin)

    def reserve(self, msg: Claimed, bot_id: int, want: int, until: float) -> Grant:
        now = self.clock()
        try:
            return self.pacer.reserve(bot_id, msg.tenant_id, want, now=now, until=until)
        except SQLAlchemyError as exc:
            self._db_error("reserving send slots", exc)
            return Grant([], now + DB_RETRY_SECONDS)

    def _deliver_safely(self, msg: Claimed, deadline: float, slot: float | None = None) -> None:
        try:
            self._deliver(msg, deadline, slot)
        except SQLAlchemyError as exc:
            # The database, not Telegram: every database access in _deliver happens before the Bot
            # API call, so nothing was sent. Hand the message back; it is not an attempt.
            self._db_error(f"preparing message {msg.id}", exc)
            self._release(msg, delay=DB_RETRY_SECONDS)
            self._count(released=1)
        except Exception as exc:  # never lose a message to a bug: count an attempt, hand it back or fail it
            error = f"internal error: {redact(str(exc))[:200]}"
            log.exception("delivering outbox message %s failed unexpectedly", msg.id)
            if msg.attempts + 1 >= self.config.max_attempts:
                self._finish(msg, OutboxStatus.failed, error=f"gave up after {msg.attempts + 1} attempts: {error}")
                self._count(failed=1)
            else:
                self._release(msg, delay=backoff_seconds(msg.attempts + 1), error=error, attempted=True)
                self._count(retrying=1)
            self._note_error(f"message {msg.id}: {error}")

    # -- one message --------------------------------------------------------------------------
    def credentials(self, msg: Claimed):
        key = msg.lane_key
        with self._creds_lock:
            if key not in self._creds:
                from promostack_cli.connections.credentials import BotCredentialResolver

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
            creds = self.credentials(msg)
        except BotNotConfiguredError as exc:
            self._finish(msg, OutboxStatus.failed, error=str(exc))
            self._count(failed=1)
            return
        except PromoStackError as exc:  # e.g. the secret key cannot decrypt the token: an operator problem
            self._release(msg, delay=60.0, error=str(exc))
            self._note_error(str(exc))
            self._count(released=1)
            return

        prepared = prepare(self.db, msg.tenant_id, msg.payload, self.clock())
        if prepared.error:
            self._finish(msg, OutboxStatus.failed, error=prepared.error)
            self._count(failed=1)
            return
        if prepared.wait_until is not None:  # the call whose result it uses is not sent yet: keep the place
            self._release(msg, not_before=prepared.wait_until)
            self._count(released=1)
            return
        slot = self._wait_for_slot(msg, creds.bot_id, self.send_by(msg, deadline), slot)
        if slot is None:
            self._release(msg, delay=0.0)
            self._count(released=1)
            return
        paused = self._paused_until(creds.bot_id)
        if paused > self.clock():  # a 429 arrived after this slot was reserved: wait it out, don't send into it
            self._release(msg, not_before=paused)
            self._count(released=1)
            return

        client = self._api.client(creds.token)
        params = prepared.params
        params["chat_id"] = api_chat_id(msg.chat_id)
        try:
            result = client.call(msg.method, **params)
        except tg.RetryAfter as exc:
            until = self.clock() + max(exc.retry_after, 1.0)
            with self._pause_lock:
                self._local_pause[creds.bot_id] = max(self._local_pause.get(creds.bot_id, 0.0), until)
            try:
                self.pacer.pause(creds.bot_id, until)
            except SQLAlchemyError as db_exc:  # this process still honours it; others will get their own 429
                self._db_error("recording a 429 pause", db_exc)
            self._release(msg, not_before=until, rate_limited=True, error=str(exc))
            self._count(rate_limited=1)
            return
        except tg.TelegramError as exc:
            if isinstance(exc, tg.Unauthorized):
                with self._creds_lock:  # the token may have been replaced since it was cached
                    self._creds.pop(msg.lane_key, None)
            self._fail_or_retry(msg, exc)
            return
        sent_at = self.clock()
        log.debug("sent outbox message %s to %s via %s", msg.id, msg.chat_id, msg.bot_role)
        message_id = result.get("message_id") if isinstance(result, dict) else None
        # a call's result is kept (a later message may use it: outbox/results.py); a message's is not
        self._finish(msg, OutboxStatus.sent, message_id=message_id, sent_at=sent_at,
                     result=None if msg.method == "sendMessage" else result)
        self._count(sent=1)

    def _wait_for_slot(self, msg: Claimed, bot_id: int, send_by: float, reserved: float | None) -> float | None:
        """Sleep until a send slot of the bot; None if none can be had before ``send_by``.

        A sender that wakes up late (CPU contention) gives its slot up and takes a new one: a late
        send would bunch with the on-time sends after it and break the per-second limit.
        """
        late = 0
        while True:
            if reserved is None:
                if self.clock() >= send_by:
                    return None
                grant = self.reserve(msg, bot_id, 1, send_by)
                if not grant.slots:
                    if grant.retry_at >= send_by:
                        return None
                    self.sleep(min(max(grant.retry_at - self.clock(), 0.001), IDLE_POLL_SECONDS))
                    continue
                reserved = grant.slots[0]
            delay = reserved - self.clock()
            if delay > 0:
                self.sleep(delay)
            if self.clock() - reserved <= LATE_TOLERANCE_SECONDS or late >= MAX_LATE_WAKEUPS:
                return reserved  # after many late wake-ups, send anyway: 429 handling is the backstop
            late += 1
            self._count(late_slots=1)
            reserved = None

    def _paused_until(self, bot_id: int) -> float:
        """The bot's 429 pause: this process's own at once, other processes' read at most every
        0.25 s, by one thread at a time (the others use the value read last)."""
        now = self.clock()
        with self._pause_lock:
            local = self._local_pause.get(bot_id, 0.0)
            cached, read_at = self._shared_pause.get(bot_id, (0.0, -1e18))
            refresh = now - read_at >= PAUSE_REFRESH_SECONDS and bot_id not in self._pause_reading
            if refresh:
                self._pause_reading.add(bot_id)
        if refresh:
            try:
                with self.db.session() as session:
                    cached = session.execute(
                        select(BotRateLimit.paused_until).where(BotRateLimit.bot_id == bot_id)).scalar() or 0.0
                with self._pause_lock:
                    self._shared_pause[bot_id] = (cached, now)
            finally:
                with self._pause_lock:
                    self._pause_reading.discard(bot_id)
        return max(local, cached)

    def _fail_or_retry(self, msg: Claimed, exc: tg.TelegramError) -> None:
        error = redact(str(exc))
        log.info("outbox message %s to %s: %s", msg.id, msg.chat_id, error)
        if exc.transient:
            attempts = msg.attempts + 1
            if attempts < self.config.max_attempts:
                self._release(msg, delay=backoff_seconds(attempts), error=error, attempted=True)
                self._count(retrying=1)
                return
            error = f"gave up after {attempts} attempts: {error}"
        elif isinstance(exc, tg.Unauthorized):
            error = f"the {msg.bot_role} token was rejected (401); run connections set {msg.bot_role}, then outbox retry --failed"
        self._finish(msg, OutboxStatus.failed, error=error, code=exc.error_code, blocked=isinstance(exc, tg.BotBlocked))
        self._count(failed=1)

    # -- bookkeeping: outcomes go to the recorder, which writes them in batches -----------------
    def _finish(self, msg: Claimed, status: OutboxStatus, *, message_id: int | None = None, sent_at: float | None = None,
                error: str | None = None, code: int | None = None, blocked: bool = False, result=None) -> None:
        interval = self.config.interval_private if msg.chat_kind == "private" else self.config.interval_group
        self._recorder.submit(Outcome(
            msg=msg, worker=self.worker, status=status, message_id=message_id, sent_at=sent_at, error=error,
            code=code, blocked=blocked, next_send_at=(sent_at + interval) if sent_at else None, result=result,
        ))

    def _release(self, msg: Claimed, *, not_before: float | None = None, delay: float | None = None,
                 error: str | None = None, rate_limited: bool = False, attempted: bool = False) -> None:
        when = not_before if not_before is not None else self.clock() + (delay or 0.0)
        self._recorder.submit(Outcome(
            msg=msg, worker=self.worker, status=OutboxStatus.pending, error=error, not_before=when,
            rate_limited=rate_limited, attempted=attempted,
        ))

    def hand_back(self, msgs, *, not_before: float | None = None) -> None:
        """Return claimed messages that were never tried (deadline, a long pause): due again for anyone."""
        for msg in msgs:
            self._release(msg, not_before=not_before)
            self._count(released=1)
