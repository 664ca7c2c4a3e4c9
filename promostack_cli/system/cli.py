import typer

from promostack_cli import context as ctx
from promostack_cli.system.domain import DOMAIN

db_app = typer.Typer(help=DOMAIN.commands[0].help, no_args_is_help=True)
config_app = typer.Typer(help=DOMAIN.commands[1].help, no_args_is_help=True)


def _database(create: bool = False):
    """The configured database; a SQLite file that does not exist is created only by ``upgrade``."""
    from promostack_cli.db import Database, refuse_missing_sqlite

    url = ctx.settings().resolved_database_url
    if not create:
        refuse_missing_sqlite(url)
    return Database(url)


@db_app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Apply migrations up to REVISION (default: head).

    Example: PROMOSTACK_DATABASE_URL=postgresql+psycopg://promostack@db/promostack promostack db upgrade
    """
    from promostack_cli.db import safe_url
    from promostack_cli.system.migrate import upgrade as do_upgrade

    db = _database(create=True)
    before, after = do_upgrade(db, revision)
    if before == after:
        ctx.success(f"{safe_url(db.url)} is already at {after}.")
    else:
        ctx.success(f"{safe_url(db.url)} migrated from {before or 'empty'} to {after}.")


@db_app.command("downgrade", context_settings={"ignore_unknown_options": True})  # -1 is a revision
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. -1 or base"),
              yes: bool = typer.Option(False, "--yes", help="Confirm: downgrading drops tables and data")) -> None:
    """Revert migrations down to REVISION (drops data).

    Example: promostack db downgrade base --yes
    """
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.db import safe_url
    from promostack_cli.system.migrate import downgrade as do_downgrade

    if not yes:
        raise ValidationError("Downgrading drops tables and their data; pass --yes to confirm.")
    db = _database()
    before, after = do_downgrade(db, revision)
    ctx.success(f"{safe_url(db.url)} downgraded from {before} to {after or 'empty'}.")


@db_app.command("current")
def current(json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Show the database's migration and the one this promostack expects; exit 1 when they differ
    (scripts check it before starting a receiver).

    Example: promostack db current
    """
    from promostack_cli.system.migrate import describe

    state = describe(_database())
    state["up_to_date"] = state["current"] == state["head"]
    if ctx.want_json(json_):
        ctx.emit_json(state)
    else:
        ctx.emit_table(None, ["database", "current", "head", "up to date"],
                       [(state["database"], state["current"] or "(empty)", state["head"],
                         "yes" if state["up_to_date"] else "no: run promostack db upgrade")])
    if not state["up_to_date"]:
        raise typer.Exit(1)


@config_app.command("show")
def show(json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Print the effective settings, secrets masked.

    Example: promostack config show --json
    """
    from promostack_cli.core.secrets import mask
    from promostack_cli.db import safe_url

    s = ctx.settings()
    rows = {
        "database_url": safe_url(s.resolved_database_url) + (" (embedded default)" if s.uses_default_database else ""),
        "data_dir": str(s.resolved_data_dir),
        "tenant": ctx.options.tenant or s.tenant,
        "telegram_api_url": s.telegram_api_url,
        "telegram_timeout": s.telegram_timeout,
        "public_url": s.public_url,
        "secret_key": mask(s.secret_key.get_secret_value()) if s.secret_key else "(not set: key file beside the SQLite database)",
        "dry_run": s.dry_run,
        "log_level": s.log_level,
        "send_rate_per_bot": s.send_rate_per_bot,
        "send_interval_private": s.send_interval_private,
        "send_interval_group": s.send_interval_group,
        "send_workers": s.send_workers,
        "send_max_attempts": s.send_max_attempts,
        "twelvedata_api_url": s.twelvedata_api_url,
        "twelvedata_api_key": mask(s.twelvedata_api_key.get_secret_value()) if s.twelvedata_api_key else "(not set)",
        "twelvedata_timeout": s.twelvedata_timeout,
        "twelvedata_credits_per_minute": s.twelvedata_credits_per_minute,
        "twelvedata_credits_per_day": s.twelvedata_credits_per_day,
    }
    if ctx.want_json(json_):
        ctx.emit_json(rows)
        return
    ctx.emit_table("Effective settings", ["setting", "value"], [(f"PROMOSTACK_{k.upper()}", v) for k, v in rows.items()])


@db_app.command("revision")
def revision(message: str = typer.Option(..., "-m", "--message", help="What the migration does"),
             rev_id: str = typer.Option(None, "--rev-id", help="Revision id, e.g. 0002_journeys")) -> None:
    """(Developers) Autogenerate a migration from the models into migrations/versions.

    Run it in a checkout against a database at head. Example: promostack db revision -m "journeys" --rev-id 0002_journeys
    """
    from alembic import command

    from promostack_cli.core.errors import ValidationError
    from promostack_cli.system.migrate import alembic_config, source_migrations_dir

    target = source_migrations_dir()
    if target is None:
        raise ValidationError("db revision writes into the source tree: run it from a git checkout (pip install -e .).")
    cfg = alembic_config(ctx.settings().resolved_database_url)
    cfg.set_main_option("script_location", str(target))
    script = command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)
    ctx.success(f"Wrote {script.path}. Review it, then set HEAD_REVISION in promostack_cli/db.py to {script.revision}.")
