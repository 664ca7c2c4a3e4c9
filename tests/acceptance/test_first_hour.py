"""What a new operator types in the first hour, through the installed ``promostack``: a mistyped
database URL or revision, a bad choice, an unknown key — one line naming what is wrong, the right
exit code, no traceback, nothing changed."""

from __future__ import annotations

import pytest

from tests.acceptance.conftest import Cli, base_env, one_line


@pytest.fixture
def cli(tmp_path):
    runner = Cli(base_env(tmp_path), tmp_path)
    assert runner("tenants", "add", "entrylab").code == 0
    return runner


def test_a_database_url_promostack_cannot_open_is_one_line_with_the_urls_it_accepts(cli):
    for url, words in (("notaurl", "is not a URL"), ("mysql://root@127.0.0.1/test", "mysql databases are not supported"),
                       ("postgresql+psycopg2://u:secret@h/d", "psycopg2 is not installed")):
        line = one_line(cli("--db", url, "tenants", "list"), 2)
        assert words in line and "secret" not in line
        if "not a URL" in line or "not supported" in line:
            assert "sqlite:///" in line and "postgresql://" in line


@pytest.mark.postgres
def test_postgres_scheme_is_postgresql(tmp_path, pg_url):
    url = pg_url.replace("postgresql+psycopg://", "postgres://", 1)
    runner = Cli({**base_env(tmp_path), "PROMOSTACK_DATABASE_URL": url}, tmp_path)
    assert runner("db", "upgrade").code == 0
    assert runner("tenants", "add", "entrylab").code == 0
    assert runner("tenants", "list", "--json").json()[0]["slug"] == "entrylab"


def test_an_unknown_revision_is_one_line_and_db_current_exits_1_while_behind(cli):
    line = one_line(cli("db", "upgrade", "nosuchrev"), 2)
    assert line == ("Error: Cannot upgrade to 'nosuchrev': Can't locate revision identified by 'nosuchrev'. "
                    "See: promostack db current")
    assert cli("db", "current").code == 0
    assert cli("db", "downgrade", "-1", "--yes").code == 0
    behind = cli("db", "current", "--json")
    assert behind.code == 1 and behind.json()["up_to_date"] is False
    assert cli("db", "upgrade").code == 0 and cli("db", "current").code == 0


def test_a_bad_choice_or_an_unknown_key_exits_2_and_changes_nothing(cli, tmp_path):
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples" / "journeys"
    assert cli("-t", "entrylab", "journeys", "import", str(examples)).code == 0
    r = cli("-t", "entrylab", "journeys", "sessions", "welcome", "--status", "bogus")
    assert r.code == 2 and "'bogus' is not one of 'active', 'waiting_delay', 'awaiting_reply'" in r.stderr
    assert cli("-t", "entrylab", "forex", "config", "set", "expiry_hours", "6").code == 0
    line = one_line(cli("-t", "entrylab", "forex", "config", "unset", "expiry_hours", "nosuchkey"), 2)
    assert line == "Error: Unknown forex config key 'nosuchkey'. See: promostack forex config show"
    shown = cli("-t", "entrylab", "forex", "config", "show", "--json").json()
    assert shown["expiry_hours"] == 6.0   # the valid part of the refused change was not applied
    # a negative number is a value, not an option
    r = cli("-t", "entrylab", "forex", "config", "set", "expiry_hours", "-3")
    assert r.code == 2 and "No such option" not in r.stderr and "expiry_hours" in r.stderr


STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "


def test_every_line_a_tick_writes_to_the_cron_log_starts_with_an_iso_utc_time(tmp_path):
    import re

    runner = Cli(base_env(tmp_path), tmp_path)  # a fresh embedded database: the tick migrates it first
    first = runner("scheduler", "tick", "--for", "1s")
    unknown = runner("--tenant", "nosuch", "scheduler", "tick", "--for", "1s")
    assert first.code == 0 and "migrated" in first.stderr and unknown.code == 2
    for r in (first, unknown, runner("scheduler", "tick", "--for", "1s")):
        lines = r.stderr.strip().splitlines()
        assert lines and all(re.match(STAMP, line) for line in lines), r.stderr
    assert re.match(STAMP + "Error: .*nosuch", unknown.stderr)
