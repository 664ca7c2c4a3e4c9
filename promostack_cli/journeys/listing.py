"""The journeys as ``journeys list`` and ``journeys show`` present them: read in SQLAlchemy Core.

Listing reads and changes nothing, so it needs no ORM model (loading SQLModel and the models costs
more than the rest of the command); :func:`describe` takes any row with the journey's columns
(a Core row here, a ``Journey`` model in the services).
"""

from __future__ import annotations

from sqlalchemy import JSON, Integer, String, column, select, table

from promostack_cli.core.errors import NotFoundError
from promostack_cli.core.types import UTCDateTime

journeys = table("journeys", column("id", Integer), column("tenant_id", Integer), column("slug", String),
                 column("name", String), column("status", String), column("definition", JSON()),
                 column("source_path", String), column("updated_at", UTCDateTime()))
_SHOWN = (journeys.c.slug, journeys.c.name, journeys.c.status, journeys.c.definition, journeys.c.source_path,
          journeys.c.updated_at)


def describe(journey) -> dict:
    from promostack_cli.journeys.spec.model import JourneySpec

    spec = JourneySpec.from_dict(journey.definition)
    return {
        "journey": journey.slug,
        "name": journey.name,
        "status": journey.status,
        "re_entry": spec.re_entry,
        "inactivity_timeout": spec.inactivity_timeout,
        "triggers": spec.triggers,
        "steps": [dict(s) for s in spec.steps],  # every field as imported (texts, waits, choices, gotos)
        "source": journey.source_path,
        "updated_at": journey.updated_at.isoformat(),
    }


def listing(conn, tenant_id: int) -> list[dict]:
    q = select(*_SHOWN).where(journeys.c.tenant_id == tenant_id).order_by(journeys.c.slug)
    return [describe(row) for row in conn.execute(q)]


def one(conn, tenant_id: int, slug: str) -> dict:
    row = conn.execute(select(*_SHOWN).where(journeys.c.tenant_id == tenant_id, journeys.c.slug == slug)).first()
    if row is None:
        raise NotFoundError(f"No journey '{slug}'. See: promostack journeys list")
    return describe(row)
