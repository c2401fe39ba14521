"""a phase's opt-in for notebook submissions, executed by the worker

Revision ID: 0019
Revises: 0020
Create Date: 2026-12-06 12:45:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accepts_notebooks', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('accepts_notebooks')
