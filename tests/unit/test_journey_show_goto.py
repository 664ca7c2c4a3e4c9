"""``journeys show`` rows, ``goto`` on messages and ``goto: end``, ``tenant_name``, and the package data
pyproject declares (issue 13)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from promostack_cli.journeys.engine import COMPLETED, JourneyRunner
from promostack_cli.journeys.show import shorten, step_rows
from promostack_cli.journeys.spec.parser import parse_text

ROOT = Path(__file__).resolve().parents[2]

FLOW = """
journey: flow
name: Flow
triggers: [{deep_link: flow}]
steps:
  - {id: ask, type: wait_for_reply, text: "Yes or no?", timeout: 1h, on_timeout: {goto: bye},
     branches: [{match: "yes", goto: yes-path}, {match: "stop", goto: end}]}
  - {id: other, type: message, text: "Hmm.", goto: bye}
  - {id: yes-path, type: message, text: "Great, {{ tenant_name }}!"}
  - {id: bye, type: message, text: "Bye."}
"""


def _spec(text: str):
    spec, errors = parse_text(text, "j.yaml")
    assert errors == [], [str(e) for e in errors]
    return spec


def _texts(transition) -> list[str]:
    return [m.text for m in transition.messages]


def test_a_message_goto_skips_ahead_and_goto_end_finishes():
    runner = JourneyRunner(_spec(FLOW))
    state = runner.start({"tenant_name": "Acme"}, 0).state
    other = runner.on_reply(state, "maybe", 1)
    assert _texts(other) == ["Hmm.", "Bye."] and other.state.status == COMPLETED
    assert _texts(runner.on_reply(state, "yes", 1)) == ["Great, Acme!", "Bye."]
    stopped = runner.on_reply(state, "please stop", 1)
    assert _texts(stopped) == [] and stopped.state.status == COMPLETED


def test_a_message_goto_may_not_jump_back_and_must_name_a_step_or_end():
    text = FLOW.replace("goto: bye}", "goto: ask}").replace("goto: end}", "goto: ned}")
    _, errors = parse_text(text, "j.yaml")
    messages = [e.message for e in errors]
    assert any("goto 'ned' is not a step id" in m for m in messages), messages
    assert ("message step 'other' has goto 'ask', which is not after it; a message can only jump forward or to end "
            "(a loop needs a question or wait_for_reply)") in messages


def test_show_rows_say_what_each_step_waits_for_and_where_it_goes():
    rows = step_rows(_spec(FLOW).steps)
    assert rows[0][4:] == ("a reply, up to 1h", "'yes' → yes-path; 'stop' → end; other reply → other; timeout → bye")
    assert rows[1][3:] == ("Hmm.", "", "→ bye")
    assert rows[2][5] == "→ bye" and rows[3][5] == "→ end"
    assert shorten("a  b\nc") == "a b c" and shorten("x" * 80, 10) == "x" * 9 + "…"


def test_every_data_directory_is_package_data():
    """setuptools warns (40 lines at every install) about a directory of data files that is importable
    but not a listed package; every such directory here is one, with its files declared."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages, data = set(tool["packages"]), tool["package-data"]
    for directory in sorted({p.parent for p in (ROOT / "promostack_cli").rglob("*")
                             if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}):
        name = ".".join(directory.relative_to(ROOT).parts)
        assert name in packages, name
        files = [f for f in directory.iterdir() if f.is_file() and f.suffix != ".py"]
        assert all(any(f.match(pattern) for pattern in data.get(name, ())) for f in files), (name, data.get(name))
