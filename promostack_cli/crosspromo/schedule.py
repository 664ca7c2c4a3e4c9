"""When the daily posts are due: local wall-clock times in the tenant's IANA zone, as UTC instants.

Computed with :mod:`zoneinfo`, not a timezone-aware cron (Celery beat and APScheduler both have open
daylight-saving bugs). Rules:

* a local time that does not exist (the spring-forward gap) runs at the first instant after the gap;
* a local time that happens twice (fall back) runs once, at its first occurrence;
* each (tenant, kind, local date) is one job, keyed ``<kind>:<local date>``, so overlapping runs on
  any number of machines enqueue it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAILY_KINDS = ("morning_news", "teaser")


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the wall clock in ``zone`` first shows ``at`` on ``day``
    (or, inside a gap, the first instant after the gap)."""
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
        return first.astimezone(UTC)   # exists; fold=0 is its first occurrence when it happens twice
    # in a gap: fold=0 and fold=1 put it either side of the transition; the first instant whose
    # wall time is at or past ``at`` is the transition itself (found to the second)
    lo, hi = sorted((int(first.timestamp()), int(wall.replace(tzinfo=zone, fold=1).timestamp())))
    while lo < hi:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid + 1
    return datetime.fromtimestamp(lo, UTC)


@dataclass(frozen=True)
class Slot:
    kind: str
    local_date: date
    run_at: datetime          # UTC
    local_time: datetime      # run_at in the tenant's zone

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.local_date.isoformat()}"


def slots(settings, start: datetime, end: datetime) -> list[Slot]:
    """The daily posts whose instant falls in [start, end), in time order."""
    zone = settings.zone
    days = settings.weekdays
    out = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        if day.weekday() in days:
            for kind in DAILY_KINDS:
                at = local_instant(day, settings.local_time(kind), zone)
                if start <= at < end:
                    out.append(Slot(kind, day, at, at.astimezone(zone)))
        day += timedelta(days=1)
    return sorted(out, key=lambda s: (s.run_at, s.kind))


def switched_on(settings, now: datetime) -> datetime | None:
    """Posts due before this instant are not "missed": cross promo was switched on after them.

    A replay (``--now``) of a time before the switch-on looks back over the late window only:
    what would have been posted then, not two days of missed posts before it."""
    raw = settings.stored.get("enabled_at")
    if not raw:
        return None
    at = datetime.fromisoformat(raw)
    return now - timedelta(seconds=settings.late_window_seconds) if at > now else at


def due_slots(settings, now: datetime) -> list[Slot]:
    """Daily posts due by ``now`` that a run may still have to enqueue: those of the last two local
    days (a machine down overnight finds yesterday's, which then end cancelled as late)."""
    return slots(settings, now - timedelta(days=2), now + timedelta(microseconds=1))
