"""Each participant's own deadline in a phase: the phase's end or their extension, plus the grace
period during which submissions are still taken but marked late with a penalty.

The penalty is a share of the grade (``grades`` applies it); the raw score is never touched.
Extensions are keyed on a subject, a ``user`` or a ``team`` (by name): a team's extension is
every member's deadline, and the team's window for its final selection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import isoformat, utcnow
from ..errors import DeadlinePassed, NotFound, PhaseClosed, ValidationFailed
from ..orm import DeadlineExtension, LatePenaltyKind, Phase, Team


@dataclass(frozen=True)
class Deadline:
    """One participant's deadline in one phase (``end`` None: the phase has no end)."""

    end: datetime | None
    grace_until: datetime | None
    extended: bool

    def late_by(self, moment: datetime) -> int | None:
        """Seconds past the deadline at ``moment`` (None: on time)."""
        if self.end is None or moment <= self.end:
            return None
        return max(1, math.ceil((moment - self.end).total_seconds()))

    def closed_at(self, moment: datetime) -> bool:
        return self.grace_until is not None and moment >= self.grace_until

    def as_json(self) -> dict:
        return {"end": isoformat(self.end), "grace_until": isoformat(self.grace_until), "extended": self.extended}


def extension_for(session: Session, phase: Phase, username: str, teams: tuple[str, ...] = ()) -> DeadlineExtension | None:
    """The latest extension that applies to ``username`` (theirs or one of their teams')."""
    subjects = [("user", username)] + [("team", t) for t in teams]
    rows = session.scalars(select(DeadlineExtension).where(
        DeadlineExtension.phase_id == phase.id,
        DeadlineExtension.subject.in_([s for _, s in subjects]),
    )).all()
    wanted = set(subjects)
    found = [r for r in rows if (r.subject_kind, r.subject) in wanted]
    return max(found, key=lambda r: r.end, default=None)


def has_team_extensions(session: Session, phase: Phase) -> bool:
    """Whether any team has an extension in ``phase`` (spares the caller's team lookup when none has)."""
    return phase.end is not None and session.scalar(select(DeadlineExtension.id).where(
        DeadlineExtension.phase_id == phase.id, DeadlineExtension.subject_kind == "team").limit(1)) is not None


def deadline_for(session: Session, phase: Phase, username: str | None, teams: tuple[str, ...] = ()) -> Deadline:
    """``username``'s effective deadline in ``phase`` (the phase's own for nobody in particular)."""
    end = phase.end
    extended = False
    if end is not None and username:
        extension = extension_for(session, phase, username, teams)
        if extension is not None and extension.end > end:
            end, extended = extension.end, True
    grace = None if end is None else end + timedelta(seconds=phase.grace_seconds or 0)
    return Deadline(end=end, grace_until=grace, extended=extended)


def check_accepts(session: Session, phase: Phase, username: str, now: datetime | None = None,
                  teams: tuple[str, ...] = ()) -> int | None:
    """Refuse a submission outside ``username``'s window (theirs or their team's extension, the
    later: ``teams`` names the team they submit for); return how late it is (None: on time)."""
    now = now or utcnow()
    if now < phase.start:
        raise PhaseClosed(f"Phase '{phase.name}' opens at {phase.start.isoformat()}Z.")
    if phase.end is None or now < phase.end:
        return None  # before the phase's own end nobody is late: no extension to look up
    deadline = deadline_for(session, phase, username, teams)
    if deadline.closed_at(now) and not deadline.extended and not phase.grace_seconds:
        # the phase's own end, the same for everyone: the error it always was
        raise PhaseClosed(f"Phase '{phase.name}' closed at {phase.end.isoformat()}Z.")
    if deadline.closed_at(now):
        grace = f" and its grace period ended at {deadline.grace_until.isoformat()}Z" if phase.grace_seconds else ""
        raise DeadlinePassed(
            f"Your deadline for phase '{phase.name}' was {deadline.end.isoformat()}Z{grace}; "
            "submissions are no longer accepted.", deadline.end, deadline.grace_until)
    return deadline.late_by(now)


def penalty_for(phase: Phase, late_seconds: int | None) -> float | None:
    """The share of the grade deducted for a submission ``late_seconds`` late (None: on time)."""
    if not late_seconds:
        return None
    value = phase.late_penalty_value or 0.0
    if phase.late_penalty_kind == LatePenaltyKind.fixed:
        return min(1.0, value)
    if phase.late_penalty_kind == LatePenaltyKind.per_day:
        return min(1.0, value * math.ceil(late_seconds / 86400))
    return 0.0


def check_policy(kind: str, value: float) -> None:
    if kind != "none" and not 0 <= value <= 1:
        raise ValidationFailed("late_penalty_value: a share of the grade, between 0 and 1",
                               [{"location": "late_penalty_value", "message": "must be between 0 and 1"}])


def grant(session: Session, phase: Phase, subject: str, end: datetime, granted_by: str,
          reason: str = "", subject_kind: str = "user") -> DeadlineExtension:
    """Give ``subject`` its own deadline in ``phase`` (replacing an earlier extension)."""
    if phase.end is None:
        raise ValidationFailed(f"Phase '{phase.name}' has no deadline (no end) to extend.",
                               [{"location": "end", "message": "the phase has no end"}])
    if end <= phase.end:
        raise ValidationFailed(
            f"end: an extension must end after the phase's deadline ({phase.end.isoformat()}Z)",
            [{"location": "end", "message": "not after the phase's end"}])
    if subject_kind == "team" and session.scalar(select(Team.id).where(
            Team.competition_id == phase.competition_id, Team.name == subject)) is None:
        raise NotFound(f"No team '{subject}' in this competition.")
    extension = session.scalar(select(DeadlineExtension).where(
        DeadlineExtension.phase_id == phase.id, DeadlineExtension.subject_kind == subject_kind,
        DeadlineExtension.subject == subject))
    if extension is None:
        extension = DeadlineExtension(phase_id=phase.id, subject_kind=subject_kind, subject=subject)
        session.add(extension)
    extension.end, extension.granted_by, extension.reason = end, granted_by, reason
    extension.created_at = utcnow()
    session.flush()
    return extension


def revoke(session: Session, phase: Phase, subject: str, subject_kind: str = "user") -> None:
    extension = session.scalar(select(DeadlineExtension).where(
        DeadlineExtension.phase_id == phase.id, DeadlineExtension.subject_kind == subject_kind,
        DeadlineExtension.subject == subject))
    if extension is None:
        what = f"team '{subject}'" if subject_kind == "team" else subject
        raise NotFound(f"No extension for {what} in phase '{phase.name}'.")
    session.delete(extension)


def extensions(session: Session, phase: Phase) -> list[DeadlineExtension]:
    return list(session.scalars(select(DeadlineExtension).where(DeadlineExtension.phase_id == phase.id)
                                .order_by(DeadlineExtension.subject)))


def extension_model(extension: DeadlineExtension) -> dict:
    return {"subject": extension.subject, "subject_kind": extension.subject_kind, "end": isoformat(extension.end),
            "reason": extension.reason, "granted_by": extension.granted_by,
            "created_at": isoformat(extension.created_at)}
