"""Run a group's steps once, or every ``--loop`` interval until ``--for`` ends.

Within a tick the steps run in order with one deadline: the tick's end (the next loop boundary, or
the end of the budget), so a tick's delivery drains until the next tick is due. Before each step its
due check (SQLAlchemy Core, no ORM) asks whether it has work; a tick where none has calls no step,
so the idle tick cron starts every minute loads no model, no sender, no HTTP client.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from jobs.steps import StepTotals, TickContext, TickStep, run_step


@dataclass
class TickReport:
    ticks: int = 0
    seconds: float = 0.0
    steps: list[StepTotals] = field(default_factory=list)
    lines: list[tuple[str, str]] = field(default_factory=list)  # (step name, summary line)

    @property
    def errors(self) -> list[str]:
        """Every step's errors, each once (a tenant's bad setting is met by each of its steps)."""
        return list(dict.fromkeys(e for s in self.steps for e in s.errors))

    @property
    def warnings(self) -> list[str]:
        return [w for s in self.steps for w in s.warnings]

    @property
    def details(self) -> list[str]:
        """What the steps did, one line each (``forex tick`` prints these)."""
        return [line for s in self.steps for line in s.lines]

    @property
    def texts(self) -> list[str]:
        return [text for s in self.steps for text in s.texts]

    def as_dict(self) -> dict:
        """Flat counts of every step (their names do not collide) plus each step on its own."""
        flat: dict = {"ticks": self.ticks, "seconds": round(self.seconds, 3)}
        for s in self.steps:
            for key, value in s.counts.items():
                flat[key] = flat.get(key, 0) + value
        flat["errors"] = self.errors
        flat["steps"] = {s.name: {**s.counts, "seconds": round(s.seconds, 3), "errors": list(s.errors)}
                         for s in self.steps}
        return flat


Due = Callable[[datetime, datetime], bool]


Made = list[tuple[TickStep, Due | None]]


def run(context: TickContext, steps: Made | Callable[[], Made], *, budget: float, loop: float | None = None,
        sleep: Callable[[float], None] = time.sleep) -> TickReport:
    """One tick, or with ``loop`` a tick every ``loop`` seconds, all within ``budget`` seconds.

    ``steps``: (step, due) pairs, or a callable that makes them (so they are closed even when making
    one fails); ``due(now, deadline)`` is asked right before its step, after the steps before it ran
    (what they queued counts)."""
    clock = context.now
    started = clock()
    end = started + timedelta(seconds=budget)
    made: Made = []
    report = TickReport()
    try:
        made = steps() if callable(steps) else steps
        # a step's counts start at 0 (its ``keys``): an idle step still reports them (--json readers)
        report.steps = [StepTotals(step.name, counts=dict.fromkeys(getattr(step, "keys", ()), 0)) for step, _ in made]
        while True:
            tick_started = clock()
            tick_deadline = min(end, tick_started + timedelta(seconds=loop)) if loop else end
            for (step, due), totals in zip(made, report.steps):
                now = clock()
                check = (lambda d=due, at=now: d(at, tick_deadline)) if due is not None else None
                run_step(step, totals, check, now, tick_deadline, clock)
            report.ticks += 1
            if loop is None:
                break
            next_start = tick_started + timedelta(seconds=loop)
            if next_start >= end:
                break
            sleep(max(0.0, (next_start - clock()).total_seconds()))
    finally:
        for step, _ in made:
            step.close()
        getattr(made, "close", lambda: None)()  # what the steps share (make_steps: the checks' connection)
    report.seconds = (clock() - started).total_seconds()
    report.lines = [(s.name, step.describe(s.counts)) for (step, _), s in zip(made, report.steps)]
    return report


def summary(report: TickReport, stamp: str, command: str = "tick") -> list[str]:
    """The lines a tick prints on stderr, one per step, each with the ISO time ``stamp``; then, when
    more than one thing failed, one line per error (the ``Error:`` line says how many)."""
    lines = [f"{stamp} {command} {name}: {line} in {totals.seconds:.1f}s"
             for totals, (name, line) in zip(report.steps, report.lines)]
    if len(report.errors) > 1:
        lines += [f"{stamp} {command} error: {error}" for error in report.errors]
    return lines


def failure(report: TickReport, command: str = "tick") -> str | None:
    """The message of the tick's ``Error:`` line: its one error, or how many (listed by :func:`summary`)."""
    if not report.errors:
        return None
    if len(report.errors) == 1:
        return report.errors[0]
    return f"{len(report.errors)} errors in this {command} (each on a '{command} error' line above)."
