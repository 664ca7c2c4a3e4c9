"""The tick runner: steps in order, one deadline per tick, a transient database error skips one step."""

import pytest
from sqlalchemy.exc import OperationalError

from promostack_cli.scheduler.runner import run
from promostack_cli.scheduler.steps import TickContext


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def recording_step(name, log, clock, *, cost=1.0, fail_on=(), error=None):
    class S:
        def __init__(self, context):
            self.name, self.calls, self.closed = name, 0, False

        def __call__(self, now, deadline):
            self.calls += 1
            log.append((name, now, deadline))
            clock.t += cost
            if self.calls in fail_on:
                raise error
            return {f"{name}_done": 1}

        def describe(self, counts):
            return f"{counts.get(f'{name}_done', 0)} done"

        def close(self):
            log.append((name, "closed"))

    return S


def test_loop_runs_every_step_each_tick_with_the_ticks_deadline():
    clock, log = Clock(), []
    ctx = TickContext(db=None, box=None, settings=None, clock=clock)
    report = run(ctx, [recording_step("a", log, clock), recording_step("b", log, clock, cost=2.0)],
                 budget=65, loop=30, sleep=clock.sleep)
    calls = [entry for entry in log if entry[1] != "closed"]
    # ticks at 1000, 1030, 1060; each tick's deadline is the next boundary, the last one the budget's end
    assert [(n, now, dl) for n, now, dl in calls] == [
        ("a", 1000, 1030), ("b", 1001, 1030),
        ("a", 1030, 1060), ("b", 1031, 1060),
        ("a", 1060, 1065), ("b", 1061, 1065)]
    assert report.ticks == 3
    assert report.as_dict()["a_done"] == 3 and report.as_dict()["steps"]["b"]["seconds"] == 6.0
    assert report.lines == [("a", "3 done"), ("b", "3 done")]
    assert log[-2:] == [("a", "closed"), ("b", "closed")]


def test_a_transient_database_error_skips_that_step_for_one_tick_and_is_reported():
    clock, log = Clock(), []
    lost = OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
    ctx = TickContext(db=None, box=None, settings=None, clock=clock)
    report = run(ctx, [recording_step("timers", log, clock, fail_on=(1,), error=lost), recording_step("send", log, clock)],
                 budget=60, loop=30, sleep=clock.sleep)
    d = report.as_dict()
    assert d["timers_done"] == 1 and d["send_done"] == 2, "the failed call counted nothing; the next step still ran"
    assert d["db_errors"] == 1
    assert report.errors == ["database error in timers: server closed the connection unexpectedly"]


def test_a_bug_in_a_step_is_not_swallowed_and_every_step_is_closed():
    clock, log = Clock(), []
    ctx = TickContext(db=None, box=None, settings=None, clock=clock)
    with pytest.raises(ZeroDivisionError):
        run(ctx, [recording_step("a", log, clock, fail_on=(1,), error=ZeroDivisionError()),
                  recording_step("b", log, clock)], budget=10)
    assert ("a", "closed") in log and ("b", "closed") in log
