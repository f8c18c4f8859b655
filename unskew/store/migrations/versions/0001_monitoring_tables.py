"""monitoring tables

Revision ID: 0001
Revises:
Create Date: 2026-12-02 03:34:10.124728
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('monitor_models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=True),
    sa.Column('next_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_models')),
    sa.UniqueConstraint('name', name=op.f('uq_monitor_models_name'))
    )
    op.create_table('monitor_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=500), nullable=False),
    sa.Column('detector', sa.String(length=100), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('window', sa.String(length=100), nullable=False),
    sa.Column('group', sa.Text(), nullable=True),
    sa.Column('feature', sa.Text(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('notified', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['monitor_models.id'], name=op.f('fk_monitor_alerts_model_id_monitor_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_alerts')),
    sa.UniqueConstraint('model_id', 'key', name='uq_monitor_alerts_model_key')
    )
    op.create_table('monitor_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('n_rows', sa.Integer(), nullable=False),
    sa.Column('n_new', sa.Integer(), nullable=False),
    sa.Column('n_duplicate', sa.Integer(), nullable=False),
    sa.Column('n_updated', sa.Integer(), nullable=False),
    sa.Column('client_key', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['model_id'], ['monitor_models.id'], name=op.f('fk_monitor_batches_model_id_monitor_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_batches'))
    )
    op.create_table('monitor_buckets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('block', sa.BigInteger(), nullable=False),
    sa.Column('min_seq', sa.BigInteger(), nullable=False),
    sa.Column('max_seq', sa.BigInteger(), nullable=False),
    sa.Column('min_ts', sa.DateTime(), nullable=False),
    sa.Column('max_ts', sa.DateTime(), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['monitor_models.id'], name=op.f('fk_monitor_buckets_model_id_monitor_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_buckets')),
    sa.UniqueConstraint('model_id', 'version', 'day', 'block', name='uq_monitor_buckets_key')
    )
    op.create_table('monitor_queue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('row_id', sa.String(length=255), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('group_key', sa.Text(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['monitor_models.id'], name=op.f('fk_monitor_queue_model_id_monitor_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_queue')),
    sa.UniqueConstraint('model_id', 'row_id', 'reason', name='uq_monitor_queue_key')
    )
    op.create_table('monitor_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('profile', sa.JSON(), nullable=False),
    sa.Column('model_blob', sa.LargeBinary(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['model_id'], ['monitor_models.id'], name=op.f('fk_monitor_versions_model_id_monitor_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_versions')),
    sa.UniqueConstraint('model_id', 'version', name='uq_monitor_versions_model_version')
    )
    op.create_table('monitor_rows',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('row_id', sa.String(length=255), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('ts', sa.DateTime(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('bucket_id', sa.Integer(), nullable=False),
    sa.Column('group_key', sa.Text(), nullable=False),
    sa.Column('features', sa.JSON(), nullable=False),
    sa.Column('prediction', sa.Text(), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('ood_score', sa.Float(), nullable=True),
    sa.Column('label', sa.Text(), nullable=True),
    sa.Column('label_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['monitor_batches.id'], name=op.f('fk_monitor_rows_batch_id_monitor_batches'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['bucket_id'], ['monitor_buckets.id'], name=op.f('fk_monitor_rows_bucket_id_monitor_buckets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_id'], ['monitor_models.id'], name=op.f('fk_monitor_rows_model_id_monitor_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_rows')),
    sa.UniqueConstraint('model_id', 'row_id', name='uq_monitor_rows_model_row')
    )
    with op.batch_alter_table('monitor_rows', schema=None) as batch_op:
        batch_op.create_index('ix_monitor_rows_model_ts', ['model_id', 'ts'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('monitor_rows', schema=None) as batch_op:
        batch_op.drop_index('ix_monitor_rows_model_ts')

    op.drop_table('monitor_rows')
    op.drop_table('monitor_versions')
    op.drop_table('monitor_queue')
    op.drop_table('monitor_buckets')
    op.drop_table('monitor_batches')
    op.drop_table('monitor_alerts')
    op.drop_table('monitor_models')

