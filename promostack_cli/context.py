"""What every Typer sub-app shares: global options, consoles, database and tenant lookup, output.

Data goes to stdout (rich tables for people, JSON with --json); messages go to stderr. The rich
consoles (``out``, ``err``) are made on first use: a command that prints plain lines (the idle
``scheduler tick``) never imports rich.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable

from promostack_cli.core.errors import PromoStackError
from promostack_cli.logsetup import stamped


def __getattr__(name: str):
    """``out`` and ``err``, the rich consoles for stdout and stderr, made on first use."""
    if name not in ("out", "err"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    if name == "out":
        # Piped to a file or a pager, tables take the width they need (no wrapping inside a timestamp
        # or a name); on a terminal they fit its width, wrapping at spaces, never inside a word.
        console = Console(highlight=False, soft_wrap=False, emoji=False,
                          width=None if sys.stdout.isatty() else 10_000)
    else:  # emoji=False: a user's ":x:" stays as typed (and rich's emoji table is never loaded)
        console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
    globals()[name] = console
    return console


@dataclass
class GlobalOptions:
    tenant: str | None = None
    json: bool = False


options = GlobalOptions()


def settings():
    from promostack_cli.settings import get_settings

    return get_settings()


def want_json(local: bool = False) -> bool:
    return local or options.json


def _console(name: str):
    return globals()[name] if name in globals() else __getattr__(name)


def info(message: str) -> None:
    _console("err").print(stamped(message), markup=False, highlight=False)


def warn(message: str) -> None:
    _console("err").print(stamped(f"Warning: {message}"), style="yellow", markup=False, highlight=False)


def success(message: str) -> None:
    _console("err").print(stamped(message), style="green", markup=False, highlight=False)


def error(message: str) -> None:
    """The one ``Error: ...`` line of a failed command (secrets masked)."""
    from promostack_cli.core.secrets import redact

    _console("err").print(stamped(f"Error: {redact(message)}"), style="red", markup=False, highlight=False)


def line(message: str) -> None:
    """One plain line on stderr, as is (already stamped): for the cron commands' summaries."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit_table(title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]], *, empty: str = "Nothing to show.") -> None:
    """A table for people. Cells wrap at spaces only; a word too long for a narrow terminal is cut
    with an ellipsis rather than broken across lines (--json and --csv carry every character).
    Cells are shown as typed: a journey named "[VIP]" is not taken for markup."""
    from rich.table import Table
    from rich.text import Text

    rows = list(rows)
    if not rows:
        info(empty)
        return
    table = Table(title=title, title_justify="left", show_lines=False)
    for col in columns:
        table.add_column(col, overflow="ellipsis")
    for row in rows:
        table.add_row(*[Text("" if v is None else str(v)) for v in row])
    _console("out").print(table)


def emit_csv(columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    """RFC 4180 CSV on stdout (header first), for spreadsheets; ``None`` is an empty cell."""
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\r\n")
    writer.writerow(list(columns))
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    sys.stdout.flush()


def want_json_or_csv(json_: bool, csv: bool) -> bool:
    """Whether JSON was asked for (the command's --json or the global one); --csv with it is refused."""
    wanted = want_json(json_)
    if wanted and csv:
        from promostack_cli.core.errors import ValidationError

        raise ValidationError("--csv and --json cannot be used together; pick one.")
    return wanted


def no_json(command: str) -> None:
    """Refuse the global --json on a command that has no machine output (rather than ignore it)."""
    if options.json:
        from promostack_cli.core.errors import ValidationError

        raise ValidationError(f"{command} has no JSON output; run it without --json.")


def confirm(action: str, yes: bool) -> None:
    """Destructive commands: ``--yes`` goes ahead; on a terminal ask (default no); otherwise refuse,
    so a script or cron line never destroys data because nobody was there to answer."""
    if yes:
        return
    from promostack_cli.core.errors import ValidationError

    if sys.stdin.isatty() and sys.stderr.isatty():
        import typer

        if typer.confirm(f"{action}?", default=False, err=True):
            return
        raise fail("Cancelled; nothing changed.", exit_code=1)
    raise ValidationError(f"{action}: pass --yes to confirm (no terminal to ask on); nothing changed.")


def open_db():
    """The configured database, migrated: the embedded default migrates itself (and is created on
    first use); others must be upgraded. A SQLite file that does not exist is not created here: a
    mistyped --db path must not leave directories and an empty database behind.

    No table is registered here: each service imports the models it uses (and those import the
    ``tenants`` table their foreign keys name), so a command loads only its own domain's tables."""
    from promostack_cli.db import HEAD_REVISION, Database, refuse_missing_sqlite, safe_url

    s = settings()
    if not s.uses_default_database:
        refuse_missing_sqlite(s.resolved_database_url)
    db = Database(s.resolved_database_url)
    if s.uses_default_database and db.current_revision() != HEAD_REVISION:
        from promostack_cli.system.migrate import upgrade

        before, after = upgrade(db)
        info(f"Database {safe_url(db.url)} migrated from {before or 'empty'} to {after}.")
    db.check_schema()
    return db


def secret_box():
    from promostack_cli.core.secrets import secret_box_for

    return secret_box_for(settings())


def current_tenant(db, required: bool = True):
    """The tenant (id, slug, name) for --tenant / PROMOSTACK_TENANT (an error if missing or unknown);
    None when none was selected and ``required`` is False."""
    from promostack_cli.tenants.lookup import resolve

    slug = options.tenant or settings().tenant
    if not slug and not required:
        return None
    with db.engine.connect() as conn:
        return resolve(conn, slug)


def fail(message: str, exit_code: int = 1) -> PromoStackError:
    exc = PromoStackError(message)
    exc.exit_code = exit_code
    return exc


@contextmanager
def progress(total: int, label: str):
    """A progress bar on stderr when it is a terminal (an ``advance(n)`` callable), else None:
    nothing under cron or in pipes."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=_console("err"), transient=True)
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
