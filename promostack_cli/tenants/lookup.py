"""The tenant a command or a tick is for, by slug, in SQLAlchemy Core: every command asks this first,
and the idle ``scheduler tick`` (``--tenant``, ``PROMOSTACK_TENANT``) must not load the ORM for it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Integer, String, column, select, table

from promostack_cli.core.types import UTCDateTime
from promostack_cli.core.errors import NotFoundError, TenantNotSelectedError

tenants = table("tenants", column("id", Integer), column("slug", String), column("name", String),
                column("created_at", UTCDateTime()))


@dataclass(frozen=True)
class TenantRef:
    id: int
    slug: str
    name: str


def find(conn, slug: str) -> TenantRef | None:
    t = tenants.c
    row = conn.execute(select(t.id, t.slug, t.name).where(t.slug == slug)).first()
    return TenantRef(*row) if row else None


def slugs(conn) -> list[str]:
    return list(conn.execute(select(tenants.c.slug).order_by(tenants.c.slug)).scalars())


def resolve(conn, slug: str | None) -> TenantRef:
    """The tenant named by --tenant / PROMOSTACK_TENANT. There is no implicit default."""
    if not slug:
        names = ", ".join(slugs(conn)) or "none yet: promostack tenants add SLUG"
        raise TenantNotSelectedError(f"No tenant selected. Pass --tenant SLUG or set PROMOSTACK_TENANT (tenants: {names}).")
    found = find(conn, slug)
    if found is None:
        raise NotFoundError(f"Unknown tenant '{slug}'. See: promostack tenants list")
    return found


def listing(conn) -> list[dict]:
    """Every tenant as ``tenants list`` shows it, by slug."""
    t = tenants.c
    rows = conn.execute(select(t.slug, t.name, t.created_at).order_by(t.slug))
    return [{"slug": slug, "name": name, "created_at": created.isoformat()} for slug, name, created in rows]
