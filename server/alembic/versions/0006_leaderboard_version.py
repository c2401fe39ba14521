"""a phase's leaderboard version: bumped by every rebuild, so a page cache knows when it is stale

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 03:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('leaderboard_version', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('leaderboard_version')
