"""Tenants: create, list, resolve a slug to its row."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from promostack_cli.core.errors import ValidationError
from promostack_cli.tenants.lookup import resolve
from promostack_cli.tenants.models import Tenant

_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


def validate_slug(slug: str) -> str:
    if not _SLUG_RE.match(slug or ""):
        raise ValidationError(
            f"Tenant slug '{slug}' is not valid: use 2-40 lowercase letters, digits or '-', starting with a letter or digit."
        )
    return slug


def add_tenant(session: Session, slug: str, name: str | None = None) -> Tenant:
    validate_slug(slug)
    if session.exec(select(Tenant).where(Tenant.slug == slug)).first():
        raise ValidationError(f"Tenant '{slug}' already exists.")
    tenant = Tenant(slug=slug, name=name or slug)
    session.add(tenant)
    session.flush()
    return tenant


def get_tenant(session: Session, slug: str | None) -> Tenant:
    """The tenant named by --tenant / PROMOSTACK_TENANT (:func:`~promostack_cli.tenants.lookup.resolve`'s errors)."""
    return session.get(Tenant, resolve(session.connection(), slug).id)


def remove_tenant(session: Session, slug: str) -> dict[str, int]:
    """Delete the tenant and every row it owns, in the caller's transaction; rows removed by table.

    The tables are read from the database itself (every table with a ``tenant_id`` column, children
    before parents), so a table added by a later migration is never left with orphans, on SQLite and
    PostgreSQL alike. No network: the bots' webhooks stay registered at Telegram."""
    from sqlalchemy import MetaData, delete

    tenant = get_tenant(session, slug)
    tenant_id = tenant.id
    metadata = MetaData()
    metadata.reflect(bind=session.connection())
    removed: dict[str, int] = {}
    for table in reversed(metadata.sorted_tables):
        if table.name == Tenant.__tablename__ or "tenant_id" not in table.c:
            continue
        count = session.execute(delete(table).where(table.c.tenant_id == tenant_id)).rowcount
        if count:
            removed[table.name] = count
    session.expunge(tenant)
    tenants = metadata.tables[Tenant.__tablename__]
    session.execute(delete(tenants).where(tenants.c.id == tenant_id))
    return removed
