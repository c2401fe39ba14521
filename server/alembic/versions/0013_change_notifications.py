"""PostgreSQL: notify ``podium_changes`` when a table behind the leaderboard's fast path changes

Each service process remembers who may read which leaderboard and its current version
(``podium.server.leaderboards.changes``); a statement trigger on each of these tables tells the
other processes and replicas, at commit, that what they remember may be stale. SQLite serves one
process and needs nothing here.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-06 11:40:00.000000
"""

from alembic import op


revision = '0013'
down_revision = '0011'
branch_labels = None
depends_on = None

# the same list as podium.server.leaderboards.changes.WATCHED, frozen as of this revision
WATCHED = ("competitions", "phases", "leaderboards", "leaderboard_columns", "organizers", "participants")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE OR REPLACE FUNCTION podium_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN PERFORM pg_notify('podium_changes', TG_TABLE_NAME); RETURN NULL; END $$"
    )
    for table in WATCHED:
        op.execute(
            f"CREATE TRIGGER podium_changes_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION podium_notify_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in WATCHED:
        op.execute(f"DROP TRIGGER IF EXISTS podium_changes_{table} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS podium_notify_change()")
