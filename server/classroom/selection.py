"""Each participant's (or team's) final selection: up to ``max_selected`` of their scored
submissions count for the final (private) ranking; a team selects once for all its members. The
selection locks when the participant's window closes (their effective deadline, or their team's,
plus the grace period). Without a selection, their best submissions on the
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
from ..teams import competitors
from ..teams.competitors import Competitor
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
    """The final selection of leaderboard owner ``owner`` (a user alone or ``team/<name>``), or
    None when they have no scored submission."""
    return finals(phase, scored_submissions(session, phase, owner)).get(owner)


def check_open(session: Session, phase: Phase, who: Competitor) -> None:
    """Refuse a change to the selection once ``who``'s window (theirs or their team's) has closed."""
    deadline = deadline_for(session, phase, who.username, who.teams)
    if deadline.closed_at(utcnow()):
        whose = f"Team {who.team_name}'s" if who.team_name else "Your"
        raise SelectionLocked(
            f"{whose} final selection for phase '{phase.name}' locked at {deadline.grace_until.isoformat()}Z.")


def choose(session: Session, submission: Submission, selected: bool, who: Competitor | None = None) -> None:
    """Select (or unselect) a submission for the final ranking, within the phase's limit: a team's
    submission counts against the team's limit, whichever member selects it. ``who`` is the caller
    (their window applies); by default the submission's maker."""
    phase = submission.phase
    if phase.max_selected > 0:
        check_open(session, phase, who or competitors.of_submission(session, submission))
        if selected and not submission.selected:
            row = competitors.submission_key(session, submission)
            count = session.scalar(select(func.count(Submission.id)).where(
                Submission.phase_id == phase.id, competitors.rows_of(row, phase.competition_id),
                Submission.parent_id.is_(None), Submission.selected.is_(True),
                Submission.status == SubmissionStatus.finished))
            if count >= phase.max_selected:
                whose = f"Team {competitors.team_named(row)} has" if competitors.team_named(row) else "You have"
                raise SelectionLimit(
                    f"{whose} already selected {count} submission(s), the most phase '{phase.name}' allows; "
                    "unselect one first.")
    lifecycle.set_selected(session, submission, selected)


def selection_model(session: Session, phase: Phase, who: Competitor) -> dict:
    """What the participant sees: their (team's) selection or the fallback, and when it locks."""
    deadline = deadline_for(session, phase, who.username, who.teams)
    final = final_for(session, phase, who.key)
    return {
        "phase": phase.id,
        "team": who.team_name,
        "max_selected": phase.max_selected,
        "locks_at": isoformat(deadline.grace_until),
        "locked": deadline.closed_at(utcnow()),
        "chosen": bool(final and final.chosen),
        "submissions": list(final.submissions) if final else [],
        "fallback": bool(final) and not final.chosen,
    }


def replace_selection(session: Session, phase: Phase, who: Competitor, submission_ids: list[int]) -> None:
    """Make ``submission_ids`` (finished submissions of ``who``'s leaderboard row in ``phase``: their
    team's, or their own) the whole final selection; an empty list returns to the fallback."""
    if phase.max_selected <= 0:
        raise SelectionLimit(f"Phase '{phase.name}' has no final selection (max_selected is 0).")
    check_open(session, phase, who)
    wanted = list(dict.fromkeys(submission_ids))
    if len(wanted) > phase.max_selected:
        raise SelectionLimit(f"Phase '{phase.name}' counts at most {phase.max_selected} selected submission(s); "
                             f"{len(wanted)} were given.")
    mine = {s.id: s for s in session.scalars(select(Submission).where(
        Submission.phase_id == phase.id, competitors.rows_of(who.key, phase.competition_id),
        Submission.parent_id.is_(None), Submission.is_dry_run.is_(False)))}
    unknown = [i for i in wanted if i not in mine]
    if unknown:
        whose = f"team {who.team_name}'s" if who.team_name else "yours"
        raise NotFound(f"No submission {', '.join(map(str, unknown))} of {whose} in phase '{phase.name}'.")
    for sid in wanted:
        if mine[sid].status != SubmissionStatus.finished:
            raise InvalidTransition(f"Submission {sid} is {mine[sid].status.value}; only a finished one can be selected.")
    for sid, sub in mine.items():
        sub.selected = sid in wanted
    session.flush()
