"""Migrations through the CLI: an explicit database must be upgraded first, the embedded default
migrates itself, an unreachable database is one line and exit 1."""

from promostack_cli.db import HEAD_REVISION
from tests.acceptance.conftest import Cli, base_env


def test_explicit_database_must_be_upgraded_first(tmp_path):
    env = base_env(tmp_path)
    env["PROMOSTACK_DATABASE_URL"] = f"sqlite:///{tmp_path / 'fresh.db'}"
    cli = Cli(env, tmp_path)
    r = cli("tenants", "list")  # no such file: not created by a command that reads
    assert r.code == 2 and "does not exist" in r.stderr and "promostack db upgrade" in r.stderr
    (tmp_path / "fresh.db").touch()  # an empty database
    r = cli("tenants", "list")
    assert r.code == 1
    assert "Run: promostack db upgrade" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert cli("db", "upgrade").code == 0
    r = cli("db", "current", "--json")
    assert r.json()["current"] == HEAD_REVISION and r.json()["up_to_date"] is True
    assert cli("tenants", "list").code == 0


def test_embedded_default_migrates_itself(tmp_path):
    env = base_env(tmp_path)
    del env["PROMOSTACK_SECRET_KEY"]
    cli = Cli(env, tmp_path)
    r = cli("tenants", "add", "entrylab")
    assert r.code == 0, r.stderr
    assert "migrated from empty" in r.stderr
    assert (tmp_path / "data" / "promostack.db").exists()
    assert cli("tenants", "list", "--json").json()[0]["slug"] == "entrylab"


def test_unreachable_database_is_one_line_exit_1(tmp_path):
    env = base_env(tmp_path)
    env["PROMOSTACK_DATABASE_URL"] = "postgresql+psycopg://nobody:hunter2secret@127.0.0.1:1/none"
    r = Cli(env, tmp_path)("tenants", "list")
    assert r.code == 1
    assert "Cannot open the database" in r.stderr and "hunter2secret" not in r.stderr
    assert "Traceback" not in r.stderr
