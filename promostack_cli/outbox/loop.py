"""One ``Sender.run``: claim due messages, ask the pacer for send slots, hand the messages that got
one to the worker threads; hand back what cannot be sent before the deadline.

The loop runs in one thread. Messages refused a slot stay queued here (their bot's schedule is full
for the next second) and are offered again when it can grant more; messages that cannot get a slot
before this run's deadline, or before their lease ends, go back to the outbox at once so any other
sender may take them.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Callable, Protocol

from sqlalchemy.exc import SQLAlchemyError

from promostack_cli.core.errors import PromoStackError
from promostack_cli.outbox.claims import Claimed, claim, next_due_head

if TYPE_CHECKING:
    from promostack_cli.outbox.pacing import Grant


class SenderPort(Protocol):
    """What the loop needs of a sender (``outbox.sender.Sender``), so this module does not import it."""

    config: Any
    db: Any
    worker: str
    clock: Callable[[], float]
    sleep: Callable[[float], None]

    def flush(self) -> None: ...
    def hand_back(self, msgs) -> None: ...
    def reserve(self, msg: Claimed, bot_id: int, want: int, until: float) -> "Grant": ...
    def send_by(self, msg: Claimed, deadline: float) -> float: ...
    def credentials(self, msg: Claimed): ...
    def _deliver_safely(self, msg: Claimed, deadline: float, slot: float | None = None) -> None: ...
    def _db_error(self, where: str, exc: BaseException) -> None: ...

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 0.1
HAND_BACK_IF_WAITING = 5.0     # a bot paused longer than this: hand its queued messages back meanwhile
DB_RETRY_SECONDS = 2.0         # after a database error, wait this long before claiming again


class DeliveryLoop:
    """One ``Sender.run``: claim, ask the pacer for slots, hand messages with a slot to the workers."""

    def __init__(self, sender: SenderPort, deadline: float, tenant_id: int | None):
        self.s = sender
        self.deadline = deadline
        self.tenant_id = tenant_id
        cfg = sender.config
        self.workers = cfg.workers
        self.per_bot_inflight = max(2, cfg.workers // 2)
        self.per_bot_claim = max(4, math.ceil(cfg.rate_per_bot))  # ~1 s of a bot's sending
        self.queues: dict[tuple[int, str], deque[Claimed]] = defaultdict(deque)
        self.retry_at: dict[tuple[int, str], float] = {}      # when the bot's schedule can grant again
        self.inflight: dict[Future, Claimed] = {}
        self.inflight_per_bot: Counter = Counter()
        self.claim_after = 0.0                                 # after a database error
        self.exhausted: set[tuple[int, str]] = set()           # bots with no slot left before the deadline

    def run(self, pool: ThreadPoolExecutor) -> None:
        s = self.s
        while True:
            now = s.clock()
            claimed = self._claim(now) if now < self.deadline else 0
            if now >= self.deadline:
                for q in self.queues.values():  # no slot before the deadline: let any other sender have them
                    s.hand_back(q)
                self.queues.clear()
            else:
                self._dispatch(pool, now)
            if self.inflight:
                done, _ = wait(list(self.inflight), timeout=self._poll(now), return_when=FIRST_COMPLETED)
                for fut in done:
                    msg = self.inflight.pop(fut)
                    self.inflight_per_bot[msg.lane_key] -= 1
                continue
            if self.queues:  # every queued bot is waiting for its schedule
                s.sleep(self._poll(now))
                continue
            if now >= self.deadline:
                return
            if claimed == 0 and not self._drain_wait():
                return

    def _poll(self, now: float) -> float:
        waits = [at - now for key, at in self.retry_at.items() if key in self.queues]
        soonest = min(waits, default=IDLE_POLL_SECONDS)
        return min(max(soonest, 0.005), IDLE_POLL_SECONDS)

    def _claim(self, now: float) -> int:
        queued = sum(len(q) for q in self.queues.values())
        if now < self.claim_after or queued + len(self.inflight) >= self.workers:
            return 0
        try:
            batch = claim(self.s.db, self.s.worker, self.workers * 2 - queued - len(self.inflight),
                          tenant_id=self.tenant_id, per_bot=self.per_bot_claim,
                          lease_seconds=self.s.config.lease_seconds, now=now, clock=self.s.clock,
                          skip=self.exhausted)
        except SQLAlchemyError as exc:
            self.s._db_error("claiming messages", exc)
            self.claim_after = now + DB_RETRY_SECONDS
            return 0
        for msg in batch:
            self.queues[msg.lane_key].append(msg)
        if batch:
            log.debug("claimed %d (queued %d, in flight %d)", len(batch), queued + len(batch), len(self.inflight))
        return len(batch)

    def _dispatch(self, pool: ThreadPoolExecutor, now: float) -> None:
        """Round-robin over bots, each capped so one busy bot cannot starve the others."""
        for key in list(self.queues):
            q = self.queues[key]
            room = min(self.per_bot_inflight - self.inflight_per_bot[key], self.workers - len(self.inflight), len(q))
            if room > 0 and self.retry_at.get(key, 0.0) <= now:
                self._offer(pool, key, q, room, now)
            if not q:
                self.queues.pop(key, None)
                self.retry_at.pop(key, None)

    def _offer(self, pool: ThreadPoolExecutor, key, q: deque, room: int, now: float) -> None:
        msgs = [q.popleft() for _ in range(room)]
        needing = [m for m in msgs if not m.blocked]
        for m in msgs:
            if m.blocked:
                self._submit(pool, m, None)  # fails at once, no slot needed
        if not needing:
            return
        try:
            creds = self.s.credentials(needing[0])
        except SQLAlchemyError as exc:  # could not read the connection: try these again shortly
            self.s._db_error("reading a bot connection", exc)
            self.s.hand_back(needing, not_before=now + DB_RETRY_SECONDS)
            return
        except PromoStackError:
            for m in needing:  # the worker records the problem
                self._submit(pool, m, None)
            return
        send_by = {m.id: self.s.send_by(m, self.deadline) for m in needing}
        expired = [m for m in needing if send_by[m.id] <= now]
        needing = [m for m in needing if send_by[m.id] > now]
        self.s.hand_back(expired)  # their lease is nearly over: claimed afresh, by us or anyone
        if not needing:
            return
        until = min(send_by[m.id] for m in needing)
        grant = self.s.reserve(needing[0], creds.bot_id, len(needing), until)
        for m, slot in zip(needing, grant.slots):
            self._submit(pool, m, slot)
        left = needing[len(grant.slots):]
        log.debug("bot %s: %d of %d slots granted, next try %+.3f s", creds.bot_id, len(grant.slots), len(needing),
                  grant.retry_at - now)
        if not left:
            self.retry_at.pop(key, None)
            return
        if grant.exhausted:  # no slot before our deadline (or these leases end): let anyone have them now
            self.s.hand_back(left + list(q))
            q.clear()
            if until >= self.deadline:  # not just old leases: this bot is done for this run
                self.exhausted.add(key)
            self.retry_at.pop(key, None)
            return
        self.retry_at[key] = grant.retry_at
        if grant.retry_at - now > HAND_BACK_IF_WAITING:  # a long 429 pause: let the queue go meanwhile
            self.s.hand_back(left + list(q), not_before=grant.retry_at)
            q.clear()
            return
        q.extendleft(reversed(left))

    def _submit(self, pool: ThreadPoolExecutor, msg: Claimed, slot: float | None) -> None:
        fut = pool.submit(self.s._deliver_safely, msg, self.deadline, slot)
        self.inflight[fut] = msg
        self.inflight_per_bot[msg.lane_key] += 1

    def _drain_wait(self) -> bool:
        """Nothing claimable now: wait for work that comes due before the deadline (paced chats, a
        bot's 429 pause, retry backoffs). False when the next due message lies beyond it."""
        s = self.s
        s.flush()  # our own finished sends must be visible before judging what is due
        try:
            due = next_due_head(s.db, tenant_id=self.tenant_id, skip=self.exhausted, clock=s.clock)
        except SQLAlchemyError as exc:
            s._db_error("looking for due messages", exc)
            s.sleep(min(DB_RETRY_SECONDS, max(self.deadline - s.clock(), 0.0)))
            return s.clock() < self.deadline
        if due is None or due >= self.deadline:
            log.debug("nothing due before the deadline (next: %s)", None if due is None else f"{due - s.clock():+.1f} s")
            return False
        s.sleep(min(max(due - s.clock(), IDLE_POLL_SECONDS), 1.0))
        return True
