"""journeys and their triggers

Revision ID: 0002_journeys
Revises: 0001_foundation
Create Date: 2026-11-25
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0002_journeys'
down_revision: Union[str, None] = '0001_foundation'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('journeys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('slug', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('source_path', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'slug', name='uq_journeys_tenant_slug')
    )
    with op.batch_alter_table('journeys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_journeys_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('journey_triggers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('journey_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['journey_id'], ['journeys.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('journey_triggers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_journey_triggers_journey_id'), ['journey_id'], unique=False)
        batch_op.create_index('ix_journey_triggers_lookup', ['tenant_id', 'kind', 'value'], unique=False)
        batch_op.create_index(batch_op.f('ix_journey_triggers_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('uq_journey_triggers_active_deep_link', ['tenant_id', 'value'], unique=True, sqlite_where=sa.text("active AND kind = 'deep_link'"), postgresql_where=sa.text("active AND kind = 'deep_link'"))



def downgrade() -> None:
    with op.batch_alter_table('journey_triggers', schema=None) as batch_op:
        batch_op.drop_index('uq_journey_triggers_active_deep_link', sqlite_where=sa.text("active AND kind = 'deep_link'"), postgresql_where=sa.text("active AND kind = 'deep_link'"))
        batch_op.drop_index(batch_op.f('ix_journey_triggers_tenant_id'))
        batch_op.drop_index('ix_journey_triggers_lookup')
        batch_op.drop_index(batch_op.f('ix_journey_triggers_journey_id'))

    op.drop_table('journey_triggers')
    with op.batch_alter_table('journeys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_journeys_tenant_id'))

    op.drop_table('journeys')
