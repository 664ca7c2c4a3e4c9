"""The tick runner: steps in order, one deadline per tick, each step called only when its due check
finds work, a transient database error skips one step."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from jobs.runner import run
from jobs.steps import TickContext

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Clock:
    def __init__(self):
        self.t = T0

    def __call__(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)

    def spend(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


def recording_step(name, log, clock, *, cost=1.0, fail_on=(), error=None):
    class S:
        def __init__(self):
            self.name, self.calls = name, 0

        def __call__(self, now, deadline):
            self.calls += 1
            log.append((name, now, deadline))
            clock.spend(cost)
            if self.calls in fail_on:
                raise error
            return {f"{name}_done": 1}

        def describe(self, counts):
            return f"{counts.get(f'{name}_done', 0)} done"

        def close(self):
            log.append((name, "closed"))

    return S()


def test_loop_runs_every_step_each_tick_with_the_ticks_deadline():
    clock, log = Clock(), []
    ctx = TickContext(db=None, box=None, settings=None, clock=clock)
    report = run(ctx, [(recording_step("a", log, clock), None), (recording_step("b", log, clock, cost=2.0), None)],
                 budget=65, loop=30, sleep=clock.sleep)
    calls = [entry for entry in log if entry[1] != "closed"]
    # ticks at 0, 30, 60 s; each tick's deadline is the next boundary, the last one the budget's end
    assert calls == [("a", at(0), at(30)), ("b", at(1), at(30)),
                     ("a", at(30), at(60)), ("b", at(31), at(60)),
                     ("a", at(60), at(65)), ("b", at(61), at(65))]
    assert report.ticks == 3
    assert report.as_dict()["a_done"] == 3 and report.as_dict()["steps"]["b"]["seconds"] == 6.0
    assert report.lines == [("a", "3 done"), ("b", "3 done")]
    assert log[-2:] == [("a", "closed"), ("b", "closed")]


def test_a_step_runs_only_when_its_due_check_finds_work_asked_after_the_steps_before_it():
    clock, log, asked = Clock(), [], []
    queued = []

    class Producer:
        name = "produce"

        def __call__(self, now, deadline):
            queued.append(now)  # queues work the next step's check must see in this same tick
            return {"produced": 1}

        def describe(self, counts):
            return "produced"

        def close(self):
            pass

    def deliver_due(now, deadline):
        asked.append((now, deadline))
        return bool(queued)

    ctx = TickContext(db=None, box=None, settings=None, clock=clock)
    report = run(ctx, [(Producer(), lambda now, deadline: len(queued) < 1),
                       (recording_step("deliver", log, clock), deliver_due)], budget=65, loop=30, sleep=clock.sleep)
    assert report.as_dict()["produced"] == 1, "the producer's check said no after its first tick"
    assert [name for name, *_ in log if _ != ["closed"]].count("deliver") == 3
    assert asked[0] == (at(0), at(30)), "asked at the step's own time with the tick's deadline"


def test_an_idle_tick_calls_no_step_and_prints_the_same_lines():
    clock, log = Clock(), []
    ctx = TickContext(db=None, box=None, settings=None, clock=clock)
    report = run(ctx, [(recording_step("a", log, clock), lambda now, deadline: False)], budget=5)
    assert [e for e in log if e[1] != "closed"] == [] and report.lines == [("a", "0 done")]


def test_a_transient_database_error_skips_that_step_for_one_tick_and_is_reported():
    clock, log = Clock(), []
    lost = OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
    ctx = TickContext(db=None, box=None, settings=None, clock=clock)
    report = run(ctx, [(recording_step("timers", log, clock, fail_on=(1,), error=lost), None),
                       (recording_step("send", log, clock), None)], budget=60, loop=30, sleep=clock.sleep)
    d = report.as_dict()
    assert d["timers_done"] == 1 and d["send_done"] == 2, "the failed call counted nothing; the next step still ran"
    assert d["db_errors"] == 1
    assert report.errors == ["database error in timers: server closed the connection unexpectedly"]


def test_a_due_check_that_loses_the_database_is_reported_like_its_step():
    clock, log = Clock(), []

    def lost(now, deadline):
        raise OperationalError("SELECT 1", {}, Exception("could not connect to server"))

    ctx = TickContext(db=None, box=None, settings=None, clock=clock)
    report = run(ctx, [(recording_step("timers", log, clock), lost)], budget=5)
    assert report.errors == ["database error in timers: could not connect to server"] and log == [("timers", "closed")]


def test_a_bug_in_a_step_is_not_swallowed_and_every_step_is_closed():
    clock, log = Clock(), []
    ctx = TickContext(db=None, box=None, settings=None, clock=clock)
    with pytest.raises(ZeroDivisionError):
        run(ctx, [(recording_step("a", log, clock, fail_on=(1,), error=ZeroDivisionError()), None),
                  (recording_step("b", log, clock), None)], budget=10)
    assert ("a", "closed") in log and ("b", "closed") in log


def test_a_tick_with_several_errors_lists_every_one_on_its_own_stamped_line():
    from jobs.runner import TickReport, failure, summary
    from jobs.steps import StepTotals

    report = TickReport(steps=[StepTotals("delivery", errors=["acme signal_bot: token cannot be decrypted"]),
                               StepTotals("timers", errors=[f"message {n}: Bad Request" for n in (1, 2, 3, 4)])],
                        lines=[("delivery", "0 sent"), ("timers", "0 due")])
    lines = summary(report, "2026-12-01T08:00:00Z")
    errors = [line for line in lines if " tick error: " in line]
    assert len(errors) == 5 and all(line.startswith("2026-12-01T08:00:00Z ") for line in lines)
    assert "message 4: Bad Request" in errors[-1]  # nothing cut to "(+N more)"
    assert failure(report) == "5 errors in this tick (each on a 'tick error' line above)."
    one = TickReport(steps=[StepTotals("delivery", errors=["database error while claiming: gone"])], lines=[("delivery", "x")])
    assert failure(one) == "database error while claiming: gone"
    assert not [line for line in summary(one, "t") if "tick error" in line]  # the Error line carries it
    assert failure(TickReport()) is None


def test_stamped_lines_start_with_an_iso_utc_time_each():
    import re

    from promostack_cli import logsetup

    assert logsetup.stamped("plain") == "plain"
    logsetup.stamp_lines()
    try:
        lines = logsetup.stamped("Error: one\nsecond").split("\n")
    finally:
        logsetup.stamp_lines(False)
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line) for line in lines), lines
    assert lines[0].endswith(" Error: one") and lines[1].endswith(" second")


def test_parse_utc_reads_iso_times_as_the_cli_documents():
    from datetime import UTC, datetime

    from promostack_cli.core.clock import parse_utc

    assert parse_utc("2026-12-02T08:00+01:00") == datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
    assert parse_utc("2026-12-02T08:00Z") == parse_utc("2026-12-02T08:00z") == parse_utc("2026-12-02T08:00")
    assert parse_utc("2026-12-02") == datetime(2026, 12, 2, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_utc("next monday")
