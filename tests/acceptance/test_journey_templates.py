"""Hostile journey templates measured in a process of their own (time and peak memory, under an
address-space limit so an unbounded render cannot take the machine's memory), and bounded through
``promostack journeys simulate`` too."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import resource

import pytest

from tests.acceptance.conftest import Cli, base_env
from tests.unit.test_journey_templates import HOSTILE, journey


_MEASURE = textwrap.dedent("""
    import json, resource, sys, time
    from promostack_cli.journeys.engine import JourneyRunner
    from promostack_cli.journeys.spec.model import JourneySpec
    text, name = sys.argv[1], sys.argv[2]
    spec = JourneySpec.from_dict({"journey": "t", "name": "T", "triggers": [{"deep_link": "t"}],
                                  "steps": [{"id": "a", "type": "message", "text": text}]})
    JourneyRunner(spec).start({"first_name": "Sam"}, 0.0)  # warm up: imports, compilation
    # a safety net for the machine: an unbounded render dies here instead of taking the host's memory
    vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), resource.RLIM_INFINITY))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.thread_time()  # CPU seconds of the render (this thread): what a busy machine does not change
    messages = JourneyRunner(spec).start({"first_name": name}, 0.0).messages
    elapsed = time.thread_time() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    print(json.dumps({"seconds": elapsed, "peak_mb": peak / 1024,
                      "messages": [[m.text, getattr(m, "error", None)] for m in messages]}))
""")


def cpu_of_children() -> float:
    """CPU seconds (user + system) used so far by this process' finished children: unlike the time on the
    clock, what a command costs does not grow when other jobs share the machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(text: str, first_name: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _MEASURE, text, first_name], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_template_renders_in_bounded_memory_and_time(name):
    # the branch not taken: the user gets "Hello" at once
    result = measure(HOSTILE[name], "Sam")
    assert result["messages"] == [["Hello", None]]
    assert result["peak_mb"] < 100 and result["seconds"] < 1, result
    # the branch taken: that message fails with a reason, still within the same bounds
    result = measure(HOSTILE[name], "never-zz")
    assert result["peak_mb"] < 100 and result["seconds"] < 1, result
    [[text, error]] = result["messages"]
    assert text == "" and error.startswith("text of step 'a' not sent: template "), error


def test_simulate_is_bounded_too_and_shows_the_failed_message(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(journey(HOSTILE["replace"]))
    cli = Cli(base_env(tmp_path), tmp_path)
    before = cpu_of_children()
    r = cli("journeys", "simulate", str(path), "--var", "first_name=never-zz", input="", timeout=300)
    assert r.code == 0, r.stderr
    assert cpu_of_children() - before < 15  # CPU seconds of the whole command (start-up included); was minutes and gigabytes
    assert "bot ✗ text of step 'a' not sent: template builds a text or list longer than 100000" in r.stdout
    assert "bot › Next?" in r.stdout
    r = cli("journeys", "simulate", str(path), "--var", "first_name=Sam", input="")
    assert "bot › Hello" in r.stdout.splitlines()
