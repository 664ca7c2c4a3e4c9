"""Engine and session factory for SQLite (embedded default) and PostgreSQL (production).

SQLite: WAL journal, a busy timeout, foreign keys on, and every transaction opened with
``BEGIN IMMEDIATE`` so read-then-write transactions (claims, rate-limit reservations) take the write
lock up front instead of failing with "database is locked" when they upgrade. PostgreSQL: claims use
``SELECT ... FOR UPDATE SKIP LOCKED``; every claim query is in :mod:`promostack_cli.core.claims`.

This module knows no domain table. A session flushes a row only if its table, and the table its
foreign keys name (``tenants``), are in ``SQLModel.metadata``: the entry points register them by
opening the database through :func:`promostack_cli.models.open_database`. The ORM itself (SQLModel,
``sqlalchemy.orm``) loads with the first session, so an engine alone costs SQLAlchemy Core only
(the idle ``scheduler tick`` answers with Core queries).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from promostack_cli.core.errors import DatabaseNotMigratedError, OperationalError

if TYPE_CHECKING:
    from sqlmodel import Session

# The Alembic revision this code expects. tests/test_migrations.py asserts it equals the head of
# migrations/versions, so the start-up check is one cheap SELECT instead of parsing the history.
HEAD_REVISION = "0012_billing_invites"

SQLITE_BUSY_TIMEOUT_S = 30
PG_POOL_SIZE = 4          # connections kept open per process and engine
PG_MAX_OVERFLOW = 8       # more, opened for a burst and closed after
PING_AFTER_IDLE_S = 1.0   # a pooled connection idle longer than this is checked before use

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def is_sqlite(engine_or_url) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every SQLite test
        dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # a read-only connection (the due checks): each statement on its own, no write lock
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _create_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only (it holds encrypted tokens and user data);
    SQLite gives its -wal and -shm files the database file's permissions."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass


def missing_sqlite_file(url: str) -> Path | None:
    """The path of a SQLite database file that does not exist yet (None for PostgreSQL, in-memory
    databases and files that exist). Opening the engine would create it (and its directories)."""
    parsed = check_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:" \
            or parsed.query.get("uri") or parsed.database.startswith("file:"):
        return None
    path = Path(parsed.database).expanduser()
    return None if path.exists() else path


def refuse_missing_sqlite(url: str) -> None:
    """ValidationError when ``url`` names a SQLite file that does not exist: a command that only reads
    must not create it (and its directories) from a mistyped path. ``db upgrade`` creates databases."""
    missing = missing_sqlite_file(url)
    if missing is not None:
        from promostack_cli.core.errors import ValidationError

        raise ValidationError(f"The database file {missing} does not exist; check the path "
                              "(--db or PROMOSTACK_DATABASE_URL), or create it with: promostack db upgrade")


URL_HELP = "use sqlite:///path/to/promostack.db or postgresql://user@host:5432/dbname"


def check_url(url: str):
    """The parsed URL of a database PromoStack can open (``postgres://`` is PostgreSQL too);
    ValidationError in one line otherwise (the URL itself is not repeated: it may hold a password)."""
    from sqlalchemy.exc import ArgumentError

    from promostack_cli.core.errors import ValidationError

    try:
        parsed = make_url(url)
    except ArgumentError:
        scheme = url.split("://", 1)[0] + "://" if "://" in url else "no scheme"
        raise ValidationError(f"The database URL ({scheme}) is not a URL; {URL_HELP}.") from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValidationError(f"{backend} databases are not supported; {URL_HELP}.")
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        raise ValidationError(f"The PostgreSQL driver {parsed.drivername.split('+')[-1]} is not installed; "
                              "use postgresql:// (psycopg 3).")
    return parsed


def create_db_engine(url: str) -> Engine:
    parsed = check_url(url)
    url = parsed.render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _create_private(Path(parsed.database).expanduser())
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
            pool_size=32,
            max_overflow=32,
        )
        _configure_sqlite(engine)
        return engine
    # (plain postgresql:// would pick psycopg2, which we do not ship: check_url makes it psycopg 3)
    # PostgreSQL's connections are a budget every machine shares (max_connections, 100 by default):
    # a tick or receiver process holds few at once (claims, the recorder, reservations; the
    # receiver's transactions last milliseconds), so keep its pool small and let bursts queue.
    engine = create_engine(url, pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW)
    _ping_after_idle(engine)
    return engine


def _ping_after_idle(engine: Engine) -> None:
    """Check a pooled connection before use when it sat idle longer than ``PING_AFTER_IDLE_S``
    (a restarted server, a connection an idle timeout or an operator closed): it is replaced, not
    handed out. ``pool_pre_ping`` would check every checkout: a round trip per transaction, which
    tripled a short transaction's time under load. A connection that dies while in use, or within
    the idle window, fails its statement: those callers treat it as transient and run again
    (:func:`is_transient`), and the pool replaces every connection opened before the failure."""
    import time

    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "checkin")
    def _idle_since(dbapi_conn, record):  # pragma: no cover - every PostgreSQL test
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn, record, proxy):  # pragma: no cover
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since > PING_AFTER_IDLE_S:
            try:
                engine.dialect.do_ping(dbapi_conn)
            except Exception as exc:  # noqa: BLE001 - the pool discards it and connects anew
                raise DisconnectionError(first_line(exc)) from exc


def get_engine(url: str, *, async_commit: bool = False) -> Engine:
    """One engine per URL per process.

    ``async_commit`` gives PostgreSQL connections with ``synchronous_commit=off``: commits do not
    wait for the WAL flush. Only for writes whose loss in a server crash is harmless (send-slot
    reservations); on SQLite it is the ordinary engine.
    """
    check_url(url)  # a mistyped --db or PROMOSTACK_DATABASE_URL: one line, before any engine
    key = f"{url}#async" if async_commit and not is_sqlite(url) else url
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = create_db_engine(url)
            if key != url:
                @event.listens_for(engine, "connect")
                def _async(dbapi_conn, _record):  # pragma: no cover - PostgreSQL only
                    with dbapi_conn.cursor() as cur:
                        cur.execute("SET synchronous_commit = off")
                    dbapi_conn.commit()
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


class Database:
    """An engine plus a session factory; the edge builds one and passes sessions to services."""

    def __init__(self, url: str):
        self.url = url
        self.engine = get_engine(url)
        self._session_factory = None

    @property
    def _factory(self):
        if self._session_factory is None:
            from sqlalchemy.orm import sessionmaker
            from sqlmodel import Session

            self._session_factory = sessionmaker(self.engine, class_=Session, expire_on_commit=False)
        return self._session_factory

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self._factory()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any exception."""
        session = self._factory()
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    def current_revision(self) -> str | None:
        """The Alembic revision the database is at (None: no PromoStack tables yet). One query: every
        command asks this first, so no inspector (its import and reflection cost more than the query)."""
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        try:
            with self.engine.connect() as conn:
                try:
                    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                except DBAPIError as exc:
                    if _missing_table(exc):
                        return None
                    raise
        except Exception as exc:  # connection refused, bad credentials, missing database...
            raise OperationalError(
                f"Cannot open the database {safe_url(self.url)}: {first_line(exc)}"
            ) from None

    def check_schema(self) -> None:
        rev = self.current_revision()
        if rev == HEAD_REVISION:
            return
        if rev is None:
            raise DatabaseNotMigratedError(
                f"The database {safe_url(self.url)} has no PromoStack tables yet. Run: promostack db upgrade"
            )
        raise DatabaseNotMigratedError(
            f"The database {safe_url(self.url)} is at migration {rev}, this promostack expects "
            f"{HEAD_REVISION}. Run: promostack db upgrade (or upgrade promostack if the database is newer)."
        )


def _missing_table(exc) -> bool:
    """The error of a query on a table that does not exist (SQLite: "no such table"; PostgreSQL: 42P01)."""
    return getattr(exc.orig, "sqlstate", None) == "42P01" or "no such table" in str(exc.orig)


def first_line(exc: BaseException) -> str:
    """The first line of a (database) error, secrets masked, at most 200 characters: for messages and logs."""
    from promostack_cli.core.secrets import redact

    text = str(getattr(exc, "orig", None) or exc).strip()
    return redact(text.splitlines()[0])[:200] if text else type(exc).__name__


# SQLSTATE classes and codes after which the same transaction may well succeed if run again.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57")   # connection, rollback (serialization, deadlock), resources, operator
_TRANSIENT_SQLSTATES = ("55P03",)                         # lock_not_available


def is_transient(exc: BaseException) -> bool:
    """True for database errors worth retrying: a lost or killed connection, a serialization
    failure or deadlock, a lock timeout, SQLite's "database is locked"."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, (sa_exc.PendingRollbackError, sa_exc.DisconnectionError)):
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return True
    state = getattr(exc.orig, "sqlstate", None) or ""
    return state[:2] in _TRANSIENT_SQLSTATE_CLASSES or state in _TRANSIENT_SQLSTATES
