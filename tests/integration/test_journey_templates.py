"""Journey templates in real time: a render that runs out of its time leaves no thread and no CPU use behind
(it waits half a second of wall-clock time to measure that, so it is not a unit test)."""

from __future__ import annotations

import sys
import threading
import time

from tests.unit.test_journey_templates import errors_of, journey


def test_nothing_keeps_running_after_a_render_runs_out_of_time():
    threads = threading.active_count()
    started = time.thread_time()   # CPU time of this thread, where the render runs: a busy machine does not add to it
    errors = errors_of(journey("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}x"))
    assert time.thread_time() - started < 2   # stopped: unstopped, the loop would burn minutes
    assert len(errors) == 1 and errors[0].startswith("j.yaml:9: text: template takes longer than 0.5s"), errors
    assert threading.active_count() == threads
    cpu = time.process_time()
    time.sleep(0.5)
    assert time.process_time() - cpu < 0.1  # no abandoned render is still burning CPU
    assert sys.gettrace() is None  # the render's tracer is gone too
