"""Fixtures shared by the tiers: databases (SQLite file and a fresh PostgreSQL schema per test), the
secret box, a tenant and the fake Bot API. Tier-specific ones live in each tier's conftest
(``tests/unit``: guards that keep it pure; ``tests/integration``: the in-process webhook receiver;
``tests/acceptance``: the runner for the installed ``promostack`` entry point). Rows are built
with ``tests/factories.py``.

PostgreSQL tests use the server at 127.0.0.1:5432 (PROMOSTACK_TEST_PG_URL overrides). When it
cannot be reached they fail under CI=true and are skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

import pytest

from tests.fakes.telegram import FakeTelegram

PG_BASE = os.environ.get("PROMOSTACK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_KEY = "test-secret-key-0123456789-abcdefghijklmnop"
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "journeys"

SIGNAL_TOKEN = "7000000001:AAFsignalsignalsignalsignalsignal001"
MESSAGE_TOKEN = "7000000002:AAFmessagemessagemessagemessage0002"


TIERS = ("unit", "integration", "acceptance")


def pytest_sessionstart(session):
    """testpaths lists the tiers: a test file left directly in tests/ (or in fakes/) would never run."""
    tests_dir = Path(__file__).resolve().parent
    stray = sorted(str(p.relative_to(tests_dir.parent)) for d in (tests_dir, tests_dir / "fakes")
                   for p in d.glob("test_*.py"))
    if stray:
        raise pytest.UsageError(f"{', '.join(stray)}: move into tests/unit, tests/integration or tests/acceptance "
                                "(see README, Tests)")


def pytest_collection_modifyitems(config, items):
    """Mark each test with its tier (the directory it lives in): ``pytest -m "not acceptance"``."""
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        try:
            tier = item.path.resolve().relative_to(tests_dir).parts[0]
        except ValueError:
            continue
        if tier in TIERS:
            item.add_marker(tier)


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
def dispatcher(box):
    """What the receiver processes updates with: every domain's handlers, default settings, the test box."""
    from promostack_cli.settings import Settings
    from promostack_cli.webhooks.handlers import Dispatcher

    return Dispatcher(Settings(), box)


@pytest.fixture
def tenant_id(db):
    from tests.factories import tenant

    return tenant(db, "entrylab", "EntryLab")


def start_fake_tg(**options) -> FakeTelegram:
    """The fake Bot API on 127.0.0.1 with the signal and message bots (``options``: FakeTelegram's)."""
    fake = FakeTelegram(allow_http_webhooks=True, **options).start()
    fake.add_bot(SIGNAL_TOKEN, "entrylab_signals_bot")
    fake.add_bot(MESSAGE_TOKEN, "entrylab_helper_bot")
    return fake


@pytest.fixture
def fake_tg():
    fake = start_fake_tg()
    yield fake
    fake.stop()


def wait_for(predicate, timeout=30.0):
    """Poll ``predicate`` (real time: for work done by another thread or process) until true or ``timeout``.
    It returns as soon as the predicate holds, so the timeout is generous: it only decides how long a
    failing test waits, and a machine busy with other jobs must not turn a slow success into a failure."""
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
