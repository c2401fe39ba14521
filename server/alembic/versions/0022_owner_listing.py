""""my submissions" reads one index range per owner and team, and the service learns whose
submissions changed

* The list's old (owner, id) index also held the submissions an owner made for a team, which a
  personal listing skips, so PostgreSQL counted through the heap. It is replaced by a personal
  one (``team_id IS NULL``: an index-only count) and a (team_id, id) one for a team's rows; each
  branch of the listing reads its own range (``apihandlers.paging.branch_page``).
* PostgreSQL: row changes of ``submissions`` and ``scores`` notify ``podium_submissions`` with
  the owner (``o:<name>``) and team (``t:<id>``) they touch, so every service process drops the
  pages of exactly those lists (``submissions.listing_cache``); ``teams`` and ``team_members``
  join the tables whose change notifies ``podium_changes`` (who sees which team's rows).
  Statement triggers with transition tables: a bulk insert sends one notification per owner,
  not per row.

Revision ID: 0022
Revises: 0019
Create Date: 2026-12-06 15:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0019'
branch_labels = None
depends_on = None

TOP_LEVEL = 'parent_id IS NULL'
PERSONAL = 'parent_id IS NULL AND team_id IS NULL'
WATCHED_NOW = ("teams", "team_members")

# one notification per distinct owner and team of the rows a statement touched (transition tables)
SUBMISSION_ROWS = (
    "SELECT DISTINCT payload FROM ("
    " SELECT 'o:' || owner AS payload FROM {rows}"
    " UNION ALL SELECT 't:' || team_id FROM {rows} WHERE team_id IS NOT NULL) touched"
)
SCORE_ROWS = (
    "SELECT DISTINCT payload FROM ("
    " SELECT 'o:' || s.owner AS payload FROM {rows} r JOIN submissions s ON s.id = r.submission_id"
    " UNION ALL SELECT 't:' || s.team_id FROM {rows} r JOIN submissions s ON s.id = r.submission_id"
    " WHERE s.team_id IS NOT NULL) touched"
)


def _function(name: str, query: str, tables: tuple[str, ...]) -> str:
    selects = " UNION ".join(query.format(rows=t) for t in tables)
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "DECLARE touched record; BEGIN "
        f"FOR touched IN {selects} LOOP PERFORM pg_notify('podium_submissions', touched.payload); END LOOP; "
        "RETURN NULL; END $$"
    )


def upgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_submissions_owner_listing')
        batch_op.create_index('ix_submissions_personal_listing', ['owner', 'id'], unique=False,
                              postgresql_where=sa.text(PERSONAL), sqlite_where=sa.text(PERSONAL))
        batch_op.create_index('ix_submissions_team_listing', ['team_id', 'id'], unique=False,
                              postgresql_where=sa.text(TOP_LEVEL), sqlite_where=sa.text(TOP_LEVEL))
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in WATCHED_NOW:  # the function is migration 0013's
        op.execute(
            f"CREATE TRIGGER podium_changes_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION podium_notify_change()"
        )
    for table, query in (("submissions", SUBMISSION_ROWS), ("scores", SCORE_ROWS)):
        for event, tables in (("INSERT", ("new_rows",)), ("UPDATE", ("old_rows", "new_rows")),
                              ("DELETE", ("old_rows",))):
            function = f"podium_notify_{table}_{event.lower()}"
            op.execute(_function(function, query, tables))
            referencing = " ".join(f"{'OLD' if t == 'old_rows' else 'NEW'} TABLE AS {t}" for t in tables)
            op.execute(
                f"CREATE TRIGGER podium_owner_changes_{table}_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
    op.execute(
        "CREATE OR REPLACE FUNCTION podium_notify_everyone() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN PERFORM pg_notify('podium_submissions', '*'); RETURN NULL; END $$"
    )
    for table in ("submissions", "scores"):
        op.execute(
            f"CREATE TRIGGER podium_owner_changes_{table}_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION podium_notify_everyone()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("submissions", "scores"):
            for event in ("insert", "update", "delete", "truncate"):
                op.execute(f"DROP TRIGGER IF EXISTS podium_owner_changes_{table}_{event} ON {table}")
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP FUNCTION IF EXISTS podium_notify_{table}_{event}()")
        op.execute("DROP FUNCTION IF EXISTS podium_notify_everyone()")
        for table in WATCHED_NOW:
            op.execute(f"DROP TRIGGER IF EXISTS podium_changes_{table} ON {table}")
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_submissions_team_listing')
        batch_op.drop_index('ix_submissions_personal_listing')
        batch_op.create_index('ix_submissions_owner_listing', ['owner', 'id'], unique=False,
                              postgresql_where=sa.text(TOP_LEVEL), sqlite_where=sa.text(TOP_LEVEL))
