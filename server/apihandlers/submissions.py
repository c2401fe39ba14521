"""Submissions: create (quota, Idempotency-Key), upload, finalize, list, read, cancel, re-run."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from sqlalchemy import select, true
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from .. import artifacts
from ..auth.permissions import CompetitionRoles
from ..classroom import reveal, selection
from ..compute import attempts as jobs
from ..errors import PermissionDenied, UploadMismatch
from ..leaderboards import store as leaderboard_store
from ..orm import (
    Competition,
    Phase,
    PhaseTask,
    Score,
    Submission,
    SubmissionFile,
    SubmissionStatus,
    Task,
)
from ..request_bodies import (
    SelectionIn,
    SubmissionIn,
    SubmissionPageQuery,
    SubmissionQuery,
    SubmissionUpdate,
)
from ..submissions import lifecycle as domain
from ..submissions import visible_files
from ..submissions.listing_cache import owner_key, team_key
from ..teams import competitors
from . import paging
from .answers import artifact_model, submission_model
from .base import APIHandler, api
from .submission_logs import waiting_and_live


class PhaseSubmissionsHandler(APIHandler):
    @api(
        "Create a submission and get its signed upload URL. Send an Idempotency-Key header to "
        "make retries safe: the same key returns the original submission.",
        body=SubmissionIn,
        status=201,
        headers={"Idempotency-Key": "A client-chosen key, 1-128 characters, unique per submission."},
        responses={200: "The submission created earlier with this Idempotency-Key.",
                   429: "Quota exceeded; `resets_at` says when the daily quota resets."},
        requires="participate",
    )
    async def post(self, phase: Phase) -> None:
        roles = self.caller_roles
        submission, created = domain.create(
            self.db, roles, phase, self.body, self.request.headers.get("Idempotency-Key")
        )
        self.db.commit()
        model = submission_model(submission, roles)
        upload = domain.upload_of(submission)
        if submission.status == SubmissionStatus.submitting and upload is not None:
            model["upload_url"] = artifacts.upload_url(
                self.podium.storage, upload, self.podium.upload_url_expiry
            )
            model["upload_method"] = "PUT"
            model["upload_headers"] = self.podium.storage.upload_headers()
        model["quota"] = domain.quota(self.db, phase, submission.owner, team_id=submission.team_id).as_json()
        self.write_json(model, 201 if created else 200)

    @api("List my submissions in a phase (and my team's), newest first (organizers: ?all=true or ?owner=name). "
         "Page on with the answer's `next` as `?before=`; `total` is exact up to 10,000, beyond "
         "which it says 10,000 with `total_is_lower_bound`.",
         requires="view", query=SubmissionQuery,
         responses={200: paging.ANSWER})
    async def get(self, phase: Phase) -> None:
        roles = self.caller_roles
        q: SubmissionQuery = self.query
        conditions = [Submission.phase_id == phase.id, Submission.parent_id.is_(None)]
        if q.all or (q.owner and q.owner != self.user.name):
            # whose submissions the caller lists is in the query, not the path: checked here
            if not roles.manages:
                raise PermissionDenied("Only organizers may list other participants' submissions.")
            branches = [Submission.owner == q.owner] if q.owner else [true()]
        else:
            branches = competitors.visible_to(competitors.competitor(self.db, phase.competition_id, self.user))
        if q.status:
            conditions.append(Submission.status == SubmissionStatus(q.status))
        rows, next_cursor = paging.branch_page(self.db, select(Submission.__table__).where(*conditions),
                                               Submission.id, branches, limit=q.limit, offset=q.offset,
                                               cursor=q.before)
        listed = listed_submissions(self.db, rows, {phase.id: phase})
        shown = paging.shown_in_all(rows, offset=q.offset, cursor=q.before, next_cursor=next_cursor)
        self.write_json(paging.answer(
            "submissions", [submission_model(s, roles) for s in listed], limit=q.limit, offset=q.offset,
            cursor_name="before", cursor=q.before, next_cursor=next_cursor,
            total=paging.capped_branch_total(self.db, Submission.id, branches, conditions, shown=shown),
        ))


class ListedSubmission:
    """A submission of a list page as ``submission_model`` reads it, from a Core row, its phase
    and its scores: a page of 50 builds no ORM objects (bench B8: most of a list's time was
    the ORM's)."""

    def __init__(self, row: Any, phase: Phase, scores: list[ListedScore]) -> None:
        self.__dict__.update(row._mapping)  # the columns, under the ORM's attribute names
        self.phase, self.scores = phase, scores


class ListedScore(NamedTuple):
    column_key: str
    value: float


def listed_submissions(session: Session, rows: list[Any], phases: dict[int, Phase]) -> list[ListedSubmission]:
    """The page's rows with their phases and, in one query, their scores."""
    scores: dict[int, list[ListedScore]] = {r.id: [] for r in rows}
    if rows:
        for sid, key, value in session.execute(
            select(Score.submission_id, Score.column_key, Score.value)
            .where(Score.submission_id.in_(list(scores))).order_by(Score.id)
        ):
            scores[sid].append(ListedScore(key, value))
    return [ListedSubmission(r, phases[r.phase_id], scores[r.id]) for r in rows]


class MySubmissionsHandler(APIHandler):
    @api("List my submissions (and my teams') in every competition, newest first. Page on with the answer's "
         "`next` as `?before=`; `total` is exact up to 10,000, beyond which it says 10,000 with "
         "`total_is_lower_bound`.", requires="user", query=SubmissionPageQuery,
         responses={200: paging.ANSWER})
    async def get(self) -> None:
        q: SubmissionPageQuery = self.query
        pages = self.podium.submission_pages
        snapshot = pages.snapshot()  # before any row is read: a change after it makes the page stale
        conditions = [Submission.parent_id.is_(None)]
        teams = competitors.teams_everywhere(self.db, self.user)
        branches = competitors.visible_everywhere(self.user, teams)
        rows, next_cursor = paging.branch_page(self.db, select(Submission.__table__).where(*conditions),
                                               Submission.id, branches, limit=q.limit, offset=q.offset,
                                               cursor=q.before)
        phase_ids = {r.phase_id for r in rows}
        phases = {p.id: p for p in self.db.scalars(
            select(Phase).where(Phase.id.in_(phase_ids))
            .options(joinedload(Phase.competition), joinedload(Phase.leaderboard))
        )} if phase_ids else {}
        roles: dict[int, CompetitionRoles] = {}  # one roles query per competition on the page
        models = []
        for s in listed_submissions(self.db, rows, phases):
            competition = s.phase.competition
            if competition.id not in roles:
                roles[competition.id] = self.roles(competition)
            models.append(submission_model(s, roles[competition.id]))
        shown = paging.shown_in_all(rows, offset=q.offset, cursor=q.before, next_cursor=next_cursor)
        answer = paging.answer(
            "submissions", models, limit=q.limit, offset=q.offset, cursor_name="before", cursor=q.before,
            next_cursor=next_cursor,
            total=paging.capped_branch_total(self.db, Submission.id, branches, conditions, shown=shown),
        )
        if not self.answers_json:  # the web page renders it
            self.write_json(answer)
            return
        text = json.dumps(answer, default=str)
        pages.put(self.page_key(), text, [owner_key(self.user.name), *map(team_key, teams)], snapshot,
                  good_until=reveal.next_reveal(phases.values()))
        self.finish(text)

    def page_key(self) -> tuple:
        q: SubmissionPageQuery = self.query
        return (self.user.name, self.user.admin, frozenset(self.user.groups), q.limit, q.offset, q.before)

    def answer_on_loop(self, path: dict[str, Any]) -> bool:
        """A page remembered since nothing it lists changed: answered from memory (bench B8)."""
        text = self.podium.submission_pages.get(self.page_key()) if self.answers_json else None
        if text is None:
            return False
        self.finish(text)
        return True


class SubmissionHandler(APIHandler):
    @api("Read a submission: status, timings, scores and the log tail; while it waits, its `queue` "
         "place and estimated start and finish; while its participant's code runs, its `live_log`.",
         requires="view")
    async def get(self, submission: Submission) -> None:
        model = submission_model(submission, self.caller_roles, detail=True)
        model.update(waiting_and_live(self.db, submission, self.caller_roles, self.podium.job_limits))
        self.write_json(model)

    @api("Change my submission: its description, or whether its code may be shown to every participant "
         "once the phase ends (`is_public`, where the phase reveals code).", requires="own", body=SubmissionUpdate)
    async def patch(self, submission: Submission) -> None:
        for name, value in self.body.model_dump(exclude_unset=True).items():
            setattr(submission, name, value)
        self.db.commit()
        self.write_json(submission_model(submission, self.caller_roles, detail=True))


class UploadedHandler(APIHandler):
    #: a refused upload gave its quota slot back (``finalize``): keep that, answer the refusal
    commit_on = (UploadMismatch,)

    # in the one lookup query: what finalize (the upload), start (the phase's tasks) and
    # enqueue (the competition's queue) read; the answer is built before the commit, so it
    # needs no connection after it (bench B4: 3 lazy loads in a new transaction per finalize)
    lookup_options = (
        joinedload(Submission.phase).joinedload(Phase.competition).joinedload(Competition.queue),
        joinedload(Submission.phase).joinedload(Phase.phase_tasks).joinedload(PhaseTask.task),
        joinedload(Submission.files).joinedload(SubmissionFile.artifact),
    )

    @api("Confirm the upload: the service checks size and sha256, then queues the submission.", requires="own")
    async def post(self, submission: Submission) -> None:
        if submission.status == SubmissionStatus.submitting:
            # attempts and scores come only after the upload is confirmed: a submission awaiting
            # it has none (enqueue appends the new attempt), so reading them costs no SELECT
            set_committed_value(submission, "attempts", [])
            set_committed_value(submission, "scores", [])
            domain.finalize(self.db, self.podium.storage, submission)
            jobs.start(self.db, submission)
        model = submission_model(submission, self.caller_roles, detail=True)
        self.db.commit()
        self.write_json(model)


class CancelHandler(APIHandler):
    @api("Cancel a queued or running submission (its owner or an organizer).", requires="view")
    async def post(self, submission: Submission) -> None:
        # who sees a submission may cancel it: its owner, the organizers and admins
        jobs.cancel(self.db, submission, by_owner=not self.caller_roles.manages or submission.owner == self.user.name)
        self.db.commit()
        self.write_json(submission_model(submission, self.caller_roles, detail=True))


class RerunHandler(APIHandler):
    @api("Re-run a submission as a new one that costs no quota (organizers).", requires="manage", status=201)
    async def post(self, submission: Submission) -> None:
        copy = domain.rerun(self.db, submission, self.user.name)
        jobs.start(self.db, copy)
        self.db.commit()
        self.write_json(submission_model(copy, self.caller_roles, detail=True), 201)


class SelectHandler(APIHandler):
    @api("Choose a finished submission for the leaderboard (phases with the 'selected' rule) or for the "
         "final ranking (phases with max_selected: at most that many, locked after my deadline). A team's "
         "submission is the team's to select: any member may, within the team's limit and window.",
         requires="view", body=SelectionIn)
    async def post(self, submission: Submission) -> None:
        if not self.sees_as_own(submission):
            raise PermissionDenied(f"Only the participant who made submission {submission.id}, or their team, "
                                   "may select it.")
        who = competitors.competitor(self.db, submission.phase.competition_id, self.user)
        selection.choose(self.db, submission, self.body.selected, who)
        leaderboard_store.rebuild(self.db, submission.phase, owner=competitors.submission_key(self.db, submission))
        self.db.commit()
        self.write_json(submission_model(submission, self.caller_roles))


class OutputsHandler(APIHandler):
    @api("Download links for a submission's files: organizers get all of them; participants their own "
         "upload and their code's output and log, the detailed results where the competition enables "
         "them, and the scoring output and log only where the phase opts in (show_scoring_output), "
         "never while its leaderboard is private.", requires="view")
    async def get(self, submission: Submission) -> None:
        phase: Phase = submission.phase
        manages = self.caller_roles.manages
        files = []
        for f in submission.files:
            if not visible_files.may_download(phase, f.role, manages):
                continue
            model = artifact_model(f.artifact)
            model["role"] = f.role
            if f.artifact.state.value == "ready":
                model["download_url"] = artifacts.download_url(
                    self.podium.storage, f.artifact, self.podium.download_url_expiry
                )
            files.append(model)
        self.write_json({"submission": submission.id, "files": files})


class ChildrenHandler(APIHandler):
    @api("A multi-task submission's per-task submissions, each with its task's key, status and scores.",
         requires="view")
    async def get(self, submission: Submission) -> None:
        children = list(self.db.scalars(
            select(Submission).where(Submission.parent_id == submission.id).order_by(Submission.id)
            .options(joinedload(Submission.phase).joinedload(Phase.leaderboard))
        ))
        task_ids = [c.task_id for c in children if c.task_id is not None]
        keys = dict(self.db.execute(select(Task.id, Task.key).where(Task.id.in_(task_ids))).all()) if task_ids else {}
        models = []
        for child in children:
            model = submission_model(child, self.caller_roles)
            model["task"] = keys.get(child.task_id)
            models.append(model)
        self.write_json({"submission": submission.id, "submissions": models})


default_handlers = [
    ("/phases/{phase}/submissions", PhaseSubmissionsHandler),
    ("/me/submissions", MySubmissionsHandler),
    ("/submissions/{submission}", SubmissionHandler),
    ("/submissions/{submission}/uploaded", UploadedHandler),
    ("/submissions/{submission}/cancel", CancelHandler),
    ("/submissions/{submission}/rerun", RerunHandler),
    ("/submissions/{submission}/select", SelectHandler),
    ("/submissions/{submission}/outputs", OutputsHandler),
    ("/submissions/{submission}/children", ChildrenHandler),
]


