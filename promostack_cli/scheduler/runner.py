"""Run the tick steps once, or every ``--loop`` interval until ``--for`` ends."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from promostack_cli.core.clock import epoch
from promostack_cli.scheduler.steps import Step, StepFactory, StepTotals, TickContext, run_step


@dataclass
class TickReport:
    ticks: int = 0
    seconds: float = 0.0
    steps: list[StepTotals] = field(default_factory=list)
    lines: list[tuple[str, str]] = field(default_factory=list)  # (step name, summary line)

    @property
    def errors(self) -> list[str]:
        return [e for s in self.steps for e in s.errors]

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


def run(context: TickContext, factories: list[StepFactory], *, budget: float, loop: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        nothing_due: Callable[[float, float], bool] | None = None) -> TickReport:
    """One tick, or with ``loop`` a tick every ``loop`` seconds, all within ``budget`` seconds.

    Within a tick the steps run in order with one deadline: the tick's end (the next loop boundary,
    or the end of the budget), so a tick's delivery drains until the next tick is due.

    ``nothing_due(now, deadline)``: a cheap check, asked before each tick until one has work; a
    tick it answers True for calls no step (their counts stay empty, their lines read the same).
    From the first tick with work on, every tick calls every step, as without it."""
    clock = context.clock or epoch
    started = clock()
    end = started + budget
    steps: list[Step] = []
    report = TickReport()
    try:
        for factory in factories:
            steps.append(factory(context))
        report.steps = [StepTotals(s.name) for s in steps]
        while True:
            tick_started = clock()
            tick_deadline = min(end, tick_started + loop) if loop else end
            if nothing_due is not None and nothing_due(tick_started, tick_deadline):
                pass  # an idle tick: no step has anything to do
            else:
                nothing_due = None
                for step, totals in zip(steps, report.steps):
                    run_step(step, totals, clock(), tick_deadline, clock)
            report.ticks += 1
            if loop is None:
                break
            next_start = tick_started + loop
            if next_start >= end:
                break
            sleep(max(0.0, next_start - clock()))
    finally:
        for step in steps:
            step.close()
    report.seconds = clock() - started
    report.lines = [(s.name, step.describe(s.counts)) for step, s in zip(steps, report.steps)]
    return report


def summary(report: TickReport, stamp: str) -> list[str]:
    """The lines a tick prints on stderr, one per step, each with the ISO time ``stamp``; then, when
    more than one thing failed, one line per error (the ``Error:`` line says how many)."""
    lines = [f"{stamp} tick {name}: {line} in {totals.seconds:.1f}s"
             for totals, (name, line) in zip(report.steps, report.lines)]
    if len(report.errors) > 1:
        lines += [f"{stamp} tick error: {error}" for error in report.errors]
    return lines


def failure(report: TickReport) -> str | None:
    """The message of the tick's ``Error:`` line: its one error, or how many (listed by :func:`summary`)."""
    if not report.errors:
        return None
    if len(report.errors) == 1:
        return report.errors[0]
    return f"{len(report.errors)} errors in this tick (each on a 'tick error' line above)."
