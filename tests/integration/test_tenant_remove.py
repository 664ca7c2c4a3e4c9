"""``tenants remove``: every row the tenant owns goes, in one transaction, on SQLite and PostgreSQL;
the other tenant's rows stay (issue 13)."""

from __future__ import annotations

from sqlalchemy import MetaData, func, select

from promostack_cli.core.clock import utcnow
from promostack_cli.journeys.sessions import handle_message
from promostack_cli.tenants.service import remove_tenant
from tests import factories
from tests.conftest import EXAMPLES

OTHER_TOKEN = "7000000009:AAFotherotherotherotherotherother09"


def _populate(db, box, slug: str, token: str | None) -> int:
    tenant_id = factories.tenant(db, slug, slug.title())
    factories.connect_bot(db, box, tenant_id, "message_bot", token, username=f"{slug}_bot")
    factories.import_journeys(db, tenant_id, EXAMPLES)
    with db.transaction() as s:   # a live session, its step visits and its queued greeting
        assert handle_message(s, tenant_id, "5550001", {"first_name": "Sam"}, "/start welcome", utcnow()) \
            == "started welcome"
    factories.enqueue(db, tenant_id, 5550002, "hello")
    return tenant_id


def _counts(db, tenant_id: int) -> dict[str, int]:
    metadata = MetaData()
    metadata.reflect(bind=db.engine)
    with db.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t).where(t.c.tenant_id == tenant_id)).scalar()
                for t in metadata.sorted_tables if "tenant_id" in t.c}


def test_remove_deletes_every_row_of_the_tenant_and_nothing_else(db, box):
    acme = _populate(db, box, "acme", None)
    other = _populate(db, box, "other", OTHER_TOKEN)
    before, kept = _counts(db, acme), _counts(db, other)
    assert {t for t, n in before.items() if n} >= {"bot_connections", "journeys", "journey_triggers", "journey_sessions",
                                                   "journey_step_visits", "outbox_messages"}
    with db.transaction() as s:
        removed = remove_tenant(s, "acme")
    assert removed == {t: n for t, n in before.items() if n}
    assert set(_counts(db, acme).values()) == {0}     # every table with a tenant_id, as the database has them
    assert _counts(db, other) == kept
    with db.engine.connect() as conn:
        tenants = MetaData()
        tenants.reflect(bind=conn, only=["tenants"])
        assert [r.slug for r in conn.execute(select(tenants.tables["tenants"]))] == ["other"]
