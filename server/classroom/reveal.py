"""The private board and its reveal.

A phase with ``private_scores`` has its scoring program write a second set of keys for the private
part of the reference data, each mapped to the leaderboard column it stands for (Codabench names a
column by the key the scoring program writes; the private key is just another such key). Until the
reveal (an organizer's call, or the phase's ``reveal_at``) participants never see a private key:
``hidden_keys`` is what every participant-facing answer removes. The private board ranks each
participant's final selection (``selection``) on the private scores; the shake-up is how many
places each moved from the public board.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import isoformat, utcnow
from ..errors import Conflict, ValidationFailed
from ..leaderboards.ranking import ScoredSubmission, build_leaderboard
from ..leaderboards.store import column_specs, scored_submissions
from ..orm import Phase, SubmissionRule
from .selection import finals


def has_private_board(phase: Phase) -> bool:
    return bool(phase.private_scores)


def is_revealed(phase: Phase, now: datetime | None = None) -> bool:
    """Whether the private board is visible to participants (always, for a phase without one)."""
    if not has_private_board(phase) or phase.revealed_at is not None:
        return True
    return phase.reveal_at is not None and (now or utcnow()) >= phase.reveal_at


def next_reveal(phases: Iterable[Phase], now: datetime | None = None) -> datetime | None:
    """The first date at which one of ``phases`` reveals its private board by itself: what a
    participant may see of them changes then, with no write to tell a cache."""
    now = now or utcnow()
    due = [p.reveal_at for p in phases if p.reveal_at is not None and not is_revealed(p, now)]
    return min(due, default=None)


def record_due_reveals(session: Session, now: datetime) -> list[int]:
    """Phases whose ``reveal_at`` has come, their reveal recorded now (``revealed_at``, the date
    it was due), so that what a reveal does besides showing the board (the grades to linked
    courses) runs once: each phase locked ``SKIP LOCKED``, so one pass of one replica takes it.
    Returns their ids."""
    due = session.scalars(
        select(Phase).where(Phase.reveal_at.is_not(None), Phase.reveal_at <= now, Phase.revealed_at.is_(None))
        .with_for_update(skip_locked=True)
    ).all()
    recorded = []
    for phase in due:
        if has_private_board(phase):
            phase.revealed_at = phase.reveal_at
            recorded.append(phase.id)
    return recorded


def hidden_keys(phase: Phase, manages: bool) -> Collection[str]:
    """The score keys the caller may not see now (organizers see every key)."""
    if manages or is_revealed(phase):
        return ()
    return phase.private_scores.keys()


def check_mapping(phase: Phase, mapping: dict[str, str]) -> None:
    """Each private key maps to a scored column of the phase's board and is not a column itself."""
    board = phase.leaderboard
    scored = {c.key for c in board.columns if c.computation is None} if board else set()
    problems = []
    for private_key, column in mapping.items():
        if private_key in scored:
            problems.append({"location": f"private_scores.{private_key}",
                             "message": "is a public column of the leaderboard; a private key must differ"})
        if column not in scored:
            problems.append({"location": f"private_scores.{private_key}",
                             "message": f"'{column}' is not a scored column of the phase's leaderboard"})
    if problems:
        raise ValidationFailed("private_scores: " + "; ".join(f"{p['location']} {p['message']}" for p in problems),
                               problems)


def reveal(phase: Phase) -> None:
    """Make the private board visible to participants now."""
    if not has_private_board(phase):
        raise Conflict(f"Phase '{phase.name}' has no private board (set private_scores first).")
    if phase.revealed_at is None:
        phase.revealed_at = utcnow()


@dataclass(frozen=True)
class PrivateRow:
    owner: str
    private_rank: int
    public_rank: int | None
    submission: int
    scores: dict[str, float | None]

    @property
    def shake_up(self) -> int | None:
        """Places gained (positive) or lost from the public board to the private one."""
        return None if self.public_rank is None else self.public_rank - self.private_rank

    def as_json(self) -> dict:
        return {"owner": self.owner, "rank": self.private_rank, "public_rank": self.public_rank,
                "shake_up": self.shake_up, "submission": self.submission, "scores": self.scores}


def private_board(session: Session, phase: Phase) -> list[PrivateRow]:
    """Each participant's best final submission ranked on the private scores, with their public
    rank (their best public submission's, as the public board ranks by the best) beside it."""
    if not has_private_board(phase):
        return []
    return final_board(session, phase)


def final_board(session: Session, phase: Phase) -> list[PrivateRow]:
    """The final ranking of the participants' final selections: on the private scores where the
    phase has a private board, else on the public ones."""
    board = phase.leaderboard
    if board is None:
        return []
    columns = column_specs(board)
    primary = board.primary_column_key
    subs = scored_submissions(session, phase)
    public = {e.owner: e.rank for e in build_leaderboard(subs, columns, SubmissionRule.best, primary)}
    chosen = {sid for final in finals(phase, subs).values() for sid in final.submissions}
    mapping = phase.private_scores or {c.key: c.key for c in columns if c.computation is None}
    final = [
        ScoredSubmission(submission_id=s.submission_id, owner=s.owner, created_at=s.created_at,
                         scores={column: s.scores[key] for key, column in mapping.items() if key in s.scores})
        for s in subs if s.submission_id in chosen
    ]
    ranked = build_leaderboard(final, columns, SubmissionRule.best, primary)
    return [PrivateRow(owner=e.owner, private_rank=e.rank, public_rank=public.get(e.owner),
                       submission=e.submission_id, scores=dict(e.values)) for e in ranked]


def reveal_model(phase: Phase) -> dict:
    return {"phase": phase.id, "private": has_private_board(phase), "revealed": is_revealed(phase),
            "revealed_at": isoformat(phase.revealed_at), "reveal_at": isoformat(phase.reveal_at)}
