"""list endpoints read one index range: newest-first id indexes for submissions (partial: only
top-level submissions list) and an id index for a competition's registrations

The old (owner, created_at) index served only "my submissions", which orders by id; it is
replaced by (owner, id).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 06:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TOP_LEVEL = sa.text('parent_id IS NULL')
LISTING = (
    ('ix_submissions_owner_listing', ['owner', 'id']),
    ('ix_submissions_phase_owner_listing', ['phase_id', 'owner', 'id']),
    ('ix_submissions_phase_listing', ['phase_id', 'id']),
)


def upgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_submissions_owner_created')
        for name, columns in LISTING:
            batch_op.create_index(name, columns, unique=False, postgresql_where=TOP_LEVEL, sqlite_where=TOP_LEVEL)
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.create_index('ix_participants_competition_listing', ['competition_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.drop_index('ix_participants_competition_listing')
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        for name, _ in reversed(LISTING):
            batch_op.drop_index(name)
        batch_op.create_index('ix_submissions_owner_created', ['owner', 'created_at'], unique=False)
