"""The receiver's background threads, one of each per process.

* :class:`Processor` processes stored updates right after they are committed: woken with the bots
  that got new rows, it runs :func:`~promostack_cli.webhooks.service.process_batch` for each until
  nothing is left. When another process holds a bot's batch lock it tries again shortly (that batch
  may have been read before our rows committed); a database error is retried with backoff. While
  requests keep arriving it pauses after each batch four times as long as the batch took, and at
  least until ``BUSY_GATHER`` has passed since the batch began (storing and answering come first,
  and the next batch gathers enough updates to be processed with a few statements for all of
  them), ending the pause as soon as requests stop; never once the updates it takes have waited
  ``MAX_LAG`` seconds: a sustained load gets full-speed processing and a bounded delay for users,
  a burst is processed while it arrives, in batches. What a crashed
  process leaves, ``scheduler tick`` processes; the processor also looks for such updates when it
  starts and every ``SWEEP`` seconds.
* :class:`Deliverer` sends what processing queued (the first message of a journey reaches the Bot
  API well within a second); ``scheduler tick`` is the safety net.
"""

from __future__ import annotations

import logging
import threading
import time

from promostack_cli.core.clock import epoch, utcnow
from promostack_cli.telegram.updates import BotRef

log = logging.getLogger(__name__)

DELIVERY_WINDOW = 5.0
LOCKED_RETRY = 0.1        # seconds before trying a bot another process is processing
BUSY_SHARE = 0.2          # while requests arrive, processing takes at most this share of the time...
BUSY_GATHER = 0.25        # ...and lets the next batch gather this long (few statements per update)
SWEEP = 30.0              # seconds between looks for updates another (crashed) process left
MAX_LAG = 5.0             # ...unless the oldest update it takes has waited this long: then full speed
ERROR_RETRY = (0.05, 2.0)  # first and longest wait after a database error


class Deliverer:
    """One background sender per process, woken after commits that queued messages."""

    def __init__(self, db, box, settings):
        from promostack_cli.outbox.sender import Sender, SenderConfig

        self._sender = Sender(db, box, SenderConfig.from_settings(settings))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webhook-deliverer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def kick(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=DELIVERY_WINDOW + 5)
        self._sender.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._sender.run(epoch() + DELIVERY_WINDOW)
            except Exception:  # noqa: BLE001 - the tick delivers whatever is left
                log.exception("immediate delivery failed; scheduler tick will deliver")


class Processor:
    def __init__(self, db, dispatcher, on_enqueued=None, busy=None):
        self._db, self._dispatcher = db, dispatcher
        self._busy = busy or (lambda: False)
        self._on_enqueued = on_enqueued or (lambda: None)
        self._pending: set[BotRef] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webhook-processor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def kick(self, bots) -> None:
        with self._lock:
            self._pending.update(bots)
        self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def _left_behind(self) -> set[BotRef]:
        from promostack_cli.webhooks.inbox import pending_bots

        try:
            with self._db.session() as session:
                return set(pending_bots(session))
        except Exception as exc:  # noqa: BLE001 - the next sweep (or the tick) tries again
            log.warning("cannot look for unprocessed updates: %s", str(exc).strip().splitlines()[0][:200]
                        if str(exc) else type(exc).__name__)
            return set()

    def _loop(self) -> None:
        delay, next_sweep = 0.0, 0.0
        while not self._stop.is_set():
            self._wake.wait(timeout=min(delay or SWEEP, max(0.0, next_sweep - time.monotonic())))
            self._wake.clear()
            with self._lock:
                bots, self._pending = self._pending, set()
            if time.monotonic() >= next_sweep:
                bots |= self._left_behind()
                next_sweep = time.monotonic() + SWEEP
            retry, failed = set(), False
            for bot in bots:
                if self._stop.is_set():
                    return
                try:
                    if self._drain(bot):
                        retry.add(bot)
                except Exception as exc:  # noqa: BLE001 - rows stay received: processed again
                    from promostack_cli.db import is_transient

                    retry.add(bot)
                    failed = True
                    if is_transient(exc):
                        log.warning("database error while processing updates; trying again: %s",
                                    str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200] if str(exc) else
                                    type(exc).__name__)
                    else:
                        log.exception("processing updates failed; trying again")
            if retry:
                with self._lock:
                    self._pending.update(retry)
            if failed:
                delay = min(ERROR_RETRY[1], max(ERROR_RETRY[0], delay * 2))
            else:
                delay = LOCKED_RETRY if retry else 0.0

    def _gather(self, took: float) -> None:
        """While requests keep arriving, wait before the next batch: four times as long as this one
        took, and at least until ``BUSY_GATHER`` has passed since it began, so that storing and
        answering come first and the next batch is big enough to cost a few statements per update.
        Stops waiting as soon as requests stop coming."""
        until = time.monotonic() + max(took * (1 - BUSY_SHARE) / BUSY_SHARE, BUSY_GATHER - took)
        while not self._stop.is_set() and self._busy():
            left = until - time.monotonic()
            if left <= 0:
                return
            self._stop.wait(min(left, 0.05))

    def _drain(self, bot: BotRef) -> bool:
        """Process the bot's stored updates until none is left; True if another process held it."""
        from promostack_cli.webhooks.service import process_batch

        while not self._stop.is_set():
            started = time.monotonic()
            part = process_batch(self._dispatcher, self._db, bot, utcnow)
            if part.enqueued:
                self._on_enqueued()
            if part.processed and part.lag < MAX_LAG:
                self._gather(time.monotonic() - started)
            if part.locked:
                return True
            if not part.more:
                return False
        return False
