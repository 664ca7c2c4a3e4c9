"""typed funnel (session end codes, step visits) and lanes that future-dated messages do not hold

- journey_sessions.end_code: why a session ended, as a code; `journeys stats` counts these instead of
  the human end_reason text. Backfilled from end_reason.
- journey_step_visits: a step's message was queued for a user; the funnel's "users reached" counts
  these instead of outbox_messages.source LIKE 'journey:<slug>/%'. Backfilled from the outbox.
- outbox_messages.first_claimed_at: a pending message holds its chat's lane only when due or already
  claimed once, so one scheduled days ahead no longer blocks what is due in that chat. Backfilled
  for pending messages a sender has handled (attempts, 429s or an error recorded) and those in flight.

Revision ID: 0008_typed_funnel_and_lanes
Revises: 0007_outbox_priority
Create Date: 2026-12-08
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0008_typed_funnel_and_lanes'
down_revision: Union[str, None] = '0007_outbox_priority'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

END_CODES = """
    CASE
      WHEN end_reason = 'no reply before the timeout' THEN 'reply_timeout'
      WHEN end_reason LIKE 'inactive for %' THEN 'inactive'
      WHEN status = 'blocked' THEN 'blocked'
      WHEN end_reason = 'stopped by the user (/stop)' THEN 'stopped'
      WHEN end_reason = 'restarted' THEN 'restarted'
      WHEN end_reason = 'journey removed' THEN 'journey_removed'
      WHEN end_reason LIKE 'step % removed by an import' THEN 'step_removed'
      WHEN end_reason = 'too many steps without an input' THEN 'too_many_steps'
      WHEN end_reason = 'duplicate session, ended by an upgrade' THEN 'duplicate'
      WHEN status = 'completed' THEN 'completed'
    END"""
BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table('journey_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('end_code', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True))
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_table('journey_step_visits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('journey_slug', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('step_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('session_id', sa.BigInteger(), nullable=True),
    sa.Column('reached_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('journey_step_visits', schema=None) as batch_op:
        batch_op.create_index('ix_journey_step_visits_funnel', ['tenant_id', 'journey_slug', 'step_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_journey_step_visits_tenant_id'), ['tenant_id'], unique=False)

    conn = op.get_bind()
    conn.execute(sa.text(f"UPDATE journey_sessions SET end_code = {END_CODES} "
                         "WHERE status IN ('completed', 'cancelled', 'blocked')"))
    conn.execute(sa.text("UPDATE outbox_messages SET first_claimed_at = updated_at "
                         "WHERE status = 'sending' OR (status = 'pending' AND "
                         "(attempts > 0 OR rate_limited > 0 OR last_error IS NOT NULL))"))
    # one visit per (user, step) is all the funnel counts (distinct users per step)
    rows = conn.execute(sa.text(
        "SELECT tenant_id, source, chat_id, min(created_at) AS first_at FROM outbox_messages "
        "WHERE source LIKE 'journey:%' GROUP BY tenant_id, source, chat_id ORDER BY min(id)")).all()
    visits = []
    for tenant_id, source, chat_id, first_at in rows:
        slug, sep, step = source[len("journey:"):].partition("/")
        if sep and slug and step:
            visits.append({"tenant_id": tenant_id, "journey_slug": slug[:64], "step_id": step[:64],
                           "chat_id": chat_id, "reached_at": first_at})
    insert = sa.text("INSERT INTO journey_step_visits (tenant_id, journey_slug, step_id, chat_id, reached_at) "
                     "VALUES (:tenant_id, :journey_slug, :step_id, :chat_id, :reached_at)")
    for i in range(0, len(visits), BATCH):
        conn.execute(insert, visits[i:i + BATCH])


def downgrade() -> None:
    with op.batch_alter_table('journey_step_visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_journey_step_visits_tenant_id'))
        batch_op.drop_index('ix_journey_step_visits_funnel')
    op.drop_table('journey_step_visits')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('first_claimed_at')
    with op.batch_alter_table('journey_sessions', schema=None) as batch_op:
        batch_op.drop_column('end_code')
