"""classroom: deadlines with grace, late penalties and extensions; a private board and its
reveal; final selection; grade mapping

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-06 11:30:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grace_seconds', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column(
            'late_penalty_kind',
            sa.Enum('none', 'fixed', 'per_day', name='late_penalty_kind', native_enum=False,
                    create_constraint=True, length=32),
            nullable=False, server_default='none'))
        batch_op.add_column(sa.Column('late_penalty_value', sa.Float(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('max_selected', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('private_scores', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column('reveal_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('revealed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('grade_mapping', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('late_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('late_penalty', sa.Float(), nullable=True))
    op.create_table(
        'deadline_extensions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('phase_id', sa.Integer(), nullable=False),
        sa.Column('subject_kind', sa.String(length=8), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('end', sa.DateTime(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('granted_by', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint("subject_kind IN ('user', 'team')", name=op.f('ck_deadline_extensions_subject_kind')),
        sa.ForeignKeyConstraint(['phase_id'], ['phases.id'], name=op.f('fk_deadline_extensions_phase_id_phases'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_deadline_extensions')),
        sa.UniqueConstraint('phase_id', 'subject_kind', 'subject', name=op.f('uq_deadline_extensions_phase_id')),
    )
    with op.batch_alter_table('deadline_extensions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deadline_extensions_phase_id'), ['phase_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deadline_extensions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deadline_extensions_phase_id'))
    op.drop_table('deadline_extensions')
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('late_penalty')
        batch_op.drop_column('late_seconds')
    with op.batch_alter_table('phases', schema=None) as batch_op:
        for name in ('grade_mapping', 'revealed_at', 'reveal_at', 'private_scores', 'max_selected',
                     'late_penalty_value', 'late_penalty_kind', 'grace_seconds'):
            batch_op.drop_column(name)
