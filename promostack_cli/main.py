"""The ``promostack`` command: global options in the callback, one lazily loaded sub-app per domain command.

Every command goes through this one path. The root knows the sub-apps from the domain declarations
(:mod:`promostack_cli.domains`) and imports one only when it runs (or when its own ``--help`` is
asked for): ``promostack --help`` imports no sub-app, ``promostack scheduler tick`` imports the
scheduler's, and each command imports the services it uses inside its function. Heavy libraries
(pandas, pandas-ta, stripe, uvicorn, matplotlib) load only in the commands that need them.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import Optional

from promostack_cli import __version__
from promostack_cli.core.errors import PromoStackError

APP_HELP = ("Telegram marketing for forex-signal channels: tenants, bot connections, journeys, forex signals, "
            "cross promo, billing, outbox delivery and scheduled jobs.")
EPILOG = "Exit codes: 0 ok, 1 operational failure, 2 usage or validation error."
GLOBAL_OPTIONS = ("tenant", "json_output", "db")  # the callback's parameters a sub-command accepts too


def __getattr__(name: str):
    """``promostack_cli.main.app``, the root Typer app, built on first use (see :func:`build_app`)."""
    if name == "app":
        return build_app()
    raise AttributeError(f"module {name!r} has no attribute {name!r}")


def _lazy_group_class():
    from typer.core import TyperGroup

    class LazyGroup(TyperGroup):
        """The root group: sub-apps named by the domains, each loaded on first use."""

        def list_commands(self, ctx) -> list[str]:
            from promostack_cli.domains import commands

            return [c.name for c in commands()]

        def get_command(self, ctx, name: str):
            if name not in self.commands:
                from promostack_cli.domains import command

                declared = command(name)
                if declared is None:
                    return None
                self.commands[name] = _load_group(declared)
            return self.commands[name]

        def format_commands(self, ctx, formatter) -> None:
            """The declared help lines: listing the commands imports none of them."""
            from typer._click.utils import make_default_short_help

            from promostack_cli.domains import commands

            rows = [(c.name, c.help) for c in commands()]
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, make_default_short_help(text, limit)) for name, text in rows])

        def resolve_command(self, ctx, args):
            try:
                return super().resolve_command(ctx, args)
            except Exception as exc:
                from difflib import get_close_matches

                message = getattr(exc, "message", None)
                if message and args and "Did you mean" not in message:
                    matches = get_close_matches(args[0], self.list_commands(ctx))
                    if matches:
                        exc.message = f"{message.rstrip('.')}. Did you mean {', '.join(repr(m) for m in matches)}?"
                raise

    return LazyGroup


def _load_group(declared):
    """The declared sub-app as a click group, with the global options accepted after its commands too."""
    from typer.main import TyperInfo, get_group_from_info

    from promostack_cli.core.domain import load

    group = get_group_from_info(TyperInfo(load(declared.app)), pretty_exceptions_short=True,
                                rich_markup_mode=None, suggest_commands=True)
    group.name = declared.name
    accept_global_options_anywhere(group, _root_global_options())
    return group


@cache
def build_app():
    """The root Typer app: global options and the lazily loaded sub-apps."""
    import typer

    app = typer.Typer(
        name="promostack",
        cls=_lazy_group_class(),
        help=APP_HELP,
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,  # locals may hold tokens
        add_completion=True,  # --install-completion / --show-completion (Typer's, for bash, zsh, fish, PowerShell)
        rich_markup_mode=None,
        epilog=EPILOG,
    )

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


@cache
def build_command():
    """The root click command (:func:`build_app`); its sub-groups load when used."""
    import typer

    return typer.main.get_command(build_app())


def _root_global_options():
    return [p for p in build_command().params if p.name in GLOBAL_OPTIONS]


def accept_global_options_anywhere(group, shared) -> None:
    """Give every command and sub-group under ``group`` a hidden copy of the root's ``--tenant/-t``,
    ``--json`` and ``--db`` that sets the same global option (``promostack journeys list --tenant
    acme``). Done by click's own parser: an option's value (``--text --tenant``) and anything after
    ``--`` stay arguments. A command with an option of the same name (a local ``--json``) keeps its own."""
    import copy

    def visit(command) -> None:
        for sub in getattr(command, "commands", {}).values():
            visit(sub)
        taken = {opt for p in command.params for opt in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))}
        for option in shared:
            if taken & set(option.opts):
                continue
            clone = copy.copy(option)
            clone.hidden, clone.expose_value, clone.envvar, clone.callback = True, False, None, _set_global
            command.params.append(clone)

    visit(group)


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
    from promostack_cli.logsetup import configure_logging
    from promostack_cli.settings import get_settings

    configure_logging(get_settings().log_level)  # a setting that does not parse: SettingsError, exit 2


def run() -> None:
    """Console-script entry point: expected errors become one line on stderr and an exit code."""
    try:
        build_command()()
    except PromoStackError as exc:
        from promostack_cli import context as ctx

        ctx.error(exc.message)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    except Exception as exc:
        from sqlalchemy.exc import OperationalError as DBOperationalError

        if isinstance(exc, DBOperationalError):
            from promostack_cli import context as ctx
            from promostack_cli.db import first_line

            ctx.error(f"database error: {first_line(exc)}")
            sys.exit(1)
        raise


if __name__ == "__main__":
    run()
