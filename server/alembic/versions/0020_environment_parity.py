"""a phase's own runtime image and a task's public reference split (public scoring kit)

Revision ID: 0020
Revises: 0021
Create Date: 2026-12-06 12:40:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0021'
branch_labels = None
depends_on = None

KINDS_BEFORE = ('scoring_program', 'ingestion_program', 'input_data', 'reference_data', 'public_data',
                'starting_kit', 'solution', 'submission', 'output', 'log', 'logo', 'bundle')
KINDS_AFTER = KINDS_BEFORE + ('public_reference_data',)


def _kind_check(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def upgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('docker_image', sa.String(length=255), nullable=True))
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_reference_data_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_tasks_public_reference_data_id_artifacts'), 'artifacts',
                                    ['public_reference_data_id'], ['id'])
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_artifacts_artifact_kind'), type_='check')
        batch_op.create_check_constraint('artifact_kind', _kind_check(KINDS_AFTER))


def downgrade() -> None:
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_artifacts_artifact_kind'), type_='check')
        batch_op.create_check_constraint('artifact_kind', _kind_check(KINDS_BEFORE))
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_tasks_public_reference_data_id_artifacts'), type_='foreignkey')
        batch_op.drop_column('public_reference_data_id')
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('docker_image')
