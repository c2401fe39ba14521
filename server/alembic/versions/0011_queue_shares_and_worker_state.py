"""organizer-owned queues shared with hub users and groups; a worker's version and why it cannot work

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 11:40:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'queue_shares',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('queue_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('user', 'group', name='queue_share_kind', native_enum=False,
                                  create_constraint=True, length=32), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['queue_id'], ['compute_queues.id'], name=op.f('fk_queue_shares_queue_id_compute_queues'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_shares')),
        sa.UniqueConstraint('queue_id', 'kind', 'name', name=op.f('uq_queue_shares_queue_id')),
    )
    op.create_index(op.f('ix_queue_shares_queue_id'), 'queue_shares', ['queue_id'], unique=False)
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('protocol', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cannot_work', sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.drop_column('cannot_work')
        batch_op.drop_column('protocol')
        batch_op.drop_column('version')
    op.drop_index(op.f('ix_queue_shares_queue_id'), table_name='queue_shares')
    op.drop_table('queue_shares')
