"""bootstrap confidence intervals: each score's bounds and each leaderboard's bootstrap settings

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 12:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('low', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('high', sa.Float(), nullable=True))
    with op.batch_alter_table('leaderboards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bootstrap_resamples', sa.Integer(), nullable=False, server_default='1000'))
        batch_op.add_column(sa.Column('bootstrap_level', sa.Float(), nullable=False, server_default='0.95'))
        batch_op.add_column(sa.Column('bootstrap_seed', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('leaderboards', schema=None) as batch_op:
        batch_op.drop_column('bootstrap_seed')
        batch_op.drop_column('bootstrap_level')
        batch_op.drop_column('bootstrap_resamples')
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.drop_column('high')
        batch_op.drop_column('low')
