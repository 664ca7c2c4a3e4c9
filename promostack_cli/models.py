"""Every table, registered from the domains' declarations (each names its models module).

A command needs only its own domain's tables (each models module imports the ``tenants`` table its
foreign keys name), so :func:`promostack_cli.context.open_db` registers none. Whatever serves every
domain at once registers all of them here: Alembic (autogenerate, the schema check), the receiver
and ``TenantRuntime`` (:func:`open_database`), and the tests.
"""

from __future__ import annotations

from sqlmodel import SQLModel

from promostack_cli.core.domain import load
from promostack_cli.db import Database
from promostack_cli.domains import domains


def register_all() -> None:
    for domain in domains():
        if domain.models:
            load(domain.models)


register_all()
metadata = SQLModel.metadata


def open_database(url: str) -> Database:
    """The database at ``url`` with every table registered, so any session may flush any row."""
    return Database(url)
