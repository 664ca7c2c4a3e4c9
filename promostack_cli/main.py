"""The ``promostack`` command: global options in the callback, one sub-app per domain.

Sub-app modules import only Typer at module level; services, SQLAlchemy models, httpx and the
heavy libraries (pandas, pandas-ta, stripe, uvicorn) load inside the commands that use them, so
``promostack --help`` and ``promostack scheduler tick`` start fast under cron.
"""

from __future__ import annotations

import logging
import sys
from typing import Optional

import typer

from promostack_cli import __version__
from promostack_cli.connections.cli import app as connections_app
from promostack_cli import context as ctx
from promostack_cli.billing.cli import app as billing_app
from promostack_cli.core.errors import PromoStackError
from promostack_cli.forex.cli import app as forex_app
from promostack_cli.journeys.cli import app as journeys_app
from promostack_cli.outbox.cli import app as outbox_app
from promostack_cli.scheduler.cli import app as scheduler_app
from promostack_cli.system.cli import config_app, db_app
from promostack_cli.tenants.cli import app as tenants_app
from promostack_cli.webhooks.cli import app as webhook_app

app = typer.Typer(
    name="promostack",
    help="Telegram marketing for forex-signal channels: tenants, bot connections, journeys, forex signals, outbox delivery and scheduled jobs.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold tokens
    add_completion=False,
    rich_markup_mode=None,
    epilog="Exit codes: 0 ok, 1 operational failure, 2 usage or validation error.",
)
app.add_typer(tenants_app, name="tenants")
app.add_typer(connections_app, name="connections")
app.add_typer(journeys_app, name="journeys")
app.add_typer(forex_app, name="forex")
app.add_typer(billing_app, name="billing")
app.add_typer(outbox_app, name="outbox")
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(webhook_app, name="webhook")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"promostack {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    tenant: Optional[str] = typer.Option(None, "--tenant", "-t", envvar="PROMOSTACK_TENANT", help="Tenant slug."),
    json_output: bool = typer.Option(False, "--json", help="Machine-readable JSON on stdout."),
    db: Optional[str] = typer.Option(None, "--db", help="Database URL (overrides PROMOSTACK_DATABASE_URL).", show_default=False),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    from promostack_cli.settings import env_overrides

    ctx.options.tenant = tenant
    ctx.options.json = json_output
    if db:
        env_overrides(database_url=db)
    _configure_logging()


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from promostack_cli.core.secrets import redact

        record.msg = redact(record.getMessage())
        record.args = ()
        return True


def _configure_logging() -> None:
    from promostack_cli.settings import get_settings

    try:
        level = getattr(logging, get_settings().log_level.upper(), logging.WARNING)
    except Exception as exc:
        from promostack_cli.core.errors import ValidationError

        raise ValidationError(f"Invalid setting {_settings_error(exc)}") from None
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RedactFilter())
    handler.setFormatter(_iso_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL (which holds the bot token; the filter above masks it) at INFO:
    # show those only when debugging.
    http_level = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    logging.getLogger("httpx").setLevel(http_level)
    logging.getLogger("httpcore").setLevel(max(http_level, logging.INFO))


def _iso_formatter() -> logging.Formatter:
    """Log lines start with an ISO 8601 UTC time (2026-12-01T13:45:00.123Z), as cron logs want."""
    import time

    formatter = logging.Formatter("%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s",
                                  datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    return formatter


def _settings_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = "PROMOSTACK_" + "_".join(str(p) for p in first.get("loc", ())).upper()
        return f"{loc}: {first.get('msg')}"
    return str(exc).splitlines()[0]


def run() -> None:
    """Console-script entry point: expected errors become one line on stderr and an exit code."""
    from promostack_cli.core.secrets import redact

    try:
        app()
    except PromoStackError as exc:
        ctx.err.print(f"Error: {redact(exc.message)}", style="red", markup=False, highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        ctx.err.print("Interrupted.", markup=False)
        sys.exit(130)
    except Exception as exc:
        from pydantic import ValidationError as PydanticValidationError

        if isinstance(exc, PydanticValidationError):
            ctx.err.print(f"Error: invalid setting {_settings_error(exc)}", style="red", markup=False)
            sys.exit(2)
        from sqlalchemy.exc import OperationalError as DBOperationalError

        if isinstance(exc, DBOperationalError):
            from promostack_cli.db import _first_line

            ctx.err.print(f"Error: database error: {redact(_first_line(exc))}", style="red", markup=False)
            sys.exit(1)
        raise


if __name__ == "__main__":
    run()
