"""one live session per journey and user (re_entry block/restart)

Adds journey_sessions.exclusive and a partial unique index over live exclusive sessions. Sessions
that concurrent updates duplicated before this release are ended first (the newest one stays).

Revision ID: 0006_one_live_session
Revises: 0005_forex
Create Date: 2026-12-01
"""
import json
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0006_one_live_session'
down_revision: Union[str, None] = '0005_forex'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

LIVE_SQL = "status IN ('active', 'waiting_delay', 'awaiting_reply')"


def upgrade() -> None:
    with op.batch_alter_table('journey_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exclusive', sa.Boolean(), server_default=sa.false(), nullable=False))

    conn = op.get_bind()
    exclusive = []
    for journey_id, definition in conn.execute(sa.text("SELECT id, definition FROM journeys")).all():
        if isinstance(definition, str):
            definition = json.loads(definition)
        if (definition or {}).get("re_entry", "block") != "allow":
            exclusive.append(journey_id)
    if exclusive:
        conn.execute(sa.text("UPDATE journey_sessions SET exclusive = :yes WHERE journey_id IN :ids")
                     .bindparams(sa.bindparam("ids", expanding=True)), {"yes": True, "ids": exclusive})
        # duplicates left by the race this index now prevents: keep the newest live session
        conn.execute(sa.text(f"""
            UPDATE journey_sessions SET status = 'cancelled', step_id = NULL, wake_at = NULL,
                   ended_at = CURRENT_TIMESTAMP, end_reason = 'duplicate session, ended by an upgrade'
            WHERE exclusive AND {LIVE_SQL} AND id NOT IN (
                SELECT max_id FROM (SELECT max(id) AS max_id FROM journey_sessions
                                    WHERE exclusive AND {LIVE_SQL}
                                    GROUP BY tenant_id, journey_id, chat_id) AS newest)
        """))
    with op.batch_alter_table('journey_sessions', schema=None) as batch_op:
        batch_op.create_index('uq_journey_sessions_one_live', ['tenant_id', 'journey_id', 'chat_id'], unique=True,
                              sqlite_where=sa.text(f"exclusive AND {LIVE_SQL}"),
                              postgresql_where=sa.text(f"exclusive AND {LIVE_SQL}"))


def downgrade() -> None:
    with op.batch_alter_table('journey_sessions', schema=None) as batch_op:
        batch_op.drop_index('uq_journey_sessions_one_live')
        batch_op.drop_column('exclusive')
