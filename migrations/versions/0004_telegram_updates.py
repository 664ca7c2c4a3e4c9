"""telegram updates

Revision ID: 0004_telegram_updates
Revises: 0003_journey_sessions
Create Date: 2026-11-25
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0004_telegram_updates'
down_revision: Union[str, None] = '0003_journey_sessions'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('telegram_updates',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('bot_id', sa.BigInteger(), nullable=False),
    sa.Column('bot_role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('update_id', sa.BigInteger(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('raw', sa.Text(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('result', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('processed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('bot_id', 'update_id', name='uq_telegram_updates_bot_update')
    )
    with op.batch_alter_table('telegram_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_telegram_updates_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_telegram_updates_tenant_id'), ['tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('telegram_updates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_telegram_updates_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_telegram_updates_status'))

    op.drop_table('telegram_updates')
