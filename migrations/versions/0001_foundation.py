"""foundation: tenants, bot connections, outbox

Revision ID: 0001_foundation
Revises: 
Create Date: 2026-11-24
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0001_foundation'
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('tenants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tenants_slug'), ['slug'], unique=True)

    op.create_table('bot_connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('bot_id', sa.BigInteger(), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('token_encrypted', sa.Text(), nullable=False),
    sa.Column('token_hint', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('vip_channel', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('free_channel', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('webhook_path_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('webhook_path_encrypted', sa.Text(), nullable=False),
    sa.Column('webhook_token_encrypted', sa.Text(), nullable=False),
    sa.Column('webhook_url', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('webhook_registered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('validated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'role', name='uq_bot_connections_tenant_role'),
    sa.UniqueConstraint('webhook_path_hash')
    )
    with op.batch_alter_table('bot_connections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bot_connections_bot_id'), ['bot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bot_connections_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('bot_rate_limits',
    sa.Column('bot_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('next_slot_at', sa.Float(), server_default='0', nullable=False),
    sa.Column('paused_until', sa.Float(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('bot_id')
    )
    with op.batch_alter_table('bot_rate_limits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bot_rate_limits_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('chat_states',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('bot_role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('next_send_at', sa.Float(), server_default='0', nullable=False),
    sa.Column('blocked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('blocked_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'bot_role', 'chat_id', name='uq_chat_states_lane')
    )
    with op.batch_alter_table('chat_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_states_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('outbox_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('bot_role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('chat_kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('not_before', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('rate_limited', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('lease_expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('telegram_message_id', sa.BigInteger(), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('dedupe_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'dedupe_key', name='uq_outbox_tenant_dedupe')
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_due', ['status', 'not_before'], unique=False)
        batch_op.create_index('ix_outbox_lane', ['tenant_id', 'bot_role', 'chat_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_messages_tenant_id'), ['tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_messages_tenant_id'))
        batch_op.drop_index('ix_outbox_lane')
        batch_op.drop_index('ix_outbox_due')

    op.drop_table('outbox_messages')
    with op.batch_alter_table('chat_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_states_tenant_id'))

    op.drop_table('chat_states')
    with op.batch_alter_table('bot_rate_limits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bot_rate_limits_tenant_id'))

    op.drop_table('bot_rate_limits')
    with op.batch_alter_table('bot_connections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bot_connections_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_bot_connections_bot_id'))

    op.drop_table('bot_connections')
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tenants_slug'))

    op.drop_table('tenants')
