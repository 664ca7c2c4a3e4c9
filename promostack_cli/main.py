"""The ``promostack`` command: global options in the callback, one sub-app per domain.

Sub-app modules import only Typer at module level; services, SQLAlchemy models, httpx and the
heavy libraries (pandas, pandas-ta, stripe, uvicorn) load inside the commands that use them, so
``promostack --help`` and ``promostack scheduler tick`` start fast under cron.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import Optional

from promostack_cli import __version__
from promostack_cli.core.errors import PromoStackError

APP_HELP = ("Telegram marketing for forex-signal channels: tenants, bot connections, journeys, forex signals, "
            "cross promo, billing, outbox delivery and scheduled jobs.")


def __getattr__(name: str):
    """``promostack_cli.main.app``, the root Typer app, built on first use (see :func:`build_app`)."""
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def build_app():
    """The root Typer app with every sub-app. Built only when a command needs it: an idle
    ``scheduler tick`` (cron, every minute) is answered before Typer loads (``scheduler/fast.py``)."""
    import typer

    from promostack_cli.billing.cli import app as billing_app
    from promostack_cli.connections.cli import app as connections_app
    from promostack_cli.crosspromo.cli import app as crosspromo_app
    from promostack_cli.forex.cli import app as forex_app
    from promostack_cli.journeys.cli import app as journeys_app
    from promostack_cli.outbox.cli import app as outbox_app
    from promostack_cli.scheduler.cli import app as scheduler_app
    from promostack_cli.system.cli import config_app, db_app
    from promostack_cli.system.secrets_cli import app as secrets_app
    from promostack_cli.tenants.cli import app as tenants_app
    from promostack_cli.webhooks.cli import app as webhook_app

    app = typer.Typer(
        name="promostack",
        help=APP_HELP,
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,  # locals may hold tokens
        add_completion=True,  # --install-completion / --show-completion (Typer's, for bash, zsh, fish, PowerShell)
        rich_markup_mode=None,
        epilog="Exit codes: 0 ok, 1 operational failure, 2 usage or validation error.",
    )
    app.add_typer(tenants_app, name="tenants")
    app.add_typer(connections_app, name="connections")
    app.add_typer(journeys_app, name="journeys")
    app.add_typer(forex_app, name="forex")
    app.add_typer(crosspromo_app, name="crosspromo")
    app.add_typer(billing_app, name="billing")
    app.add_typer(outbox_app, name="outbox")
    app.add_typer(scheduler_app, name="scheduler")
    app.add_typer(webhook_app, name="webhook")
    app.add_typer(db_app, name="db")
    app.add_typer(config_app, name="config")
    app.add_typer(secrets_app, name="secrets")

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
        from promostack_cli import context as ctx
        from promostack_cli.settings import env_overrides

        ctx.options.tenant = tenant
        ctx.options.json = json_output
        if db:
            env_overrides(database_url=db)
        _configure_logging()

    return app


GLOBAL_OPTIONS = ("tenant", "json_output", "db")  # the callback's parameters a sub-command accepts too


@cache
def build_command():
    """The root click command: :func:`build_app` with the global options accepted after any
    sub-command as well (``promostack journeys list --tenant acme``)."""
    import typer

    root = typer.main.get_command(build_app())
    accept_global_options_anywhere(root)
    return root


def accept_global_options_anywhere(root) -> None:
    """Give every sub-command and sub-group a hidden copy of the root's ``--tenant/-t``, ``--json``
    and ``--db`` that sets the same global option. Done once here, for every command, by click's own
    parser: an option's value (``--text --tenant``) and anything after ``--`` stay arguments. A
    command with an option of the same name (a local ``--json``) keeps its own."""
    import copy

    shared = [p for p in root.params if p.name in GLOBAL_OPTIONS]

    def visit(command) -> None:
        for sub in getattr(command, "commands", {}).values():
            visit(sub)
        if command is root:
            return
        taken = {opt for p in command.params for opt in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))}
        for option in shared:
            if taken & set(option.opts):
                continue
            clone = copy.copy(option)
            clone.hidden, clone.expose_value, clone.envvar, clone.callback = True, False, None, _set_global
            command.params.append(clone)

    visit(root)


def _set_global(_ctx, param, value):
    """A global option given after the sub-command: the same effect as before it."""
    if value is None or value is False:
        return value
    from promostack_cli import context as ctx

    if param.name == "tenant":
        ctx.options.tenant = value
    elif param.name == "json_output":
        ctx.options.json = True
    else:
        from promostack_cli.settings import env_overrides

        env_overrides(database_url=value)
    return value


def _configure_logging() -> None:
    from promostack_cli.settings import get_settings

    try:
        level_name = get_settings().log_level
    except Exception as exc:
        from promostack_cli.core.errors import ValidationError

        raise ValidationError(f"Invalid setting {_settings_error(exc)}") from None
    from promostack_cli.logsetup import configure_logging

    configure_logging(level_name)


def _settings_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = "PROMOSTACK_" + "_".join(str(p) for p in first.get("loc", ())).upper()
        return f"{loc}: {first.get('msg')}"
    return str(exc).splitlines()[0]


def run() -> None:
    """Console-script entry point: expected errors become one line on stderr and an exit code."""
    from promostack_cli.scheduler.fast import try_tick

    try:
        if not try_tick(sys.argv[1:]):
            build_command()()
    except PromoStackError as exc:
        from promostack_cli import context as ctx

        ctx.error(exc.message)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        from promostack_cli import context as ctx

        ctx.err.print("Interrupted.", markup=False)
        sys.exit(130)
    except Exception as exc:
        from pydantic import ValidationError as PydanticValidationError

        from promostack_cli import context as ctx

        if isinstance(exc, PydanticValidationError):
            ctx.error(f"invalid setting {_settings_error(exc)}")
            sys.exit(2)
        from sqlalchemy.exc import OperationalError as DBOperationalError

        if isinstance(exc, DBOperationalError):
            from promostack_cli.db import _first_line

            ctx.error(f"database error: {_first_line(exc)}")
            sys.exit(1)
        raise


if __name__ == "__main__":
    run()
