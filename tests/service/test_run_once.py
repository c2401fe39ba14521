"""Periodic work runs once across processes and replicas: the reaper's pass takes a PostgreSQL
advisory lock for its transaction, and a due phase is migrated by one transaction only (its row
is locked, and a concurrent pass skips it). Two sessions on the service's database play two
replicas; PostgreSQL only (SQLite runs one process)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import competition_body, unique_slug
from podium.server import run_once
from podium.server.clock import utcnow
from podium.server.competitions.phase_migration import migrate_due_phases
from podium.server.orm import Phase

pytestmark = pytest.mark.one_backend


def two_phase_competition(api, creator) -> tuple[dict, object]:
    """A published competition whose second phase (auto-migrating) starts in an hour."""
    start = utcnow().replace(microsecond=0) - timedelta(days=1)
    final_start = utcnow().replace(microsecond=0) + timedelta(hours=1)
    phases = [
        {"name": "Development", "start": start.isoformat() + "Z", "end": final_start.isoformat() + "Z",
         "tasks": ["main"], "leaderboard": "main"},
        {"name": "Final", "start": final_start.isoformat() + "Z", "tasks": ["main"], "leaderboard": "main",
         "auto_migrate": True},
    ]
    comp = api(creator, "POST", "/competitions", json=competition_body(unique_slug("once"), phases=phases),
               expect=201).json()
    api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    return comp, final_start


def migrated_at(service, phase_id: int):
    with service.app.session_factory() as session:
        return session.scalar(sa.select(Phase.migrated_at).where(Phase.id == phase_id))


#: a job of these tests alone: the service's own timers take the reaper's lock every second,
#: and one of their passes, between a test's steps, once held it when the test expected it free
JOB = "test-run-once-job"


def test_a_job_lock_is_held_by_one_transaction_and_freed_by_its_end(service) -> None:
    first, second = service.app.session_factory(), service.app.session_factory()
    try:
        assert run_once.hold(first, JOB)
        assert not run_once.hold(second, JOB)  # another replica's pass skips
        assert run_once.hold(second, "another-job")  # each job has its own lock
        first.commit()
        second.rollback()
        assert run_once.hold(second, JOB)
    finally:
        first.close()
        second.close()


def test_a_crashed_holder_loses_its_lock_and_nothing_else(service) -> None:
    holder, other = service.app.session_factory(), service.app.session_factory()
    try:
        assert run_once.hold(holder, JOB)
        pid = holder.scalar(sa.text("SELECT pg_backend_pid()"))
        assert not run_once.hold(other, JOB)
        other.rollback()
        with service.app.engine.connect() as admin:  # the holder's process dies mid-pass
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})  # waits for its end
        assert run_once.hold(other, JOB)
    finally:
        holder.invalidate()
        other.close()


def test_two_concurrent_passes_migrate_a_due_phase_once(api, creator, service) -> None:
    comp, final_start = two_phase_competition(api, creator)
    final = comp["phases"][1]["id"]
    due = final_start + timedelta(minutes=1)
    first, second = service.app.session_factory(), service.app.session_factory()
    try:
        migrate_due_phases(first, due)
        locked = first.get(Phase, final)
        assert locked.migrated_at == due  # not committed yet
        with second.begin():
            second.execute(sa.text("SET LOCAL lock_timeout = '5s'"))  # a wait would be the bug
            migrate_due_phases(second, due)  # returns at once: the phase is skipped, not waited for
            assert second.scalar(sa.select(Phase.migrated_at).where(Phase.id == final)) is None
        first.commit()
        with second.begin():
            migrate_due_phases(second, due + timedelta(seconds=1))
        assert migrated_at(service, final) == due  # the first pass's, not migrated again
    finally:
        first.close()
        second.close()


def test_the_reaper_pass_skips_while_another_replica_holds_it(api, creator, service, clock) -> None:
    comp, final_start = two_phase_competition(api, creator)
    final = comp["phases"][1]["id"]
    clock.set(final_start + timedelta(minutes=1))
    other_replica = service.app.session_factory()
    try:
        assert run_once.hold(other_replica, "reaper")
        service.app.reap()
        assert migrated_at(service, final) is None  # this pass was the other replica's to run
        other_replica.rollback()  # that replica crashed mid-pass: its work is not lost
        service.app.reap()
        assert migrated_at(service, final) == final_start + timedelta(minutes=1)
    finally:
        other_replica.close()
