"""Each participant's final selection: up to ``max_selected`` of their scored submissions count
for the final (private) ranking. The selection locks when the participant's window closes (their
effective deadline plus the grace period). Without a selection, their best submissions on the
public board stand in (the fallback), and participants see which ones before the deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import isoformat, utcnow
from ..errors import InvalidTransition, NotFound, SelectionLimit, SelectionLocked
from ..leaderboards.ranking import ColumnSpec, ScoredSubmission, build_leaderboard
from ..leaderboards.store import column_specs, scored_submissions
from ..orm import Phase, Submission, SubmissionRule, SubmissionStatus
from ..submissions import lifecycle
from .deadlines import deadline_for


@dataclass(frozen=True)
class FinalSelection:
    """What counts for ``owner`` in the final ranking: ``chosen`` by them, or the fallback."""

    owner: str
    submissions: tuple[int, ...]
    chosen: bool


def fallback(subs: Sequence[ScoredSubmission], columns: Sequence[ColumnSpec], primary: str | None,
             limit: int) -> tuple[int, ...]:
    """One owner's best ``limit`` submissions by the public board's ranking."""
    ranked = build_leaderboard(subs, columns, SubmissionRule.all, primary)
    return tuple(e.submission_id for e in ranked[: max(1, limit)])


def finals(phase: Phase, subs: Iterable[ScoredSubmission]) -> dict[str, FinalSelection]:
    """Every owner's final selection from the phase's scored submissions (one read for all)."""
    board = phase.leaderboard
    columns = column_specs(board) if board is not None else []
    primary = board.primary_column_key if board is not None else None
    by_owner: dict[str, list[ScoredSubmission]] = {}
    for sub in subs:
        by_owner.setdefault(sub.owner, []).append(sub)
    chosen_allowed = phase.max_selected > 0
    result = {}
    for owner, mine in by_owner.items():
        picked = tuple(s.submission_id for s in mine if s.selected) if chosen_allowed else ()
        if picked:
            result[owner] = FinalSelection(owner, picked[: phase.max_selected], True)
        else:
            result[owner] = FinalSelection(owner, fallback(mine, columns, primary, phase.max_selected or 1), False)
    return result


def final_for(session: Session, phase: Phase, owner: str) -> FinalSelection | None:
    """``owner``'s final selection, or None when they have no scored submission."""
    return finals(phase, scored_submissions(session, phase, owner)).get(owner)


def check_open(session: Session, phase: Phase, owner: str) -> None:
    """Refuse a change to the selection once ``owner``'s window has closed."""
    deadline = deadline_for(session, phase, owner)
    if deadline.closed_at(utcnow()):
        raise SelectionLocked(
            f"Your final selection for phase '{phase.name}' locked at {deadline.grace_until.isoformat()}Z.")


def choose(session: Session, submission: Submission, selected: bool) -> None:
    """Select (or unselect) a submission for the final ranking, within the phase's limit."""
    phase = submission.phase
    if phase.max_selected > 0:
        check_open(session, phase, submission.owner)
        if selected and not submission.selected:
            count = session.scalar(select(func.count(Submission.id)).where(
                Submission.phase_id == phase.id, Submission.owner == submission.owner,
                Submission.parent_id.is_(None), Submission.selected.is_(True),
                Submission.status == SubmissionStatus.finished))
            if count >= phase.max_selected:
                raise SelectionLimit(
                    f"You have already selected {count} submission(s), the most phase '{phase.name}' allows; "
                    "unselect one first.")
    lifecycle.set_selected(session, submission, selected)


def selection_model(session: Session, phase: Phase, owner: str) -> dict:
    """What the participant sees: their selection or the fallback, and when it locks."""
    deadline = deadline_for(session, phase, owner)
    final = final_for(session, phase, owner)
    return {
        "phase": phase.id,
        "max_selected": phase.max_selected,
        "locks_at": isoformat(deadline.grace_until),
        "locked": deadline.closed_at(utcnow()),
        "chosen": bool(final and final.chosen),
        "submissions": list(final.submissions) if final else [],
        "fallback": bool(final) and not final.chosen,
    }


def replace_selection(session: Session, phase: Phase, owner: str, submission_ids: list[int]) -> None:
    """Make ``submission_ids`` (the owner's finished submissions in ``phase``) their whole final
    selection; an empty list returns them to the fallback."""
    if phase.max_selected <= 0:
        raise SelectionLimit(f"Phase '{phase.name}' has no final selection (max_selected is 0).")
    check_open(session, phase, owner)
    wanted = list(dict.fromkeys(submission_ids))
    if len(wanted) > phase.max_selected:
        raise SelectionLimit(f"Phase '{phase.name}' counts at most {phase.max_selected} selected submission(s); "
                             f"{len(wanted)} were given.")
    mine = {s.id: s for s in session.scalars(select(Submission).where(
        Submission.phase_id == phase.id, Submission.owner == owner, Submission.parent_id.is_(None),
        Submission.is_dry_run.is_(False)))}
    unknown = [i for i in wanted if i not in mine]
    if unknown:
        raise NotFound(f"No submission {', '.join(map(str, unknown))} of yours in phase '{phase.name}'.")
    for sid in wanted:
        if mine[sid].status != SubmissionStatus.finished:
            raise InvalidTransition(f"Submission {sid} is {mine[sid].status.value}; only a finished one can be selected.")
    for sid, sub in mine.items():
        sub.selected = sid in wanted
    session.flush()
