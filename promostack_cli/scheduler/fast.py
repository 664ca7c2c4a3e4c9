"""``promostack scheduler tick`` as cron starts it, without Typer, pydantic or the ORM until there is work.

cron starts the tick every minute on every machine, and most minutes nothing is due. Typer (with
pydantic and rich), pydantic-settings and the SQLModel tables cost several times what SQLAlchemy
Core does, so :func:`try_tick` takes the plain command lines cron uses, reads the settings without
pydantic, and asks :func:`jobs.scheduler_tick.nothing_due` before each tick. A tick with work
registers the tables and runs the steps as the Typer command does; the lines printed are the same.

It steps aside (returns False, having printed nothing) for anything it is not sure to do exactly as
the Typer command would: another command line (``--help``, ``--json``, ``--tenant``, ``--dry-run``,
an unknown or repeated option, a bad duration), settings only pydantic-settings may judge, a database
that needs migrating or cannot be opened, a secret key problem. The Typer command then does it all,
with its messages and exit codes.
"""

from __future__ import annotations

import os
import sys

from promostack_cli.core.env import read_plain

_TICK_OPTIONS = {"--for": "for_", "--loop": "loop"}


def _parse(argv: list[str]) -> dict | None:
    """``[--db URL] scheduler tick [--for D] [--loop D]``, each option at most once, or None."""
    args = list(argv)
    seen: dict[str, str] = {}

    def take(options: dict[str, str]) -> bool:
        arg = args.pop(0)
        name, eq, value = arg.partition("=")
        key = options.get(name)
        if key is None or key in seen:
            return False
        if not eq:
            if not args:
                return False
            value = args.pop(0)
        seen[key] = value
        return True

    while args and args[0].startswith("-"):
        if not take({"--db": "db"}):
            return None
    if args[:2] != ["scheduler", "tick"]:
        return None
    del args[:2]
    while args:
        if not args[0].startswith("--") or not take(_TICK_OPTIONS):
            return None
    return seen


def _configured(opts: dict):
    """(settings, database, box) of the idle tick, or None where the Typer command must decide."""
    from promostack_cli.core.secrets import secret_box_for
    from promostack_cli.db import HEAD_REVISION, Database, missing_sqlite_file

    if opts.get("db"):
        os.environ["PROMOSTACK_DATABASE_URL"] = opts["db"]  # as settings.env_overrides does
    settings = read_plain()
    if settings is None or settings.tenant or _flag(os.environ, "PROMOSTACK_DRY_RUN"):
        return None
    try:
        if missing_sqlite_file(settings.resolved_database_url) is not None:
            return None  # the Typer command creates the default database or refuses a mistyped path
        db = Database(settings.resolved_database_url)
        if db.current_revision() != HEAD_REVISION:  # the default database migrates itself, others fail
            return None
        return settings, db, secret_box_for(settings)
    except Exception:  # noqa: BLE001 - the Typer command reports it, in its words
        return None


def _flag(environ, name: str) -> bool:
    """PROMOSTACK_DRY_RUN as click reads the --dry-run option's variable: set and not empty."""
    return any(key.upper() == name and value for key, value in environ.items())


class _Deferred:
    """pydantic Settings, read on first use: only a tick with work builds the sender that reads them."""

    def __getattr__(self, name: str):
        from promostack_cli.settings import get_settings

        return getattr(get_settings(), name)


def try_tick(argv: list[str]) -> bool:
    """Run ``scheduler tick`` for ``argv`` if it is a plain cron line; False: not done, nothing printed."""
    from promostack_cli.core.clock import parse_duration

    opts = _parse(argv)
    if opts is None:
        return False
    try:
        budget = parse_duration(opts.get("for_", "55s"))
        interval = parse_duration(opts["loop"]) if "loop" in opts else None
    except ValueError:
        return False
    if interval is not None and interval <= 0:
        return False
    configured = _configured(opts)
    if configured is None:
        return False
    settings, db, box = configured
    from promostack_cli.logsetup import configure_logging, stamp_lines

    configure_logging(settings.log_level)
    stamp_lines()
    _run(db, box, budget, interval)
    return True


def _run(db, box, budget: float, interval: float | None) -> None:
    from jobs.scheduler_tick import TickContext, nothing_due, run, steps
    from promostack_cli.core.clock import iso_now
    from promostack_cli.scheduler.runner import failure, summary

    def idle(now: float, deadline: float) -> bool:
        if nothing_due(db, now, deadline):
            return True
        import promostack_cli.models  # noqa: F401 - work found: the steps' sessions may write any table

        return False

    context = TickContext(db=db, box=box, settings=_Deferred(), dry_run=False, tenant_id=None)
    report = run(context, steps(), budget=budget, loop=interval, nothing_due=idle)
    sys.stderr.write("".join(line + "\n" for line in summary(report, iso_now())))
    sys.stderr.flush()
    message = failure(report)
    if message:
        from promostack_cli.context import fail

        raise fail(message)
