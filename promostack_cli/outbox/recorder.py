"""Records what happened to claimed outbox messages, in batches, safely from any thread.

Senders submit an :class:`Outcome` per message; one writer thread per process commits them in
batches (one transaction per ~20 ms instead of one per message). Every write is
``UPDATE ... WHERE id = ? AND claimed_by = <this claim>``: an outcome whose lease expired and was
claimed by another sender changes nothing. A database blip is retried for most of a lease before
giving up (then the lease expires and the message is sent again: delivery is at-least-once).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from promostack_cli.core import claims
from promostack_cli.core.clock import epoch, from_epoch
from promostack_cli.core.upsert import upsert
from promostack_cli.db import Database, is_transient
from promostack_cli.outbox.claims import OUTBOX, Claimed
from promostack_cli.outbox.models import ChatState, OutboxStatus

log = logging.getLogger(__name__)

RECORD_RETRY_SECONDS = 60.0
_LANE = ["tenant_id", "bot_role", "chat_id"]


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
    result: object = None      # Telegram's result of a call other than sendMessage (kept for later messages)


def write_outcomes(session, outcomes: list[Outcome], *, now: float) -> int:
    """Record outcomes with one executemany per kind of write; returns rows this sender still held."""
    from sqlalchemy import bindparam, func

    c = OUTBOX.c
    at = from_epoch(now)
    done = [x for x in outcomes if x.status != OutboxStatus.pending]
    back = [x for x in outcomes if x.status == OutboxStatus.pending]
    updated = claims.finish_many(
        session, OUTBOX,
        [{"b_id": x.msg.id, "b_claim": x.msg.claim_token, "b_status": str(x.status), "b_mid": x.message_id,
          "b_tries": 0 if x.status == OutboxStatus.dry_run else 1, "b_error": x.error, "b_code": x.code,
          "b_sent": from_epoch(x.sent_at) if x.sent_at else None, "b_result": x.result} for x in done],
        status=bindparam("b_status"), updated_at=at, attempts=c.attempts + bindparam("b_tries"),
        telegram_message_id=bindparam("b_mid"), last_error=bindparam("b_error"), error_code=bindparam("b_code"),
        sent_at=bindparam("b_sent", type_=c.sent_at.type), result=bindparam("b_result", type_=c.result.type))
    updated += claims.hand_back(
        session, OUTBOX,
        [{"b_id": x.msg.id, "b_claim": x.msg.claim_token, "b_when": from_epoch(x.not_before), "b_error": x.error,
          "b_rl": int(x.rate_limited), "b_tries": int(x.attempted)} for x in back],
        updated_at=at, not_before=bindparam("b_when", type_=c.not_before.type),
        last_error=func.coalesce(bindparam("b_error", type_=c.last_error.type), c.last_error),
        rate_limited=c.rate_limited + bindparam("b_rl"), attempts=c.attempts + bindparam("b_tries"))
    paced = {}
    for x in done:
        if x.next_send_at is not None:
            paced[(x.msg.tenant_id, x.msg.bot_role, x.msg.chat_id)] = x.next_send_at
    if paced:
        upsert(session, ChatState, [{"tenant_id": t, "bot_role": r, "chat_id": ch, "next_send_at": when}
                                    for (t, r, ch), when in paced.items()], _LANE, ["next_send_at"])
    blocked = {(x.msg.tenant_id, x.msg.bot_role, x.msg.chat_id): (x.error or "blocked")[:200] for x in done if x.blocked}
    if blocked:
        upsert(session, ChatState, [{"tenant_id": t, "bot_role": r, "chat_id": ch, "next_send_at": 0.0,
                                     "blocked_at": at, "blocked_reason": why} for (t, r, ch), why in blocked.items()],
               _LANE, ["blocked_at", "blocked_reason"])
    return updated


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


class Recorder:
    """Writes the outcomes of sends in batches: one transaction per ~20 ms instead of one per message.

    Outcomes wait here only milliseconds; if the process dies first, the messages' leases expire
    and they are sent again (delivery is at-least-once, as with any crash between send and record).
    """

    BATCH_WINDOW = 0.02
    MAX_BATCH = 500

    def __init__(self, db: Database, *, clock=epoch):
        self.db = db
        self.clock = clock
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
                    updated = write_outcomes(session, outcomes, now=self.clock())
                if 0 <= updated < len(outcomes):
                    log.warning("%d outbox result(s) not recorded: their lease had expired and another sender "
                                "claimed them", len(outcomes) - updated)
                return
            except Exception as exc:  # noqa: BLE001
                transient = is_transient(exc)
                log.warning("recording %d outbox results failed (attempt %d%s); retrying", len(outcomes), attempt,
                            f": {_first_line(exc)}" if transient else "", exc_info=attempt == 1 and not transient)
                if time.monotonic() + delay > give_up_at:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        for outcome in outcomes:
            try:
                with self.db.transaction() as session:
                    write_outcomes(session, [outcome], now=self.clock())
            except Exception:  # noqa: BLE001
                log.error("could not record the result of outbox message %s for %.0f s; its lease will expire "
                          "and it will be sent again", outcome.msg.id, RECORD_RETRY_SECONDS)
