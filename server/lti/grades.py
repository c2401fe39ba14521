"""Grades to the course's gradebook through LTI Assignment and Grade Services (AGS).

One line item per phase in each linked course (found by its tag, created once), one score per
student who launched the competition from that course. Sending again finds the same line item
and posts a newer score, which the platform keeps in place of the old one: re-sending is
idempotent. ``send_phase_grades`` runs on demand (the API, the organizer panel's button) and is
what the reveal calls (``send_grades_at_reveal``).

The grade of each student comes from ``phase_grades``: the class's grades (deadlines, penalties,
the instructor's mapping), as the grade export lists them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import requests
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiException, LtiServiceException
from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from pylti1p3.service_connector import ServiceConnector
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..classroom.grades import grades_for_phase, points_possible
from ..errors import Conflict, LtiPlatformError
from ..orm import LtiLink, LtiUser, Phase
from .tool import tool_config

if TYPE_CHECKING:
    from ..app import PodiumService

LINE_ITEM_MAXIMUM = 100.0


def phase_grades(session: Session, phase: Phase, roster: Iterable[str] | None = None,
                 teams: dict[str, str] | None = None) -> dict[str, tuple[float, float]]:
    """``{username: (grade, maximum)}``: each roster member's grade as the class's grade export
    gives it (``classroom.grades``: the final selected score, the instructor's mapping, the late
    penalty; a team's members the team's), over the mapping's best grade; members who never
    submitted get the mapping's grade for no score. ``roster`` and ``teams``: as the grade export
    takes them (the hub's groups, where the caller has the hub at hand)."""
    maximum = points_possible(phase.grade_mapping)
    return {row.username: (row.grade, maximum) for row in grades_for_phase(session, phase, roster, teams=teams)}


def _timestamp() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def send_phase_grades(session: Session, podium: PodiumService, phase: Phase,
                      http: requests.Session | None = None, roster: Iterable[str] | None = None,
                      teams: dict[str, str] | None = None) -> dict[str, Any]:
    """Send the phase's grades to every course that links its competition (blocking: run it off
    the event loop). Returns the line items used, the scores sent, and who has no LTI identity."""
    links = [link for link in session.scalars(select(LtiLink).where(LtiLink.competition_id == phase.competition_id))
             if (link.ags or {}).get("lineitems")]
    if not links:
        raise Conflict("No course links this competition with grade services yet: launch it once from the "
                       "course (the LMS then tells Podium where its gradebook is).")
    conf = tool_config(podium)
    grades = phase_grades(session, phase, roster, teams)
    tag = f"podium-phase-{phase.id}"
    label = f"{phase.competition.title}: {phase.name}"
    courses, sent = [], 0
    matched: set[str] = set()
    for lineitems_url in dict.fromkeys(link.ags["lineitems"] for link in links):
        link = next(x for x in links if x.ags["lineitems"] == lineitems_url)
        registration = conf.find_registration_by_params(link.issuer, link.client_id)
        ags = AssignmentsGradesService(ServiceConnector(registration, http), link.ags)
        subjects = dict(session.execute(select(LtiUser.username, LtiUser.subject)
                                        .where(LtiUser.issuer == link.issuer, LtiUser.username.in_(list(grades)))).all())
        try:
            item = ags.find_or_create_lineitem(
                LineItem().set_tag(tag).set_label(label).set_resource_id(tag).set_score_maximum(LINE_ITEM_MAXIMUM))
            for username, subject in subjects.items():
                given, maximum = grades[username]
                ags.put_grade(Grade().set_user_id(subject).set_score_given(given).set_score_maximum(maximum)
                              .set_timestamp(_timestamp()).set_activity_progress("Completed")
                              .set_grading_progress("FullyGraded"), item)
                sent += 1
        except LtiServiceException as e:
            raise LtiPlatformError(f"The LMS {link.issuer} refused the grades: {str(e)[:500]}") from e
        except (LtiException, requests.RequestException) as e:
            raise LtiPlatformError(f"The grades could not reach the LMS {link.issuer}: {str(e)[:500]}") from e
        matched |= set(subjects)
        courses.append({"issuer": link.issuer, "context": link.context_title or link.context_id,
                        "lineitem": item.get_id(), "scores": len(subjects)})
    return {"phase": phase.id, "courses": courses, "sent": sent,
            "without_lti_identity": sorted(set(grades) - matched)}


def is_linked(session: Session, competition_id: int) -> bool:
    """Whether a course links the competition (a launch from it recorded its link)."""
    return session.scalar(select(LtiLink.id).where(LtiLink.competition_id == competition_id).limit(1)) is not None


def send_grades_at_reveal(podium: PodiumService, phase_id: int, roster: Iterable[str] | None = None,
                          teams: dict[str, str] | None = None) -> dict[str, Any] | None:
    """What the reveal calls: the phase's grades to the linked courses; None when no course links
    the competition. Blocking; errors are raised for the caller to log and show."""
    with podium.session_factory() as session:
        phase = session.get(Phase, phase_id)
        if phase is None or not is_linked(session, phase.competition_id):
            return None
        return send_phase_grades(session, podium, phase, roster=roster, teams=teams)


def send_grades_at_reveal_logged(podium: PodiumService, phase_id: int, roster: Iterable[str] | None = None,
                                 teams: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The reveal's grade passback, which never fails the reveal: what was sent (None: no course
    links the competition), or ``{"error": sentence}`` when the LMS refused."""
    try:
        return send_grades_at_reveal(podium, phase_id, roster, teams)
    except (LtiPlatformError, Conflict) as e:
        podium.log.warning("Grades of phase %d not sent at its reveal: %s", phase_id, e.message)
        return {"error": e.message}
