"""code revealed after a phase: the phase's rule and the organizers' choice per submission

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 12:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code_reveal', sa.String(length=16), nullable=False, server_default='none'))
        batch_op.add_column(sa.Column('code_reveal_top', sa.Integer(), nullable=False, server_default='3'))
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reveal_chosen', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('reveal_chosen')
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('code_reveal_top')
        batch_op.drop_column('code_reveal')
