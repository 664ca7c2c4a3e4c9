"""Tick steps: each domain's due work as ``step(now, deadline) -> counts``, run in order by a tick.

A step is made once per ``scheduler tick`` process from the :class:`TickContext` (so it can keep a
connection pool or an HTTP client across ``--loop`` ticks), called once per tick with the tick's
start time and deadline, and closed at the end. The domains provide the factories; the entry
point (``jobs/scheduler_tick.py``) lists them, so this module imports no domain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

log = logging.getLogger(__name__)


@dataclass
class TickContext:
    """What every step may use. Only the edge (CLI) builds one; steps never read the environment."""

    db: Any                                  # promostack_cli.db.Database
    box: Any                                 # SecretBox, or None on a dry run
    settings: Any
    dry_run: bool = False
    tenant_id: int | None = None
    printer: Callable[[Any], None] | None = None
    clock: Callable[[], float] | None = None  # epoch seconds; the default is the wall clock


class Step(Protocol):
    name: str

    def __call__(self, now: float, deadline: float) -> dict[str, int]:
        """Do the due work; returns counts (summed over the ticks of one process)."""

    def describe(self, counts: dict[str, int]) -> str:
        """One human line for the summed counts."""

    def close(self) -> None: ...


StepFactory = Callable[[TickContext], Step]


@dataclass
class StepTotals:
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, counts: dict[str, Any]) -> None:
        for key, value in counts.items():
            if key == "errors":
                self.errors.extend(e for e in value if e not in self.errors)
            else:
                self.counts[key] = self.counts.get(key, 0) + value


def run_step(step: Step, totals: StepTotals, now: float, deadline: float, clock: Callable[[], float]) -> None:
    """One call of one step. A transient database error skips the step for this tick (the next tick
    does the work; nothing was claimed that is not handed back); any other error is a bug and rises."""
    from promostack_cli.db import is_transient

    started = clock()
    try:
        totals.add(step(now, deadline))
    except Exception as exc:  # noqa: BLE001
        if not is_transient(exc):
            raise
        line = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        log.warning("%s: database error: %s", step.name, line)
        totals.add({"db_errors": 1, "errors": [f"database error in {step.name}: {line}"]})
    finally:
        totals.seconds += clock() - started
