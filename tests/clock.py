"""A clock for in-process tests of paced work: the product's injectable ``clock``/``sleep`` pair
(``outbox.sender.Sender``, the claims, the recorder and the pacer through it) and the fake Bot
API's ``clock``, shared, so waits that only pass time are skipped instead of slept.

``SimClock()`` reads epoch seconds that run with real time plus an offset. ``sleep(s)`` blocks
until the clock reaches ``now + s``; when every thread that uses the clock has been quiet for a
moment (no clock read, no sleep starting or ending, no SQL statement running) and someone is
sleeping, the clock jumps to the earliest sleeper's wake-up time. So:

* nothing happens earlier than it would in real time, and order is kept: sleepers wake one
  wake-up time at a time, in order, each exactly at its time;
* work that takes real time (SQL, HTTP to the fake, Python) takes that time on this clock too; a
  jump only makes a quiet thread's wait look longer, as a loaded machine would;
* a busy loop that never sleeps sees plain real time.

``skipped`` is the total of the jumps: the real time the test did not spend waiting.
"""

from __future__ import annotations

import threading
import time

QUIET_SECONDS = 0.004


class SimClock:
    def __init__(self, *, quiet: float = QUIET_SECONDS):
        self._offset = 0.0
        self._quiet = quiet
        self._cond = threading.Condition()
        self._sleepers: list[float] = []
        self._busy = 0                      # SQL statements running
        self._activity = time.monotonic()
        self._stopped = False
        self.skipped = 0.0
        self._listening = _watch_sql(self)
        self._thread = threading.Thread(target=self._advance, name="sim-clock", daemon=True)
        self._thread.start()

    def __call__(self) -> float:
        self._activity = time.monotonic()
        return time.time() + self._offset

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._cond:
            target = time.time() + self._offset + seconds
            self._sleepers.append(target)
            self._activity = time.monotonic()
            self._cond.notify_all()
            try:
                while (left := target - (time.time() + self._offset)) > 0 and not self._stopped:
                    self._cond.wait(left)  # real time bounds the wait; a jump ends it sooner
            finally:
                self._sleepers.remove(target)
                self._activity = time.monotonic()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        _unwatch_sql(self)

    # -- the jumps --------------------------------------------------------------------------------
    def _advance(self) -> None:
        with self._cond:
            while not self._stopped:
                if not self._sleepers:
                    self._cond.wait(0.05)
                    continue
                idle = time.monotonic() - self._activity
                if idle < self._quiet or self._busy > 0:
                    self._cond.wait(max(self._quiet - idle, 0.001))
                    continue
                earliest = min(self._sleepers)
                ahead = earliest - (time.time() + self._offset)
                if ahead > 0:
                    self._offset += ahead
                    self.skipped += ahead
                    self._cond.notify_all()
                self._activity = time.monotonic()  # let the woken thread run before the next jump

    def _sql(self, delta: int) -> None:
        with self._cond:
            self._busy = max(self._busy + delta, 0)
            self._activity = time.monotonic()


# SQL statements in flight count as activity: the clock must not jump while a thread waits for the
# database (the wait is real work, not a sleep).
_clocks: set[SimClock] = set()
_lock = threading.Lock()


def _before(*args, **kwargs):
    for c in list(_clocks):
        c._sql(+1)


def _after(*args, **kwargs):
    for c in list(_clocks):
        c._sql(-1)


def _error(context):
    _after()


def _watch_sql(clock: SimClock) -> bool:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    with _lock:
        if not _clocks:
            event.listen(Engine, "before_cursor_execute", _before)
            event.listen(Engine, "after_cursor_execute", _after)
            event.listen(Engine, "handle_error", _error)
        _clocks.add(clock)
    return True


def _unwatch_sql(clock: SimClock) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    with _lock:
        _clocks.discard(clock)
        if not _clocks:
            event.remove(Engine, "before_cursor_execute", _before)
            event.remove(Engine, "after_cursor_execute", _after)
            event.remove(Engine, "handle_error", _error)
