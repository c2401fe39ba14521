"""Uploads in parts of submissions, datasets and programs, and bundles: the same four verbs on
each (start or resume, sign parts, complete, abort); see ``podium.server.part_uploads``."""

from __future__ import annotations

from typing import Any

from .. import part_uploads
from ..clock import utcnow
from ..orm import Artifact, Submission
from ..request_bodies import PartsIn
from ..submissions import lifecycle
from .base import APIHandler, api

START = ("Start an upload in parts of the announced file, or resume the one already started: the "
         "answer gives the part size and count and the parts that arrived whole.")
PARTS = "Signed PUT URLs for some parts (each bound to its size where the storage can enforce it)."
COMPLETE = ("Assemble the parts once every one arrived (409 names a part missing or of the wrong "
            "size); then confirm the upload as after a single PUT.")
ABORT = "Drop every part that arrived; the file stays announced and can be uploaded again."


class PartUploadMixin:
    """The verbs, given the announced object (``artifact_of`` the path's resource)."""

    def artifact_of(self, resource: Any) -> Artifact:
        return resource

    def plan(self: Any, artifact: Artifact):  # type: ignore[misc]
        return part_uploads.plan_of(artifact, self.podium.upload_part_size)

    def note_activity(self, resource: Any) -> None:
        """An upload in parts moved on (it started, or asked for part URLs); see ``SubmissionParts``."""

    async def start(self: Any, resource: Any) -> None:
        artifact = self.artifact_of(resource)
        self.note_activity(resource)
        self.write_json(part_uploads.start(self.podium.storage, artifact, self.plan(artifact)))

    async def sign(self: Any, resource: Any) -> None:
        artifact = self.artifact_of(resource)
        self.note_activity(resource)
        body: PartsIn = self.body
        urls = part_uploads.part_urls(self.podium.storage, artifact, self.plan(artifact),
                                    body.numbers, self.podium.upload_url_expiry)
        self.write_json({"parts": urls, "part_headers": self.podium.storage.part_headers()})

    async def complete(self: Any, resource: Any) -> None:
        artifact = self.artifact_of(resource)
        part_uploads.complete(self.podium.storage, artifact, self.plan(artifact))
        self.write_json(part_uploads.state(self.podium.storage, artifact, self.plan(artifact)) | {"completed": True})

    async def abort(self: Any, resource: Any) -> None:
        artifact = self.artifact_of(resource)
        part_uploads.abort(self.podium.storage, artifact)
        self.set_status(204)
        self.finish()


class SubmissionParts(PartUploadMixin):
    def artifact_of(self, resource: Submission) -> Artifact:
        from ..errors import Conflict

        artifact = lifecycle.upload_of(resource)
        if artifact is None:
            raise Conflict("This submission has no file to upload.")
        return artifact

    def note_activity(self: Any, resource: Submission) -> None:
        """A submission whose upload in parts moves on is not abandoned, however long it takes:
        the reaper counts from its last start or part request (``Submission.upload_active_at``)."""
        resource.upload_active_at = utcnow()
        self.db.commit()


class SubmissionPartUploadHandler(SubmissionParts, APIHandler):
    @api(START, requires="own")
    async def post(self, submission: Submission) -> None:
        await self.start(submission)

    @api(ABORT, requires="own", status=204)
    async def delete(self, submission: Submission) -> None:
        await self.abort(submission)


class SubmissionPartsHandler(SubmissionParts, APIHandler):
    @api(PARTS, requires="own", body=PartsIn)
    async def post(self, submission: Submission) -> None:
        await self.sign(submission)


class SubmissionCompleteHandler(SubmissionParts, APIHandler):
    @api(COMPLETE, requires="own")
    async def post(self, submission: Submission) -> None:
        await self.complete(submission)


class DatasetPartUploadHandler(PartUploadMixin, APIHandler):
    @api(START, requires="own")
    async def post(self, dataset: Artifact) -> None:
        await self.start(dataset)

    @api(ABORT, requires="own", status=204)
    async def delete(self, dataset: Artifact) -> None:
        await self.abort(dataset)


class DatasetPartsHandler(PartUploadMixin, APIHandler):
    @api(PARTS, requires="own", body=PartsIn)
    async def post(self, dataset: Artifact) -> None:
        await self.sign(dataset)


class DatasetCompleteHandler(PartUploadMixin, APIHandler):
    @api(COMPLETE, requires="own")
    async def post(self, dataset: Artifact) -> None:
        await self.complete(dataset)


class BundlePartUploadHandler(PartUploadMixin, APIHandler):
    @api(START, requires="own")
    async def post(self, bundle: Artifact) -> None:
        await self.start(bundle)

    @api(ABORT, requires="own", status=204)
    async def delete(self, bundle: Artifact) -> None:
        await self.abort(bundle)


class BundlePartsHandler(PartUploadMixin, APIHandler):
    @api(PARTS, requires="own", body=PartsIn)
    async def post(self, bundle: Artifact) -> None:
        await self.sign(bundle)


class BundleCompleteHandler(PartUploadMixin, APIHandler):
    @api(COMPLETE, requires="own")
    async def post(self, bundle: Artifact) -> None:
        await self.complete(bundle)


default_handlers = [
    ("/submissions/{submission}/upload", SubmissionPartUploadHandler),
    ("/submissions/{submission}/upload/parts", SubmissionPartsHandler),
    ("/submissions/{submission}/upload/complete", SubmissionCompleteHandler),
    ("/datasets/{dataset}/upload", DatasetPartUploadHandler),
    ("/datasets/{dataset}/upload/parts", DatasetPartsHandler),
    ("/datasets/{dataset}/upload/complete", DatasetCompleteHandler),
    ("/bundles/{bundle}/upload", BundlePartUploadHandler),
    ("/bundles/{bundle}/upload/parts", BundlePartsHandler),
    ("/bundles/{bundle}/upload/complete", BundleCompleteHandler),
]
