"""What a step is and what it may use: ``step(now, deadline) -> counts``, run in order by a tick.

A step is made once per tick process from the :class:`TickContext` (so it can keep a connection pool
or an HTTP client across ``--loop`` ticks), called once per tick that its due check finds work for,
with the tick's time and deadline (aware UTC datetimes), and closed at the end. Step modules are
import-light (their heavy imports happen inside ``__call__``): the idle tick makes every step (for
its summary line) and calls none.

Counts are summed over the ticks of a process. Four keys are lists, not numbers: ``errors`` (one line
each; the command fails), ``warnings`` (one line each; it does not), ``lines`` (what the step did, one
line each: ``forex tick`` prints them) and ``texts`` (what a dry run would post).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Protocol

log = logging.getLogger(__name__)

LISTS = ("errors", "warnings", "lines", "texts")


class TickContext:
    """What every step may use. Only the edge (a command, a test) builds one; steps never read the
    environment, the settings or the clock on their own.

    ``box``: the SecretBox, or a function that makes it (made on first use: an idle tick decrypts
    nothing and reads no key), or None on a dry run (steps that must read encrypted settings make
    one from ``settings``)."""

    def __init__(self, *, db: Any, settings: Any, box: Any = None, dry_run: bool = False,
                 tenant_id: int | None = None, printer: Callable[[Any], None] | None = None,
                 clock: Callable[[], datetime] | None = None, options: dict | None = None):
        self.db, self.settings, self.dry_run, self.tenant_id = db, settings, dry_run, tenant_id
        self.printer = printer      # dry runs: how a due message is shown
        self.clock = clock          # aware UTC; default: the wall clock
        self.options = options or {}  # command-specific inputs (e.g. forex's candle source)
        self._box = box

    @property
    def box(self):
        if callable(self._box):
            self._box = self._box()
        return self._box

    def now(self) -> datetime:
        if self.clock is not None:
            return self.clock()
        from promostack_cli.core.clock import utcnow

        return utcnow()


class TickStep(Protocol):
    name: str
    keys: tuple[str, ...]     # the counts it reports (0 on a tick it was not called)

    def __call__(self, now: datetime, deadline: datetime) -> dict[str, Any]:
        """Do the due work; returns counts (summed over the ticks of one process)."""

    def describe(self, counts: dict[str, Any]) -> str:
        """One human line for the summed counts."""

    def close(self) -> None: ...


@dataclass
class StepTotals:
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    seconds: float = 0.0
    calls: int = 0

    def add(self, counts: dict[str, Any]) -> None:
        for key, value in counts.items():
            if key == "errors":
                self.errors.extend(e for e in value if e not in self.errors)
            elif key in LISTS:
                getattr(self, key).extend(value)
            else:
                self.counts[key] = self.counts.get(key, 0) + value


def run_step(step: TickStep, totals: StepTotals, due: Callable[[], bool] | None, now: datetime, deadline: datetime,
             clock: Callable[[], datetime]) -> None:
    """One call of one step, if its due check finds work. A transient database error skips the step
    for this tick (the next tick does the work; nothing was claimed that is not handed back); any
    other error is a bug and rises."""
    from promostack_cli.db import first_line, is_transient

    started = clock()
    try:
        if due is not None and not due():
            return
        totals.calls += 1
        totals.add(step(now, deadline))
    except Exception as exc:  # noqa: BLE001
        if not is_transient(exc):
            raise
        line = first_line(exc)
        log.warning("%s: database error: %s", step.name, line)
        totals.add({"db_errors": 1, "errors": [f"database error in {step.name}: {line}"]})
    finally:
        totals.seconds += (clock() - started).total_seconds()
