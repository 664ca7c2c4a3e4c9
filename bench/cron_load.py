"""Load and observation threads for ``bench/cron.py``, and CPU accounting from /proc.

* :class:`StartPoster` posts ``/start`` updates to the receiver at a steady rate (distinct users and
  update ids, with the secret header), recording when each was posted.
* :class:`Sampler` reads the database once a second: how far the bot's shared send schedule runs
  ahead of real time (``bot_rate_limits``) and the outbox's status counts. A column or table that
  a later version renamed is recorded as ``None`` instead of stopping the run.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import httpx
import sqlalchemy as sa

from bench.cron_setup import BACKLOG_SOURCE, BOT_ID, START_PAYLOAD

FIRST_USER = 9_000_000


@dataclass
class Post:
    user: int
    at: float          # wall clock when the POST started
    seconds: float     # until the receiver answered
    status: int        # HTTP status (0: no answer)


class StartPoster(threading.Thread):
    def __init__(self, base_url: str, path: str, header: str, rate: float):
        super().__init__(name="start-poster", daemon=True)
        self.url, self.header, self.interval = f"{base_url}/api/bot-webhook/{path}", header, 1.0 / rate
        self.posts: list[Post] = []
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        if self.ident is not None:
            self.join(timeout=35)

    def run(self) -> None:
        start = time.monotonic()
        with httpx.Client(timeout=30) as client:
            i = 0
            while not self._halt.is_set():
                user = FIRST_USER + i
                body = {"update_id": 100_000 + i, "message": {
                    "message_id": i + 1, "date": int(time.time()), "text": f"/start {START_PAYLOAD}",
                    "chat": {"id": user, "type": "private", "first_name": f"U{user}"},
                    "from": {"id": user, "is_bot": False, "first_name": f"U{user}"}}}
                at, t = time.time(), time.monotonic()
                try:
                    status = client.post(self.url, json=body,
                                         headers={"X-Telegram-Bot-Api-Secret-Token": self.header}).status_code
                except httpx.HTTPError:
                    status = 0
                self.posts.append(Post(user, at, time.monotonic() - t, status))
                i += 1
                # a steady schedule; if the receiver was slow, the next post goes at once (no burst)
                self._halt.wait(max(0.0, start + i * self.interval - time.monotonic()))


@dataclass
class Sample:
    t: float                          # wall clock of the sample
    slot_ahead: float | None          # next_slot_at - now
    pause_ahead: float | None         # paused_until - now
    counts: dict[str, int] = field(default_factory=dict)   # outbox status -> rows
    backlog_left: int | None = None   # seeded messages not yet final

    @property
    def ahead(self) -> float | None:
        """max(next_slot_at, paused_until) - now, as the shared schedule sees it."""
        values = [v for v in (self.slot_ahead, self.pause_ahead) if v is not None]
        return max(values) if values else None


class Sampler(threading.Thread):
    def __init__(self, url: str, interval: float = 1.0):
        super().__init__(name="db-sampler", daemon=True)
        self.engine = sa.create_engine(url, pool_size=1, max_overflow=0)
        self.interval = interval
        self.samples: list[Sample] = []
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        if self.ident is not None:
            self.join(timeout=10)
        self.engine.dispose()

    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def run(self) -> None:
        start = time.monotonic()
        i = 0
        while not self._halt.is_set():
            try:
                self.samples.append(self.sample())
            except Exception:  # noqa: BLE001 - a failed sample (database busy) is skipped, not fatal
                pass
            i += 1
            self._halt.wait(max(0.0, start + i * self.interval - time.monotonic()))

    def sample(self) -> Sample:
        with self.engine.connect() as conn:
            try:
                row = conn.execute(sa.text("SELECT next_slot_at, paused_until FROM bot_rate_limits WHERE bot_id = :b"),
                                   {"b": BOT_ID}).first()
            except sa.exc.DBAPIError:
                conn.rollback()
                row = None
            now = time.time()
            counts = {str(s): n for s, n in conn.execute(sa.text(
                "SELECT status, count(*) FROM outbox_messages GROUP BY status")).all()}
            left = conn.execute(sa.text(
                "SELECT count(*) FROM outbox_messages WHERE source = :s AND status IN ('pending', 'sending')"),
                {"s": BACKLOG_SOURCE}).scalar()
        return Sample(now, row[0] - now if row else None, row[1] - now if row else None, counts, left)


# -- CPU accounting -------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()
    except OSError:
        return None


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of the live processes in process group ``pgid`` (our child and its workers)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields and int(fields[2]) == pgid:  # after ")": state ppid pgrp ... utime(11) stime(12)
                total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / _TICK, sum(values) / _TICK
