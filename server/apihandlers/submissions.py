"""Submissions: create (quota, Idempotency-Key), upload, finalize, list, read, cancel, re-run."""

from __future__ import annotations

from sqlalchemy import func, select

from .. import artifacts, jobs, leaderboard_store
from .. import submissions as domain
from ..apimodels import artifact_model, submission_model
from ..errors import PermissionDenied
from ..orm import Phase, Submission, SubmissionStatus
from ..schemas import PageQuery, SelectionIn, SubmissionIn, SubmissionQuery
from .base import APIHandler, api


class PhaseSubmissionsHandler(APIHandler):
    @api(
        "Create a submission and get its signed upload URL. Send an Idempotency-Key header to "
        "make retries safe: the same key returns the original submission.",
        body=SubmissionIn,
        status=201,
        headers={"Idempotency-Key": "A client-chosen key, 1-128 characters, unique per submission."},
        responses={200: "The submission created earlier with this Idempotency-Key.",
                   429: "Quota exceeded; `resets_at` says when the daily quota resets."},
    )
    async def post(self, phase: str) -> None:
        obj, roles = self.visible_phase(phase)
        submission, created = domain.create(
            self.db, roles, obj, self.body, self.request.headers.get("Idempotency-Key")
        )
        self.db.commit()
        model = submission_model(submission, roles)
        upload = domain.upload_of(submission)
        if submission.status == SubmissionStatus.submitting and upload is not None:
            model["upload_url"] = artifacts.upload_url(
                self.podium.storage, upload, self.podium.upload_url_expiry
            )
            model["upload_method"] = "PUT"
        model["quota"] = domain.quota(self.db, obj, submission.owner).as_json()
        self.write_json(model, 201 if created else 200)

    @api("List my submissions in a phase (organizers: ?all=true or ?owner=name).",
         query=SubmissionQuery)
    async def get(self, phase: str) -> None:
        obj, roles = self.visible_phase(phase)
        q: SubmissionQuery = self.query
        stmt = select(Submission).where(Submission.phase_id == obj.id, Submission.parent_id.is_(None))
        if q.all or (q.owner and q.owner != self.user.name):
            if not roles.manages:
                raise PermissionDenied("Only organizers may list other participants' submissions.")
            if q.owner:
                stmt = stmt.where(Submission.owner == q.owner)
        else:
            stmt = stmt.where(Submission.owner == self.user.name)
        if q.status:
            stmt = stmt.where(Submission.status == SubmissionStatus(q.status))
        total = self.db.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = self.db.scalars(
            stmt.order_by(Submission.id.desc()).limit(q.limit).offset(q.offset)
        ).all()
        self.write_json(
            {
                "submissions": [submission_model(s, roles) for s in rows],
                "total": total,
                "limit": q.limit,
                "offset": q.offset,
            }
        )


class MySubmissionsHandler(APIHandler):
    @api("List my submissions in every competition, newest first.", query=PageQuery)
    async def get(self) -> None:
        stmt = select(Submission).where(
            Submission.owner == self.user.name, Submission.parent_id.is_(None)
        )
        total = self.db.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = self.db.scalars(
            stmt.order_by(Submission.id.desc()).limit(self.query.limit).offset(self.query.offset)
        ).all()
        self.write_json(
            {
                "submissions": [submission_model(s, self.roles(s.phase.competition)) for s in rows],
                "total": total,
                "limit": self.query.limit,
                "offset": self.query.offset,
            }
        )


class SubmissionHandler(APIHandler):
    @api("Read a submission: status, timings, scores and the log tail.")
    async def get(self, submission: str) -> None:
        obj, roles = self.visible_submission(submission)
        self.write_json(submission_model(obj, roles, detail=True))


class UploadedHandler(APIHandler):
    @api("Confirm the upload: the service checks size and sha256, then queues the submission.")
    async def post(self, submission: str) -> None:
        obj, roles = self.visible_submission(submission)
        if obj.owner != self.user.name:
            raise PermissionDenied("Only the participant who created a submission confirms its upload.")
        if obj.status == SubmissionStatus.submitting:
            domain.finalize(self.db, self.podium.storage, obj)
            jobs.start(self.db, obj)
        self.db.commit()
        self.podium.dispatcher.kick()
        self.write_json(submission_model(obj, roles, detail=True))


class CancelHandler(APIHandler):
    @api("Cancel a queued or running submission (its owner or an organizer).")
    async def post(self, submission: str) -> None:
        obj, roles = self.visible_submission(submission)
        jobs.cancel(self.db, obj, by_owner=obj.owner == self.user.name)
        self.db.commit()
        self.write_json(submission_model(obj, roles, detail=True))


class RerunHandler(APIHandler):
    @api("Re-run a submission as a new one that costs no quota (organizers).", status=201)
    async def post(self, submission: str) -> None:
        obj, roles = self.visible_submission(submission)
        if not roles.manages:
            raise PermissionDenied("Only organizers may re-run submissions.")
        copy = domain.rerun(self.db, obj, self.user.name)
        jobs.start(self.db, copy)
        self.db.commit()
        self.podium.dispatcher.kick()
        self.write_json(submission_model(copy, roles, detail=True), 201)


class SelectHandler(APIHandler):
    @api("Choose a finished submission for the leaderboard (phases with the 'selected' rule).",
         body=SelectionIn)
    async def post(self, submission: str) -> None:
        obj, roles = self.visible_submission(submission)
        if obj.owner != self.user.name:
            raise PermissionDenied("Only the participant chooses their leaderboard submissions.")
        domain.set_selected(self.db, obj, self.body.selected)
        leaderboard_store.rebuild(self.db, obj.phase)
        self.db.commit()
        self.write_json(submission_model(obj, roles))


class OutputsHandler(APIHandler):
    @api("Download links for a submission's files, as far as the phase shows them.")
    async def get(self, submission: str) -> None:
        obj, roles = self.visible_submission(submission)
        phase: Phase = obj.phase
        hidden: set[str] = set()
        if not roles.manages:
            if phase.hide_output:
                hidden |= {"prediction_output", "prediction_log", "scoring_output", "scoring_log", "detailed_results"}
            if phase.hide_prediction_output:
                hidden |= {"prediction_output", "prediction_log"}
            if phase.hide_score_output:
                hidden |= {"scoring_output", "scoring_log"}
        files = []
        for f in obj.files:
            if f.role in hidden:
                continue
            model = artifact_model(f.artifact)
            model["role"] = f.role
            if f.artifact.state.value == "ready":
                model["download_url"] = artifacts.download_url(
                    self.podium.storage, f.artifact, self.podium.download_url_expiry
                )
            files.append(model)
        self.write_json({"submission": obj.id, "files": files})


default_handlers = [
    ("/phases/{phase}/submissions", PhaseSubmissionsHandler),
    ("/me/submissions", MySubmissionsHandler),
    ("/submissions/{submission}", SubmissionHandler),
    ("/submissions/{submission}/uploaded", UploadedHandler),
    ("/submissions/{submission}/cancel", CancelHandler),
    ("/submissions/{submission}/rerun", RerunHandler),
    ("/submissions/{submission}/select", SelectHandler),
    ("/submissions/{submission}/outputs", OutputsHandler),
]


