"""Periodic work that runs once across every process and replica: a pass takes a PostgreSQL
advisory lock for its transaction, and a process that does not get it skips the pass.

The lock is transaction-scoped (``pg_try_advisory_xact_lock``): it ends with the pass's commit or
rollback, and with the connection if the process holding it dies, so a crash loses nothing (its
transaction rolls back and the next pass, anywhere, does the work). A pass that waits for the lock
sees what the previous holder committed, because each statement of a read-committed transaction
reads the latest commits. SQLite runs one service process (``PodiumService.process_count``), and
its database lock serialises writers anyway, so there the pass always runs.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.orm import Session


def lock_key(job: str) -> int:
    """The advisory lock's key for ``job``: a stable signed 64-bit number (PostgreSQL's bigint)."""
    digest = hashlib.sha256(b"podium-job:" + job.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def hold(session: Session, job: str) -> bool:
    """Take ``job``'s lock until the session's transaction ends; False if another transaction
    (in any process or replica) holds it, and the caller then skips this pass."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(job)}))
