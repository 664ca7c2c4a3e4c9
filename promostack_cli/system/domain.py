"""The installation itself: database migrations, effective configuration, stored secrets."""

from promostack_cli.core.domain import Command, Domain

DOMAIN = Domain(
    "system",
    commands=(
        Command("db", "promostack_cli.system.cli:db_app",
                "Database migrations (Alembic; one history for SQLite and PostgreSQL)."),
        Command("config", "promostack_cli.system.cli:config_app", "Effective configuration."),
        Command("secrets", "promostack_cli.system.secrets_cli:app",
                "Stored secrets: re-encrypt them under a new PROMOSTACK_SECRET_KEY."),
    ),
)
