"""Code revealed after a phase, as CodaLab's public submissions and RAMP's collaborative phase
do: once a phase has ended, every participant may download the code of some of its
submissions, and start their own work from it.

The phase's ``code_reveal`` says whose: ``chosen`` (the organizers pick submissions),
``top`` (the leaderboard's first ``code_reveal_top`` rows) or ``opted_in`` (every submission
its owner made public); ``none`` (the default) reveals nothing. In every mode the owner's
consent (``Submission.is_public``) is required: a top submission whose owner did not make it
public is left out, never replaced by the next one, so the list says who shared, not who ranked.
Organizers see the list at any time (to check it before the end); participants only after
the phase's end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import CodeNotRevealed
from ..orm import LeaderboardEntry, Phase, Submission, SubmissionStatus

CODE_REVEAL_MODES = ("none", "chosen", "top", "opted_in")


@dataclass(frozen=True)
class Revealed:
    submission: Submission
    #: its leaderboard rank, when it is on the leaderboard
    rank: int | None


def check_open(phase: Phase, now: datetime, manages: bool) -> None:
    """Raise CodeNotRevealed unless the caller may see the phase's revealed code now."""
    if phase.code_reveal == "none":
        raise CodeNotRevealed(f"Phase '{phase.name}' does not reveal code.")
    if manages:
        return
    if phase.end is None or now < phase.end:
        when = f" when it ends ({phase.end.isoformat()}Z)" if phase.end else " when it ends; it has no end date yet"
        raise CodeNotRevealed(f"The code of phase '{phase.name}' is revealed{when}.")


def revealed(session: Session, phase: Phase) -> list[Revealed]:
    """The phase's revealed submissions under its rule, leaderboard order first, then oldest first."""
    ranks = dict(session.execute(
        select(LeaderboardEntry.submission_id, LeaderboardEntry.rank).where(LeaderboardEntry.phase_id == phase.id)
    ).all())
    shared = [
        Submission.phase_id == phase.id,
        Submission.parent_id.is_(None),
        Submission.is_dry_run.is_(False),
        Submission.status == SubmissionStatus.finished,
        Submission.is_public.is_(True),
    ]
    if phase.code_reveal == "chosen":
        shared.append(Submission.reveal_chosen.is_(True))
    elif phase.code_reveal == "top":
        top = sorted(ranks.items(), key=lambda item: item[1])[:phase.code_reveal_top]
        shared.append(Submission.id.in_([sid for sid, _ in top]))
    elif phase.code_reveal != "opted_in":
        return []
    found = session.scalars(select(Submission).where(*shared).order_by(Submission.created_at, Submission.id)).all()
    return sorted((Revealed(s, ranks.get(s.id)) for s in found),
                  key=lambda r: (r.rank is None, r.rank or 0))
