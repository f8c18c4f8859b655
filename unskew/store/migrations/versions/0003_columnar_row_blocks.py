"""columnar row blocks: a batch's feature values as one Parquet blob instead of a JSON document per row

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 06:45:00

Existing rows are converted: per batch, the rows' JSON documents (in sequence
order) become one block, each row gets its position ``block_row``, and the
``features`` column is dropped. ``downgrade`` writes the JSON documents back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_rows = sa.table("monitor_rows", sa.column("id", sa.BigInteger), sa.column("batch_id", sa.Integer),
                 sa.column("model_id", sa.Integer), sa.column("seq", sa.BigInteger),
                 sa.column("features", sa.JSON), sa.column("block_row", sa.Integer))
_blocks = sa.table("monitor_row_blocks", sa.column("batch_id", sa.Integer), sa.column("model_id", sa.Integer),
                   sa.column("n_rows", sa.Integer), sa.column("n_live", sa.Integer), sa.column("format", sa.String),
                   sa.column("data", sa.LargeBinary))


def upgrade() -> None:
    import pandas as pd

    from unskew.store._blocks import FORMAT, encode_block

    op.create_table('monitor_row_blocks',
    sa.Column('batch_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('n_rows', sa.Integer(), nullable=False),
    sa.Column('n_live', sa.Integer(), nullable=False),
    sa.Column('format', sa.String(length=20), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['monitor_batches.id'], name=op.f('fk_monitor_row_blocks_batch_id_monitor_batches'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_id'], ['monitor_models.id'], name=op.f('fk_monitor_row_blocks_model_id_monitor_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('batch_id', name=op.f('pk_monitor_row_blocks'))
    )
    with op.batch_alter_table('monitor_rows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('block_row', sa.Integer(), nullable=True))

    conn = op.get_bind()
    batches = conn.execute(sa.select(_rows.c.batch_id, _rows.c.model_id, sa.func.count())
                           .group_by(_rows.c.batch_id, _rows.c.model_id).order_by(_rows.c.batch_id)).all()
    for batch_id, model_id, n in batches:
        got = conn.execute(sa.select(_rows.c.id, _rows.c.features).where(_rows.c.batch_id == batch_id)
                           .order_by(_rows.c.seq)).all()
        frame = pd.DataFrame([dict(f) for _, f in got])
        conn.execute(_blocks.insert().values(batch_id=batch_id, model_id=model_id, n_rows=int(n), n_live=int(n),
                                             format=FORMAT, data=encode_block(frame)))
        conn.execute(_rows.update().where(_rows.c.id == sa.bindparam("b_id")).values(block_row=sa.bindparam("b_pos")),
                     [{"b_id": rid, "b_pos": j} for j, (rid, _) in enumerate(got)])

    with op.batch_alter_table('monitor_rows', schema=None) as batch_op:
        batch_op.alter_column('block_row', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('features')


def downgrade() -> None:
    from unskew.store._blocks import decode_block, records

    with op.batch_alter_table('monitor_rows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('features', sa.JSON(), nullable=True))
    conn = op.get_bind()
    for batch_id, data in conn.execute(sa.select(_blocks.c.batch_id, _blocks.c.data)).all():
        recs = records(decode_block(data))
        got = conn.execute(sa.select(_rows.c.id, _rows.c.block_row).where(_rows.c.batch_id == batch_id)).all()
        if got:
            conn.execute(_rows.update().where(_rows.c.id == sa.bindparam("b_id")).values(features=sa.bindparam("b_f")),
                         [{"b_id": rid, "b_f": recs[pos]} for rid, pos in got])
    with op.batch_alter_table('monitor_rows', schema=None) as batch_op:
        batch_op.alter_column('features', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('block_row')
    op.drop_table('monitor_row_blocks')
