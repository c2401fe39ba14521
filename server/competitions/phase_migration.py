"""Phase auto-migration: when a phase with ``auto_migrate`` starts, the previous phase's
leaderboard submissions are re-run on the new phase's tasks (CodaLab's ``auto_migration``,
Codabench's ``auto_migrate_to_this_phase``). The copies cost no quota."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..compute import attempts as jobs
from ..orm import LeaderboardEntry, Phase, Submission, SubmissionFile, SubmissionStatus
from ..submissions import lifecycle as subs


def migrate_due_phases(session: Session, now: datetime | None = None) -> list[Submission]:
    """Run every migration that is due; returns the new submissions (queued).

    The due phases are locked for the transaction (skipping those another transaction holds),
    so that two callers never copy the same phase: the second one skips a phase the first is
    migrating, and once the first commits, ``migrated_at`` keeps it out of every later pass."""
    now = now or utcnow()
    created: list[Submission] = []
    due = session.scalars(
        select(Phase)
        .where(Phase.auto_migrate.is_(True), Phase.migrated_at.is_(None), Phase.start <= now)
        .with_for_update(skip_locked=True, of=Phase)
    ).all()
    for phase in due:
        previous = session.scalars(
            select(Phase)
            .where(Phase.competition_id == phase.competition_id, Phase.index < phase.index)
            .order_by(Phase.index.desc())
        ).first()
        phase.migrated_at = now
        if previous is None:
            continue
        seen: set[int] = set()
        for entry in session.scalars(
            select(LeaderboardEntry).where(LeaderboardEntry.phase_id == previous.id).order_by(LeaderboardEntry.rank)
        ):
            if entry.submission_id in seen:
                continue
            seen.add(entry.submission_id)
            original = session.get(Submission, entry.submission_id)
            upload = subs.upload_of(original)
            if upload is None:
                continue
            copy = Submission(
                phase_id=phase.id, owner=original.owner, team_id=original.team_id,
                status=SubmissionStatus.submitted, submitted_at=now,
                created_at=now, size=original.size, sha256=original.sha256, counts_toward_quota=False,
                description=f"Migrated from phase '{previous.name}' (submission {original.id})",
                migrated_from_id=original.id, fact_sheet_answers=original.fact_sheet_answers or {},
            )
            copy.files.append(SubmissionFile(artifact=upload, role="submission"))
            session.add(copy)
            session.flush()
            jobs.start(session, copy)
            created.append(copy)
    return created
