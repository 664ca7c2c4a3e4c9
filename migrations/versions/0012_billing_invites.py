"""billing invites: access mode invite_link's single-use links per user, and their lifetime setting

Revision ID: 0012_billing_invites
Revises: 0011_outbox_results
Create Date: 2026-12-02
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0012_billing_invites'
down_revision: Union[str, None] = '0011_outbox_results'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('billing_invites',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('telegram_user_id', sa.BigInteger(), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('close_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'name', name='uq_billing_invites_name')
    )
    with op.batch_alter_table('billing_invites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_invites_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_billing_invites_user', ['tenant_id', 'telegram_user_id'], unique=False)
        batch_op.create_index('ix_billing_invites_due', ['status', 'expires_at'], unique=False)
    with op.batch_alter_table('billing_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('invite_ttl_seconds', sa.Integer(), server_default='86400', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('billing_settings', schema=None) as batch_op:
        batch_op.drop_column('invite_ttl_seconds')
    with op.batch_alter_table('billing_invites', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_invites_due')
        batch_op.drop_index('ix_billing_invites_user')
        batch_op.drop_index(batch_op.f('ix_billing_invites_tenant_id'))
    op.drop_table('billing_invites')
