"""Shared fixtures: databases (SQLite file and a fresh PostgreSQL schema per test), the fake Bot API,
and a runner for the installed ``promostack`` entry point.

PostgreSQL tests use the server at 127.0.0.1:5432 (PROMOSTACK_TEST_PG_URL overrides). When it
cannot be reached they fail under CI=true and are skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.telegram import FakeTelegram

PG_BASE = os.environ.get("PROMOSTACK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_KEY = "test-secret-key-0123456789-abcdefghijklmnop"
BIN = Path(sys.executable).parent
PROMOSTACK = shutil.which("promostack", path=str(BIN)) or str(BIN / "promostack")

SIGNAL_TOKEN = "7000000001:AAFsignalsignalsignalsignalsignal001"
MESSAGE_TOKEN = "7000000002:AAFmessagemessagemessagemessage0002"


_pg_state: dict = {}


def _pg_reachable() -> str | None:
    if "error" not in _pg_state:
        try:
            import psycopg

            with psycopg.connect(PG_BASE.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
                _pg_state["error"] = None
        except Exception as exc:  # noqa: BLE001
            _pg_state["error"] = str(exc).splitlines()[0]
    return _pg_state["error"]


def require_pg() -> None:
    error = _pg_reachable()
    if error:
        message = f"PostgreSQL at {PG_BASE} unreachable: {error}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)


@pytest.fixture
def pg_url():
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    require_pg()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    raw = PG_BASE.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_BASE else "?"
    yield f"{PG_BASE}{sep}options=-csearch_path%3D{schema}"
    from promostack_cli.db import dispose_engines

    dispose_engines()
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'promostack.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'promostack.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def db(db_url):
    """A migrated Database."""
    from promostack_cli.db import Database
    from promostack_cli.system.migrate import upgrade

    database = Database(db_url)
    upgrade(database)
    yield database
    database.engine.dispose()


@pytest.fixture
def box():
    from promostack_cli.core.secrets import SecretBox

    return SecretBox(TEST_KEY)


@pytest.fixture
def tenant_id(db):
    from promostack_cli.tenants.service import add_tenant

    with db.transaction() as session:
        return add_tenant(session, "entrylab", "EntryLab").id


@pytest.fixture
def fake_tg():
    fake = FakeTelegram(allow_http_webhooks=True).start()
    fake.add_bot(SIGNAL_TOKEN, "entrylab_signals_bot")
    fake.add_bot(MESSAGE_TOKEN, "entrylab_helper_bot")
    yield fake
    fake.stop()


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


class Cli:
    """Runs the installed ``promostack`` console script with a controlled environment."""

    def __init__(self, env: dict[str, str], cwd: Path):
        self.env = env
        self.cwd = cwd

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None, timeout: float = 120) -> Result:
        full_env = {**self.env, **(env or {})}
        proc = subprocess.run([PROMOSTACK, *args], capture_output=True, text=True, env=full_env, cwd=self.cwd,
                              input=input, timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def popen(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen([PROMOSTACK, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**self.env, **(env or {})}, cwd=self.cwd)


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMOSTACK_")}
    env.update({"PROMOSTACK_DATA_DIR": str(tmp_path / "data"), "NO_COLOR": "1", "COLUMNS": "200",
                "PROMOSTACK_SECRET_KEY": TEST_KEY})
    return env


@pytest.fixture
def cli(tmp_path, db_url, fake_tg):
    """The CLI against a migrated ``db_url`` (SQLite and PostgreSQL) and the fake Bot API."""
    env = base_env(tmp_path)
    env.update({"PROMOSTACK_DATABASE_URL": db_url, "PROMOSTACK_TELEGRAM_API_URL": fake_tg.base_url})
    runner = Cli(env, tmp_path)
    r = runner("db", "upgrade")
    assert r.code == 0, r.stderr
    return runner
