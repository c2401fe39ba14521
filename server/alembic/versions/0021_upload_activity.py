"""when a submission's upload in parts last moved on, so the reaper leaves a long upload alone

Revision ID: 0021
Revises: 0018
Create Date: 2026-12-06 12:40:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('upload_active_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('upload_active_at')
