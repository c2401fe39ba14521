"""A submission's log as its owner follows it: the live tail of their own code while it runs,
the final log once the step is over."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..auth.permissions import CompetitionRoles
from ..clock import isoformat
from ..compute import waiting
from ..compute.limits import Limits
from ..orm import Attempt, AttemptState, AttemptStep, Submission
from .base import APIHandler, api


def log_model(submission: Submission, manages: bool) -> dict[str, Any]:
    """``live`` is True while the predict step runs and ``text`` is then its participant's
    output so far (the scoring program's is never live); otherwise ``text`` is the final log."""
    running: Attempt | None = next(
        (a for a in submission.attempts if a.step == AttemptStep.predict and a.state == AttemptState.running), None)
    hidden = submission.phase.hide_output and not manages
    answer: dict[str, Any] = {"submission": submission.id, "status": submission.status.value,
                              "live": running is not None, "step": None, "started_at": None}
    if running is not None:
        answer.update(step=running.step.value, started_at=isoformat(running.started_at),
                      text="" if hidden else running.live_log)
    else:
        answer["text"] = "" if hidden else submission.log_tail
    return answer


def waiting_and_live(session: Session, submission: Submission, roles: CompetitionRoles,
                     limits: Limits) -> dict[str, Any]:
    """What a submission's detail adds: why it waits (``waiting``, None when it does not) and,
    while it waits, its ``queue`` place; while its code runs, its ``live_log``."""
    standing = waiting.standing(session, submission, limits)
    extra: dict[str, Any] = {"waiting": standing.reason() if standing is not None else None}
    if standing is not None:
        extra["queue"] = waiting.queue_place(session, standing).as_json()
    log = log_model(submission, roles.manages)
    if log["live"]:
        extra["live_log"] = log["text"]
    return extra


class SubmissionLogHandler(APIHandler):
    @api("Read a submission's log: while its participant's code runs, the tail of that code's "
         "stdout/stderr (`live`: true, refreshed every few seconds); afterwards the final log tail.",
         requires="view")
    async def get(self, submission: Submission) -> None:
        self.write_json(log_model(submission, self.caller_roles.manages))


default_handlers = [("/submissions/{submission}/log", SubmissionLogHandler)]
