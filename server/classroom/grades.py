"""Grades: every roster member's final score, rank, late penalty and grade, for the gradebook.

The instructor's mapping (``phase.grade_mapping``) turns a final score into a grade:

- ``{"kind": "linear", "low": 0.5, "high": 0.9, "min_grade": 0, "max_grade": 100}``: ``low`` and
  worse gives ``min_grade``, ``high`` and better ``max_grade``, linear between (the default maps
  0..1 to 0..100);
- ``{"kind": "thresholds", "thresholds": [[0.9, 100], [0.8, 85]], "below": 50}``: the grade of the
  first threshold the score reaches ("reaches" follows the column's sorting), else ``below``;
- ``{"kind": "rank", "grades": [100, 95, 90], "rest": 80}``: by final rank.

A member who never submitted gets ``missing`` (default 0). A team's member gets the team's row:
its final score, rank, late penalty and grade (the team ranks as one, ``team/<name>``). The late penalty of the submission
that counts is deducted from the grade (``grade = raw_grade × (1 − penalty)``), never from the score.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ValidationFailed
from ..orm import Participant, ParticipantStatus, Phase, Submission, Team, TeamMember
from ..teams import competitors
from .reveal import final_board

DEFAULT_MAPPING: dict[str, Any] = {"kind": "linear", "low": 0.0, "high": 1.0, "min_grade": 0.0, "max_grade": 100.0}


@dataclass(frozen=True)
class GradeRow:
    username: str
    score: float | None
    grade: float
    rank: int | None
    late_penalty: float | None
    raw_grade: float
    submission: int | None
    team: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def check_mapping(mapping: dict[str, Any]) -> None:
    """Refuse a mapping that cannot grade, naming what is wrong."""
    kind = mapping.get("kind", "linear") if mapping else "linear"
    problems = []
    try:
        if kind == "linear":
            if float(mapping.get("low", 0)) == float(mapping.get("high", 1)):
                problems.append("linear: low and high must differ")
        elif kind == "thresholds":
            for t in mapping["thresholds"]:
                float(t[0]), float(t[1])
        elif kind == "rank":
            [float(g) for g in mapping["grades"]]
        else:
            problems.append(f"kind: '{kind}' is not linear, thresholds or rank")
    except (KeyError, TypeError, ValueError, IndexError) as e:
        problems.append(f"{kind}: malformed ({type(e).__name__}: {e})")
    if problems:
        raise ValidationFailed("grade_mapping: " + "; ".join(problems),
                               [{"location": "grade_mapping", "message": p} for p in problems])


def points_possible(mapping: dict[str, Any]) -> float:
    """The best grade the mapping gives (Canvas's "Points Possible")."""
    mapping = mapping or DEFAULT_MAPPING
    kind = mapping.get("kind", "linear")
    if kind == "thresholds":
        return max([float(g) for _, g in mapping["thresholds"]] + [float(mapping.get("below", 0))])
    if kind == "rank":
        return max([float(g) for g in mapping["grades"]] + [float(mapping.get("rest", 0))])
    return float(mapping.get("max_grade", 100))


def map_grade(mapping: dict[str, Any], score: float | None, rank: int | None, higher_is_better: bool = True) -> float:
    """The grade for a final ``score`` and ``rank`` (None: never submitted)."""
    mapping = mapping or DEFAULT_MAPPING
    if score is None:
        return float(mapping.get("missing", 0))
    kind = mapping.get("kind", "linear")
    if kind == "thresholds":
        steps = sorted(((float(t), float(g)) for t, g in mapping["thresholds"]), reverse=higher_is_better)
        for threshold, grade in steps:
            if (score >= threshold) if higher_is_better else (score <= threshold):
                return grade
        return float(mapping.get("below", 0))
    if kind == "rank":
        grades = [float(g) for g in mapping["grades"]]
        return grades[rank - 1] if rank is not None and rank <= len(grades) else float(mapping.get("rest", 0))
    low, high = float(mapping.get("low", 0)), float(mapping.get("high", 1))
    lo_grade, hi_grade = float(mapping.get("min_grade", 0)), float(mapping.get("max_grade", 100))
    share = min(1.0, max(0.0, (score - low) / (high - low)))
    return lo_grade + share * (hi_grade - lo_grade)


def default_roster(session: Session, phase: Phase) -> list[str]:
    """Without a hub roster: the approved participants and everyone with a submission."""
    names = set(session.scalars(select(Participant.username).where(
        Participant.competition_id == phase.competition_id, Participant.status == ParticipantStatus.approved)))
    names |= set(session.scalars(select(Submission.owner).where(
        Submission.phase_id == phase.id, Submission.is_dry_run.is_(False)).distinct()))
    names |= set(session.scalars(select(TeamMember.username).where(TeamMember.competition_id == phase.competition_id)))
    return sorted(names)


def default_teams(session: Session, phase: Phase) -> dict[str, str]:
    """``{username: team name}`` without the hub: the teams' recorded members, and whoever submitted
    for a team made from a hub group (the hub knows its other members: callers with the hub at hand
    add them, as the grades API does)."""
    teams = {who: team for who, team in session.execute(
        select(Submission.owner, Team.name).join(Team, Team.id == Submission.team_id).where(
            Submission.phase_id == phase.id, Team.hub_group.is_not(None), Submission.is_dry_run.is_(False)))}
    teams.update(competitors.members_by_team(session, phase.competition_id))
    return teams


def grades_for_phase(session: Session, phase: Phase, roster: Iterable[str] | None = None,
                     mapping: dict[str, Any] | None = None, teams: dict[str, str] | None = None) -> list[GradeRow]:
    """One row per roster member (sorted by name), including those who never submitted; a team's
    members each get the team's row.

    ``roster`` defaults to ``default_roster`` (callers with the hub at hand pass the class's hub
    group members); ``teams`` (``{username: team name}``) to ``default_teams``; ``mapping`` to
    the phase's ``grade_mapping``. This is what a gradebook export and a grade passback send.
    """
    mapping = mapping if mapping is not None else (phase.grade_mapping or DEFAULT_MAPPING)
    check_mapping(mapping)
    board = phase.leaderboard
    primary = None
    higher_is_better = True
    column = board.primary_column if board is not None else None
    if column is not None:
        primary, higher_is_better = column.key, column.sorting == "desc"
    rows = {r.owner: r for r in final_board(session, phase)}
    teams = teams if teams is not None else default_teams(session, phase)
    names = sorted(set(roster if roster is not None else default_roster(session, phase)) | set(teams))
    penalties = dict(session.execute(select(Submission.id, Submission.late_penalty).where(
        Submission.id.in_([r.submission for r in rows.values()]))).all()) if rows else {}
    graded = []
    for name in names:
        team = teams.get(name)
        row = rows.get(competitors.row_key(name, team))
        score = row.scores.get(primary) if row is not None and primary else None
        rank = row.private_rank if row is not None else None
        penalty = penalties.get(row.submission) if row is not None else None
        raw = map_grade(mapping, score, rank, higher_is_better)
        graded.append(GradeRow(username=name, score=score, rank=rank, late_penalty=penalty, raw_grade=raw,
                               grade=round(raw * (1 - (penalty or 0.0)), 4),
                               submission=row.submission if row is not None else None, team=team))
    return graded


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}".rstrip("0")


def to_csv(rows: list[GradeRow], phase: Phase, layout: str = "podium") -> str:
    """The grades as CSV in ``layout``: ``podium`` (every field), ``canvas`` (Canvas's gradebook
    import: Student, ID, SIS User ID, SIS Login ID, Section, one assignment column, and the "Points
    Possible" row; the hub user name is the SIS Login ID) or ``moodle`` (Moodle's CSV grade import:
    a Username column to map users by, the grade item and a feedback column)."""
    out = io.StringIO()
    writer = csv.writer(out)
    item = f"{phase.competition.title}: {phase.name}"
    if layout == "canvas":
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", item])
        writer.writerow(["Points Possible", "", "", "", "", _number(points_possible(phase.grade_mapping))])
        for r in rows:
            writer.writerow([_cell(r.username), "", "", _cell(r.username), "", _number(r.grade)])
    elif layout == "moodle":
        writer.writerow(["Username", item, "Feedback"])
        for r in rows:
            writer.writerow([_cell(r.username), _number(r.grade), _feedback(r)])
    elif layout == "podium":
        writer.writerow(["username", "score", "rank", "late_penalty", "raw_grade", "grade", "submission", "team"])
        for r in rows:
            writer.writerow([_cell(r.username), _number(r.score), r.rank or "", _number(r.late_penalty),
                             _number(r.raw_grade), _number(r.grade), r.submission or "", _cell(r.team or "")])
    else:
        raise ValidationFailed(f"format: '{layout}' is not podium, canvas or moodle",
                               [{"location": "format", "message": "not podium, canvas or moodle"}])
    return out.getvalue()


def _feedback(row: GradeRow) -> str:
    if row.submission is None:
        return "No submission."
    text = f"Final score {_number(row.score)}, rank {row.rank}."
    if row.team:
        text = f"Team {row.team}: " + text
    if row.late_penalty:
        text += f" Late: {row.late_penalty:.0%} deducted."
    return text


def _cell(value: str) -> str:
    """Neutralize spreadsheet formulas in user names."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
