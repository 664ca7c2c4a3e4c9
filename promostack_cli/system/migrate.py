"""Alembic driven programmatically (no alembic.ini): the scripts ship inside the package."""

from __future__ import annotations

from importlib.resources import files

from promostack_cli.db import Database, safe_url


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(files("promostack_cli.migrations")))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision(url: str) -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def _run(db: Database, action: str, revision: str) -> tuple[str | None, str | None]:
    from alembic import command
    from alembic.util import CommandError

    from promostack_cli.core.errors import ValidationError

    before = db.current_revision()
    try:
        with db.engine.begin() as conn:
            cfg = alembic_config(db.url)
            cfg.attributes["connection"] = conn
            getattr(command, action)(cfg, revision)
    except CommandError as exc:   # an unknown revision, a downgrade target above the current one...
        reason = str(exc).strip().splitlines()[0].rstrip(".")
        raise ValidationError(f"Cannot {action} to '{revision}': {reason}. See: promostack db current") from None
    return before, db.current_revision()


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade to ``revision``; returns (before, after)."""
    return _run(db, "upgrade", revision)


def downgrade(db: Database, revision: str) -> tuple[str | None, str | None]:
    """Downgrade to ``revision``; returns (before, after)."""
    return _run(db, "downgrade", revision)


def autogenerate_diff(db: Database) -> list:
    """Differences between the models and the migrated database (empty when they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from promostack_cli.models import metadata

    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        return compare_metadata(ctx, metadata)


def describe(db: Database) -> dict:
    return {"database": safe_url(db.url), "current": db.current_revision(), "head": head_revision(db.url)}


def source_migrations_dir():
    """migrations/ of a source checkout (editable install), or None for an installed wheel."""
    from pathlib import Path

    candidate = Path(__file__).resolve().parents[2] / "migrations"
    return candidate if (candidate / "env.py").exists() and (candidate.parent / "pyproject.toml").exists() else None
