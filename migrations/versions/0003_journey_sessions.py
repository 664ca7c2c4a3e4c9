"""journey sessions

Revision ID: 0003_journey_sessions
Revises: 0002_journeys
Create Date: 2026-11-25
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0003_journey_sessions'
down_revision: Union[str, None] = '0002_journeys'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('journey_sessions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('journey_id', sa.Integer(), nullable=True),
    sa.Column('journey_slug', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('step_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('variables', sa.JSON(), nullable=False),
    sa.Column('wake_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_activity_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('ended_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('end_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.ForeignKeyConstraint(['journey_id'], ['journeys.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('journey_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_journey_sessions_due', ['status', 'wake_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_journey_sessions_journey_id'), ['journey_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_journey_sessions_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_journey_sessions_user', ['tenant_id', 'chat_id', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('journey_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_journey_sessions_user')
        batch_op.drop_index(batch_op.f('ix_journey_sessions_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_journey_sessions_journey_id'))
        batch_op.drop_index('ix_journey_sessions_due')

    op.drop_table('journey_sessions')
