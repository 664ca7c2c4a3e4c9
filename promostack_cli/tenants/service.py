"""Tenants: create, list, resolve a slug to its row."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from promostack_cli.core.errors import NotFoundError, TenantNotSelectedError, ValidationError
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


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.exec(select(Tenant).order_by(Tenant.slug)))


def get_tenant(session: Session, slug: str | None) -> Tenant:
    """The tenant named by --tenant / PROMOSTACK_TENANT. There is no implicit default."""
    if not slug:
        names = ", ".join(t.slug for t in list_tenants(session)) or "none yet: promostack tenants add SLUG"
        raise TenantNotSelectedError(
            f"No tenant selected. Pass --tenant SLUG or set PROMOSTACK_TENANT (tenants: {names})."
        )
    tenant = session.exec(select(Tenant).where(Tenant.slug == slug)).first()
    if tenant is None:
        raise NotFoundError(f"Unknown tenant '{slug}'. See: promostack tenants list")
    return tenant


def get_tenant_by_id(session: Session, tenant_id: int) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFoundError(f"Unknown tenant id {tenant_id}.")
    return tenant


def tenants_with_bot(session: Session, role: str, tenant_id: int | None = None) -> list[Tenant]:
    """Tenants that have a bot connected in ``role`` (one tenant with ``tenant_id``), by id."""
    from promostack_cli.connections.models import BotConnection

    stmt = select(Tenant).join(BotConnection, BotConnection.tenant_id == Tenant.id).where(BotConnection.role == role)
    if tenant_id is not None:
        stmt = stmt.where(Tenant.id == tenant_id)
    return list(session.exec(stmt.order_by(Tenant.id)))


def connected_bots(session: Session, tenant_id: int) -> list[dict]:
    """The tenant's bot connections as people see them (role, @username, webhook registered?); no secrets."""
    from promostack_cli.connections.models import BotConnection

    rows = session.exec(select(BotConnection).where(BotConnection.tenant_id == tenant_id).order_by(BotConnection.role))
    return [{"role": c.role, "username": c.username, "webhook_registered": c.webhook_registered_at is not None}
            for c in rows]


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
