"""One Alembic history for SQLite and PostgreSQL; models and migrations never drift apart."""

import sqlalchemy as sa

from promostack_cli.db import HEAD_REVISION, Database
from promostack_cli.system import migrate


def test_head_constant_matches_the_migration_history(sqlite_url):
    assert migrate.head_revision(sqlite_url) == HEAD_REVISION


def test_upgrade_head_leaves_nothing_for_autogenerate(db_url):
    db = Database(db_url)
    before, after = migrate.upgrade(db)
    assert (before, after) == (None, HEAD_REVISION)
    assert migrate.autogenerate_diff(db) == []
    tables = set(sa.inspect(db.engine).get_table_names())
    assert {"tenants", "bot_connections", "outbox_messages", "chat_states", "bot_rate_limits"} <= tables


def test_downgrade_to_base_and_back(db_url):
    db = Database(db_url)
    migrate.upgrade(db)
    migrate.downgrade(db, "base")
    assert db.current_revision() is None
    assert "outbox_messages" not in sa.inspect(db.engine).get_table_names()
    migrate.upgrade(db)
    assert db.current_revision() == HEAD_REVISION


def test_every_domain_table_carries_tenant_id(db):
    inspector = sa.inspect(db.engine)
    for table in inspector.get_table_names():
        # api_credit_usage is keyed by the Twelve Data key, which all tenants of an installation share
        if table in ("tenants", "alembic_version", "api_credit_usage"):
            continue
        assert "tenant_id" in {c["name"] for c in inspector.get_columns(table)}, table


def test_upgrade_ends_duplicate_live_sessions_then_enforces_one(db_url):
    """Sessions duplicated by concurrent updates before 0006: the newest stays live, the index holds."""
    import json

    import pytest

    db = Database(db_url)
    migrate.upgrade(db, "0005_forex")
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO tenants (slug, name, created_at) VALUES ('entrylab', 'E', CURRENT_TIMESTAMP)"))
        for slug, policy in (("welcome", "restart"), ("quiz", "allow")):
            conn.execute(sa.text(
                "INSERT INTO journeys (tenant_id, slug, name, status, definition, content_hash, created_at, updated_at) "
                "VALUES (1, :slug, :slug, 'active', :d, 'h', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                {"slug": slug, "d": json.dumps({"journey": slug, "re_entry": policy, "steps": []})})
        ids = dict(conn.execute(sa.text("SELECT slug, id FROM journeys")).all())
        for journey in ("welcome", "welcome", "welcome", "quiz", "quiz"):
            conn.execute(sa.text(
                "INSERT INTO journey_sessions (tenant_id, journey_id, journey_slug, chat_id, status, step_id, variables, "
                "started_at, last_activity_at) VALUES (1, :j, :slug, '42', 'awaiting_reply', 's', '{}', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"j": ids[journey], "slug": journey})
    migrate.upgrade(db)
    with db.engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT id, journey_slug, status, exclusive, end_reason FROM journey_sessions "
                                    "ORDER BY id")).all()
    assert [(r.journey_slug, r.status, bool(r.exclusive)) for r in rows] == [
        ("welcome", "cancelled", True), ("welcome", "cancelled", True), ("welcome", "awaiting_reply", True),
        ("quiz", "awaiting_reply", False), ("quiz", "awaiting_reply", False)]  # allow: parallel on purpose
    assert rows[0].end_reason == "duplicate session, ended by an upgrade"
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO journey_sessions (tenant_id, journey_id, journey_slug, chat_id, status, variables, started_at, "
            "last_activity_at, exclusive) VALUES (1, :j, 'welcome', '42', 'active', '{}', CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP, :yes)"), {"j": ids["welcome"], "yes": True})


def test_upgrade_to_typed_funnel_keeps_the_stats_of_existing_sessions(db_url):
    """0008: end codes and step visits are backfilled from the old text, so `journeys stats`
    reports the same funnel right after the upgrade."""
    import json

    from promostack_cli.journeys.service import journey_stats

    db = Database(db_url)
    migrate.upgrade(db, "0007_outbox_priority")
    steps = [{"id": "hello", "type": "message", "text": "Hi"}, {"id": "offer", "type": "wait_for_reply", "text": "?",
                                                                  "timeout": "1h"}]
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO tenants (slug, name, created_at) VALUES ('entrylab', 'E', CURRENT_TIMESTAMP)"))
        conn.execute(sa.text(
            "INSERT INTO journeys (tenant_id, slug, name, status, definition, content_hash, created_at, updated_at) "
            "VALUES (1, 'welcome', 'W', 'active', :d, 'h', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
            {"d": json.dumps({"journey": "welcome", "steps": steps})})
        for chat, status, reason in (("1", "completed", "no reply before the timeout"), ("2", "cancelled", "inactive for 3d"),
                                     ("3", "completed", None), ("4", "blocked", "the user blocked the bot"),
                                     ("5", "cancelled", "stopped by the user (/stop)")):
            conn.execute(sa.text(
                "INSERT INTO journey_sessions (tenant_id, journey_id, journey_slug, chat_id, status, end_reason, variables, "
                "started_at, last_activity_at, exclusive) VALUES (1, 1, 'welcome', :c, :st, :r, '{}', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP, :no)"), {"c": chat, "st": status, "r": reason, "no": False})
            for step in ("hello", "offer") if chat != "5" else ("hello", "hello"):
                conn.execute(sa.text(
                    "INSERT INTO outbox_messages (tenant_id, bot_role, chat_id, chat_kind, method, payload, status, "
                    "not_before, attempts, rate_limited, source, priority, created_at, updated_at) VALUES (1, 'message_bot', "
                    ":c, 'private', 'sendMessage', '{}', 'sent', CURRENT_TIMESTAMP, 1, 0, :src, 1, CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"), {"c": chat, "src": f"journey:welcome/{step}"})
    migrate.upgrade(db)
    with db.session() as s:
        stats = journey_stats(s, 1, "welcome")
    assert {k: stats[k] for k in ("started", "completed", "timed_out", "blocked", "cancelled")} == {
        "started": 5, "completed": 1, "timed_out": 2, "blocked": 1, "cancelled": 1}
    assert {st["step"]: st["reached"] for st in stats["steps"]} == {"hello": 5, "offer": 4}


def test_every_datetime_column_reads_aware_utc_on_both_databases(db):
    """The domain uses aware UTC datetimes only: every model column and light Core clause reads them so,
    SQLite included (it stores no offset). A naive datetime cannot be written either."""
    import pytest
    from sqlalchemy import DateTime, insert, select
    from sqlmodel.sql.sqltypes import UTCDateTime as ModelUTC

    import promostack_cli.models as registry
    from promostack_cli.core.clock import utcnow
    from promostack_cli.tenants.lookup import tenants as light_tenants
    from promostack_cli.tenants.models import Tenant

    plain = [(t.name, c.name) for t in registry.metadata.sorted_tables for c in t.columns
             if isinstance(c.type, DateTime) or (hasattr(c.type, "impl") and isinstance(c.type.impl, DateTime)
                                                 and not isinstance(c.type, ModelUTC))]
    assert plain == [], f"datetime columns that would read naive on SQLite: {plain}"
    with db.transaction() as s:
        s.add(Tenant(slug="aware", name="Aware"))
    with db.session() as s:
        created = s.scalars(select(Tenant).where(Tenant.slug == "aware")).one().created_at
    with db.engine.connect() as conn:
        light = conn.execute(select(light_tenants.c.created_at).where(light_tenants.c.slug == "aware")).scalar()
    assert created.utcoffset() is not None and created == light and light.utcoffset() is not None
    with pytest.raises(Exception, match="naive"), db.engine.begin() as conn:
        conn.execute(insert(light_tenants).values(slug="naive", name="N", created_at=utcnow().replace(tzinfo=None)))
