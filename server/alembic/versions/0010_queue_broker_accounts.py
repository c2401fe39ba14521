"""a compute queue's broker password: its own RabbitMQ user on its own virtual host

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 11:30:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('compute_queues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('broker_password', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('compute_queues', schema=None) as batch_op:
        batch_op.drop_column('broker_password')
