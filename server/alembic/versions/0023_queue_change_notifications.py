"""PostgreSQL: notify ``podium_changes`` when a compute queue changes

Each service process remembers which queue a worker's token names
(``podium.server.compute.queues.RememberedTokens``); a statement trigger on ``compute_queues``
tells the other processes and replicas, at commit, that a token was rotated or a queue deleted.
The function is migration 0013's. SQLite serves one process and needs nothing here.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 10:00:00.000000
"""

from alembic import op


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TRIGGER podium_changes_compute_queues AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON compute_queues "
        "FOR EACH STATEMENT EXECUTE FUNCTION podium_notify_change()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS podium_changes_compute_queues ON compute_queues")
