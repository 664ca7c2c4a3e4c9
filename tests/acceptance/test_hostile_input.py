"""Hostile input through the installed CLI: a message that cannot be built is recorded as failed and the
session goes on; oversized journey files are one line and exit 2, and leave the database unchanged."""

from __future__ import annotations

import json
import time

import pytest

from tests.acceptance.conftest import Cli, base_env
from tests.conftest import MESSAGE_TOKEN
from tests.factories import telegram_message as message
from tests.integration.test_hostile_input import HOSTILE, USER
from tests.unit.test_hostile_input import HEAD, steps_file


def test_a_message_that_cannot_be_built_is_recorded_as_failed_and_the_session_goes_on(cli):
    assert cli("tenants", "add", "entrylab").code == 0
    r = cli("-t", "entrylab", "connections", "set", "message_bot", "--no-validate", "--token", MESSAGE_TOKEN)
    assert r.code == 0, r.stderr
    path = cli.cwd / "hostile.yaml"
    # validates (the sample value "x" has length 1); a five-letter answer divides by zero at run time
    path.write_text(HOSTILE.replace("Nice to meet you, {{ nick }}!", "{{ 100 // (nick|length - 5) }} points"))
    assert cli("-t", "entrylab", "journeys", "import", str(path)).code == 0
    for update_id, text in ((1, "/start hostile"), (2, "hello")):
        update = json.dumps(message(update_id, text, user_id=USER))
        r = cli("-t", "entrylab", "webhook", "inject", "--json", input=update)
        assert r.code == 0 and r.json()["status"] == "processed", r.stderr
    [session] = cli("-t", "entrylab", "journeys", "sessions", "hostile", "--json").json()
    assert (session["status"], session["step"]) == ("awaiting_reply", "next")
    r = cli("-t", "entrylab", "outbox", "list", "--status", "failed", "--json")
    [failed] = r.json()
    assert failed["error"] == "text of step 'greet' not sent: ZeroDivisionError: integer division or modulo by zero"
    assert failed["source"] == "journey:hostile/greet"
    r = cli("-t", "entrylab", "outbox", "list", "--status", "failed")
    assert r.code == 0 and "ZeroDivisionError" in r.stdout
    pending = cli("-t", "entrylab", "outbox", "list", "--status", "pending", "--json").json()
    assert [m["text"] for m in pending][::-1] == ["What should I call you?", "How long have you traded, Sam?"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("block.yaml", HEAD + "extra:\n " + "- " * 3000 + "x\n",  # block sequences, 3,000 levels
         "block.yaml:8: the YAML is nested more than 20 levels deep"),
        ("flow.yaml", HEAD + "extra: " + "[" * 50_000 + "]" * 50_000 + "\n",
         "flow.yaml:7: the YAML is nested more than 20 levels deep"),
        ("many.yaml", steps_file(501), "many.yaml:506: more than 500 steps; a journey may have at most 500"),
        ("huge.yaml", steps_file(150_000), "huge.yaml:1: the file is 6,"),
    ],
    ids=["3000 levels block style", "50000 levels flow style", "501 steps", "150000 steps"],
)
def test_oversized_journey_files_are_refused_in_one_line(tmp_path, name, content, expected):
    cli = Cli(base_env(tmp_path), tmp_path)  # validate needs no database
    (tmp_path / name).write_text(content)
    started = time.perf_counter()
    r = cli("journeys", "validate", name, timeout=60)
    assert time.perf_counter() - started < 20
    assert r.code == 2 and r.stderr.startswith(expected) and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.stderr.count("\n") == 2, r.stderr  # the problem, then the summary


@pytest.mark.parametrize("content", [HEAD + "extra: " + "[" * 50_000 + "]" * 50_000 + "\n", steps_file(501)],
                         ids=["nested", "501 steps"])
def test_a_refused_file_leaves_the_database_unchanged(cli, content):
    (cli.cwd / "bad.yaml").write_text(content)
    assert cli("tenants", "add", "entrylab").code == 0
    r = cli("-t", "entrylab", "journeys", "import", "bad.yaml", timeout=60)
    assert r.code == 2 and r.stderr.startswith("bad.yaml:") and "Nothing was imported" in r.stderr, r.stderr[-3000:]
    assert cli("-t", "entrylab", "journeys", "list", "--json").json() == []
