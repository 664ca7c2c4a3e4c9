"""cross promo: settings, the job queue, posts and the /starts through them, the feed cache

Revision ID: 0009_crosspromo
Revises: 0008_typed_funnel_and_lanes
Create Date: 2026-12-01
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0009_crosspromo'
down_revision: Union[str, None] = '0008_typed_funnel_and_lanes'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('crosspromo_feed_cache',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('url_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('hour', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('entries', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('fetched_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'url_hash', 'hour')
    )
    op.create_table('crosspromo_jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('unique_key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('scheduled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('run_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('local_date', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('lease_expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('outbox_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'unique_key', name='uq_crosspromo_jobs_key')
    )
    with op.batch_alter_table('crosspromo_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_crosspromo_jobs_due', ['status', 'run_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_crosspromo_jobs_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('crosspromo_settings',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    op.create_table('crosspromo_starts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'ref', 'chat_id', name='uq_crosspromo_starts_user')
    )
    with op.batch_alter_table('crosspromo_starts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crosspromo_starts_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('crosspromo_posts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('signal_id', sa.BigInteger(), nullable=True),
    sa.Column('outbox_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['crosspromo_jobs.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job_id'),
    sa.UniqueConstraint('tenant_id', 'ref', name='uq_crosspromo_posts_ref')
    )
    with op.batch_alter_table('crosspromo_posts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crosspromo_posts_tenant_id'), ['tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('crosspromo_posts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crosspromo_posts_tenant_id'))

    op.drop_table('crosspromo_posts')
    with op.batch_alter_table('crosspromo_starts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crosspromo_starts_tenant_id'))

    op.drop_table('crosspromo_starts')
    op.drop_table('crosspromo_settings')
    with op.batch_alter_table('crosspromo_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crosspromo_jobs_tenant_id'))
        batch_op.drop_index('ix_crosspromo_jobs_due')

    op.drop_table('crosspromo_jobs')
    op.drop_table('crosspromo_feed_cache')
