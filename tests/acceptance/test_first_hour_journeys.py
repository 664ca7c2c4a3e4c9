"""Issue 13, journeys and tenants, through the installed ``promostack``: what an operator meets in the
first hour — validate for scripts, sessions and steps that say what happens next, destructive commands
that ask first, global options after the command, a mistyped database path that creates nothing,
shell completion, a demo whose commands paste back, and an example journey that takes "no" for an
answer. SQLite default database unless the bullet is about something else."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.acceptance.conftest import PROMOSTACK, Cli, base_env, one_line
from tests.conftest import EXAMPLES, MESSAGE_TOKEN
from tests.factories import telegram_message

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path):
    runner = Cli({**base_env(tmp_path), "PROMOSTACK_DRY_RUN": "1"}, tmp_path)
    assert runner("tenants", "add", "acme", "--name", "Acme FX").code == 0
    return runner


@pytest.fixture
def journeys(cli):
    """acme with a message bot (offline) and the example journeys imported."""
    assert cli("-t", "acme", "connections", "set", "message_bot", "--no-validate", "--username", "acme_helper_bot",
               "--token", MESSAGE_TOKEN).code == 0
    assert cli("-t", "acme", "journeys", "import", str(EXAMPLES)).code == 0
    return cli


def test_validate_honours_the_global_json_with_file_line_column_message(tmp_path):
    cli = Cli(base_env(tmp_path), tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("journey: bad\nname: Bad\ntriggers:\n  - deep_link: welcome\nsteps:\n"
                   "  - id: a\n    type: mesage\n    text: hi\n")
    r = cli("--json", "journeys", "validate", str(bad), str(EXAMPLES))
    assert r.code == 2 and "Traceback" not in r.stderr
    assert r.json() == [{"file": str(bad), "line": 7, "column": 11,
                         "message": "unknown step type 'mesage'; expected one of message, delay, question, "
                                    "wait_for_reply (did you mean 'message'?)"}]
    assert r.stderr.strip() == "Error: 1 problem found in the journey files."
    r = cli("--json", "journeys", "validate", str(EXAMPLES))
    assert r.code == 0 and r.json() == []


def test_sessions_show_the_next_wake_up_and_show_tells_where_each_step_goes(journeys):
    cli = journeys
    r = cli("-t", "acme", "webhook", "inject", input=json.dumps(telegram_message(900, "/start welcome")))
    assert r.code == 0, r.stderr
    sessions = cli("-t", "acme", "journeys", "sessions", "welcome", "--json").json()
    wake = sessions[0]["wake_at"][:19].replace("T", " ")
    table = cli("-t", "acme", "journeys", "sessions", "welcome").stdout
    assert "next wake-up (UTC)" in table and f"{wake} (delay ends)" in table
    # the greeting used the tenant's name (tenant_name), not a name written into the example
    sent = cli("-t", "acme", "outbox", "list", "--json").json()
    assert [m["text"] for m in sent] == ["Hi Sam! Welcome to <b>Acme FX</b>."]

    shown = cli("-t", "acme", "journeys", "show", "welcome").stdout
    rows = {line.split("│")[2].strip(): [c.strip() for c in line.split("│")[1:-1]]
            for line in shown.splitlines() if line.startswith("│")}
    assert rows["pause"][2:] == ["delay", "Here is today's free analysis.", "10m", "→ experience"]
    assert rows["experience"][4:] == ["an answer (choice)",
                                      "buttons: < 1 year | 1-3 years | 3+ years; saved as experience; → offer"]
    assert rows["offer"][4] == "a reply, up to 1h"
    assert rows["offer"][5].startswith("'yes' → vip; 'no' → no-thanks; other reply → maybe-later; timeout → end (says: ")
    assert rows["no-thanks"][3].endswith("…") and len(rows["no-thanks"][3]) == 60 and rows["no-thanks"][5] == "→ end"
    full = cli("-t", "acme", "journeys", "show", "welcome", "--json").json()
    assert full["steps"][3]["branches"] == [{"match": "yes", "goto": "vip"}, {"match": "no", "goto": "no-thanks"}]


def test_journeys_delete_and_tenants_remove_need_yes_without_a_terminal(journeys):
    cli = journeys
    assert cli("tenants", "add", "other").code == 0
    assert cli("-t", "other", "journeys", "import", str(EXAMPLES)).code == 0
    line = one_line(cli("-t", "acme", "journeys", "delete", "welcome"), 2)
    assert line == ("Error: Delete journey 'welcome' of tenant 'acme' and cancel its live sessions: pass --yes to "
                    "confirm (no terminal to ask on); nothing changed.")
    assert one_line(cli("-t", "acme", "journeys", "delete", "nosuch", "--yes"), 2) == \
        "Error: No journey 'nosuch'. See: promostack journeys list"
    assert len(cli("-t", "acme", "journeys", "list", "--json").json()) == 2
    r = cli("-t", "acme", "journeys", "delete", "welcome", "--yes")
    assert r.code == 0 and "Journey 'welcome' deleted" in r.stderr
    assert [j["journey"] for j in cli("-t", "acme", "journeys", "list", "--json").json()] == ["vip-welcome"]

    line = one_line(cli("tenants", "remove", "acme"), 2)
    assert line == ("Error: Remove tenant 'acme' and all its data: pass --yes to confirm (no terminal to ask on); "
                    "nothing changed.")
    assert [t["slug"] for t in cli("tenants", "list", "--json").json()] == ["acme", "other"]
    assert one_line(cli("tenants", "remove", "nosuch", "--yes"), 2) == \
        "Error: Unknown tenant 'nosuch'. See: promostack tenants list"
    r = cli("tenants", "remove", "acme", "--yes")
    assert r.code == 0, r.stderr
    assert r.stderr.strip() == "Tenant 'acme' removed: 1 bot_connections, 1 journey_triggers, 1 journeys."
    assert [t["slug"] for t in cli("tenants", "list", "--json").json()] == ["other"]
    assert len(cli("-t", "other", "journeys", "list", "--json").json()) == 2   # the other tenant keeps its own


def test_global_options_after_the_sub_command(journeys, tmp_path):
    cli = journeys
    r = cli("journeys", "list", "--tenant", "acme", "--json")
    assert r.code == 0 and [j["journey"] for j in r.json()] == ["vip-welcome", "welcome"]
    r = cli("journeys", "--tenant", "acme", "list")            # after the group, before its command
    assert r.code == 0 and "welcome" in r.stdout
    r = cli("tenants", "list", "--json", "--db", f"sqlite:///{tmp_path / 'data' / 'promostack.db'}")
    assert r.code == 0 and [t["slug"] for t in r.json()] == ["acme"]
    # a value is a value, and after -- everything is an argument
    r = cli("outbox", "send", "message_bot", "--chat", "5550001", "--text", "--tenant", "-t", "acme", "--dry-run")
    assert r.code == 0 and r.stderr.strip().endswith("→ 5550001:\n--tenant"), r.stderr
    assert one_line(cli("journeys", "show", "-t", "acme", "--", "--tenant"), 2) == \
        "Error: No journey '--tenant'. See: promostack journeys list"


def test_a_mistyped_sqlite_path_creates_nothing(tmp_path):
    cli = Cli(base_env(tmp_path), tmp_path)
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    for args in (("--db", f"sqlite:///{missing}", "tenants", "list"),
                 ("tenants", "list", "--db", f"sqlite:///{missing}"),
                 ("--db", f"sqlite:///{missing}", "tenants", "add", "acme"),
                 ("--db", f"sqlite:///{missing}", "scheduler", "tick", "--for", "1s"),  # cron's fast path
                 ("--db", f"sqlite:///{missing}", "db", "current")):
        line = one_line(cli(*args), 2)
        if "tick" in args:  # a cron log line: after its time stamp
            line = line.split(" ", 1)[1]
        assert line == (f"Error: The database file {missing} does not exist; check the path (--db or "
                        "PROMOSTACK_DATABASE_URL), or create it with: promostack db upgrade")
    assert not (tmp_path / "nonexistent").exists()
    # the embedded default is still created on first use (the demo relies on it)
    assert cli("tenants", "list").code == 0 and (tmp_path / "data" / "promostack.db").exists()


def test_shell_completion(tmp_path):
    cli = Cli(base_env(tmp_path), tmp_path)
    r = cli("--show-completion", "bash", env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert r.code == 0, r.stderr
    assert "_promostack_completion()" in r.stdout and "_PROMOSTACK_COMPLETE=complete_bash" in r.stdout
    assert "complete -o default -F _promostack_completion promostack" in r.stdout
    # the script's call back: the shell asks for the words that complete "promostack jour"
    r = cli(env={"_PROMOSTACK_COMPLETE": "complete_bash", "COMP_WORDS": "promostack journeys sess", "COMP_CWORD": "2"})
    assert r.code == 0 and r.stdout.split() == ["sessions"], (r.stdout, r.stderr)
    assert "--install-completion" in cli("--help").stdout


def test_the_welcome_example_takes_no_for_an_answer(tmp_path):
    cli = Cli(base_env(tmp_path), tmp_path)
    welcome = str(EXAMPLES / "welcome.yaml")
    for replies, expected in (("#2\nno thanks\n", "No problem, Alex."), ("#2\nmaybe\nnot now\n", "No problem, Alex."),
                              ("#2\nyes please\n", "Here is your VIP trial")):
        r = cli("journeys", "simulate", welcome, "--var", "tenant_name=Acme FX", input=replies)
        assert r.code == 0, r.stderr
        assert "Welcome to <b>Acme FX</b>" in r.stdout and expected in r.stdout and "session completed" in r.stdout
        assert ("VIP trial" in r.stdout) == replies.endswith("yes please\n"), (replies, r.stdout)


def _bash(script: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_the_demo_prints_commands_that_paste_back_and_ends_with_next_steps(tmp_path):
    """The demo's own helpers (examples/demo-lib.sh), on a throwaway data directory: each printed
    line runs as printed, and the next steps are exact commands."""
    env = {**base_env(tmp_path), "PROMOSTACK": PROMOSTACK, "PROMOSTACK_DRY_RUN": "1",
           "DEMO_DIR": str(tmp_path / "demo dir")}
    env["PROMOSTACK_DATA_DIR"] = env["DEMO_DIR"]
    lib = ROOT / "examples" / "demo-lib.sh"
    r = _bash(f'set -e\nsource "{lib}"\nstep tenants add demo --name "Demo Gold Signals"\n'
              '"$PROMOSTACK" --tenant demo connections set message_bot --no-validate --username demo_helper_bot '
              '--token 123456:demo-token-not-real-aaaaaaaaaaaaaaaaaaaa >/dev/null 2>&1\n'  # outbox send needs the bot
              "step \"${T[@]}\" outbox send message_bot --chat 5550001 --text $'Hi <b>Sam</b>\\nit\\'s 4541.51'\n"
              "next_steps\n", env, tmp_path)
    assert r.returncode == 0, r.stderr
    printed = [line[2:].replace("\x1b[1m", "").replace("\x1b[0m", "")
               for line in r.stderr.replace("\x1b[1m", "").splitlines() if line.startswith("$ ")]
    assert printed == ["promostack tenants add demo --name 'Demo Gold Signals'",
                       "promostack --tenant demo outbox send message_bot --chat 5550001 --text $'Hi <b>Sam</b>\\nit\\'s 4541.51'"]
    # pasted back (PATH holds the installed promostack), the send queues the same text again
    env["PATH"] = f"{Path(PROMOSTACK).parent}{os.pathsep}{env['PATH']}"
    pasted = _bash(printed[1].replace("--dry-run", "") + "\n", env, tmp_path)
    assert pasted.returncode == 0, pasted.stderr
    listed = Cli(env, tmp_path)("--tenant", "demo", "outbox", "list", "--json").json()
    assert [m["text"] for m in listed] == ["Hi <b>Sam</b>\nit's 4541.51"] * 2
    steps = r.stderr[r.stderr.index("Next steps:"):]
    data = f"'{env['DEMO_DIR']}'"
    for command in (f"PROMOSTACK_DATA_DIR={data} promostack --tenant demo journeys sessions welcome",
                    "promostack tenants add mybrand --name 'My Brand'",
                    "promostack --tenant mybrand connections set message_bot --token '<token from @BotFather>'",
                    f"(crontab -l 2>/dev/null; cat {ROOT / 'crontab.example'}) | crontab -"):
        assert command in steps, steps
    assert [line.strip()[:2] for line in steps.splitlines() if line.strip()[:2] in ("1.", "2.", "3.")] == ["1.", "2.", "3."]
