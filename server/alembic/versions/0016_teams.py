"""teams: a competition's team policy, its teams, their members and invitations; a submission's team.
LTI 1.3: login states and nonces, LMS users mapped to hub users, course links to competitions

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 11:40:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'team_policies',
        sa.Column('competition_id', sa.Integer(), nullable=False),
        sa.Column('participant_teams', sa.Boolean(), nullable=False),
        sa.Column('max_size', sa.Integer(), nullable=False),
        sa.Column('join_deadline', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['competition_id'], ['competitions.id'], ondelete='CASCADE',
                                name=op.f('fk_team_policies_competition_id_competitions')),
        sa.PrimaryKeyConstraint('competition_id', name=op.f('pk_team_policies')),
    )
    op.create_table(
        'teams',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('competition_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('hub_group', sa.String(length=255), nullable=True),
        sa.Column('created_by', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['competition_id'], ['competitions.id'], ondelete='CASCADE',
                                name=op.f('fk_teams_competition_id_competitions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
        sa.UniqueConstraint('competition_id', 'name', name=op.f('uq_teams_competition_id')),
    )
    op.create_index(op.f('ix_teams_competition_id'), 'teams', ['competition_id'], unique=False)
    op.create_table(
        'team_members',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('competition_id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=255), nullable=False),
        sa.Column('joined_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['competition_id'], ['competitions.id'], ondelete='CASCADE',
                                name=op.f('fk_team_members_competition_id_competitions')),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], ondelete='CASCADE',
                                name=op.f('fk_team_members_team_id_teams')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_team_members')),
        sa.UniqueConstraint('competition_id', 'username', name=op.f('uq_team_members_competition_id')),
    )
    op.create_index(op.f('ix_team_members_team_id'), 'team_members', ['team_id'], unique=False)
    op.create_table(
        'team_invitations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=255), nullable=False),
        sa.Column('invited_by', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], ondelete='CASCADE',
                                name=op.f('fk_team_invitations_team_id_teams')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_team_invitations')),
        sa.UniqueConstraint('team_id', 'username', name=op.f('uq_team_invitations_team_id')),
    )
    op.create_index(op.f('ix_team_invitations_team_id'), 'team_invitations', ['team_id'], unique=False)
    op.create_table(
        'lti_states',
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('value', sa.JSON(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_lti_states')),
    )
    op.create_index(op.f('ix_lti_states_expires_at'), 'lti_states', ['expires_at'], unique=False)
    op.create_table(
        'lti_users',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('issuer', sa.String(length=255), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('username', sa.String(length=255), nullable=False),
        sa.Column('last_launch_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_users')),
        sa.UniqueConstraint('issuer', 'subject', name=op.f('uq_lti_users_issuer')),
    )
    op.create_table(
        'lti_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('competition_id', sa.Integer(), nullable=False),
        sa.Column('issuer', sa.String(length=255), nullable=False),
        sa.Column('client_id', sa.String(length=255), nullable=False),
        sa.Column('deployment_id', sa.String(length=255), nullable=False),
        sa.Column('resource_link_id', sa.String(length=255), nullable=False),
        sa.Column('context_id', sa.String(length=255), nullable=True),
        sa.Column('context_title', sa.String(length=255), nullable=True),
        sa.Column('ags', sa.JSON(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['competition_id'], ['competitions.id'], ondelete='CASCADE',
                                name=op.f('fk_lti_links_competition_id_competitions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_links')),
        sa.UniqueConstraint('issuer', 'deployment_id', 'resource_link_id', name=op.f('uq_lti_links_issuer')),
    )
    op.create_index(op.f('ix_lti_links_competition_id'), 'lti_links', ['competition_id'], unique=False)
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_submissions_team_id'), ['team_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_submissions_team_id_teams'), 'teams', ['team_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_submissions_team_id_teams'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_submissions_team_id'))
        batch_op.drop_column('team_id')
    op.drop_table('lti_links')
    op.drop_table('lti_users')
    op.drop_table('lti_states')
    op.drop_table('team_invitations')
    op.drop_table('team_members')
    op.drop_table('teams')
    op.drop_table('team_policies')
