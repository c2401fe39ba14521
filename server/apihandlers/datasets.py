"""Datasets and programs: announced, uploaded through signed URLs, verified, downloaded."""

from __future__ import annotations

from .. import artifacts
from ..auth.permissions import CompetitionRoles
from ..errors import PermissionDenied
from ..orm import Artifact, ArtifactKind, ArtifactState, Competition
from ..request_bodies import DatasetIn
from .answers import artifact_model
from .base import APIHandler, api

PARTICIPANT_KINDS = {ArtifactKind.public_data, ArtifactKind.starting_kit, ArtifactKind.public_reference_data}
PROGRAM_KINDS = {ArtifactKind.scoring_program, ArtifactKind.ingestion_program}


def participant_may_read(artifact: Artifact, roles: CompetitionRoles) -> bool:
    """Participants read public data and starting kits, and programs if the organizers allow;
    reference data and input data never."""
    if artifact.kind in PARTICIPANT_KINDS or artifact.kind == ArtifactKind.logo:
        return True
    return artifact.kind in PROGRAM_KINDS and roles.competition.make_programs_available


class DatasetCreateMixin:
    def announce_and_answer(self: APIHandler, competition) -> None:  # type: ignore[misc]
        body: DatasetIn = self.body
        artifact = artifacts.announce(
            self.db,
            self.user,
            kind=ArtifactKind(body.kind),
            name=body.name,
            size=body.size,
            sha256=body.sha256,
            competition=competition,
            max_upload_size=self.podium.max_upload_size,
        )
        self.db.commit()
        model = artifact_model(artifact)
        model["upload_url"] = artifacts.upload_url(
            self.podium.storage, artifact, self.podium.upload_url_expiry
        )
        model["upload_method"] = "PUT"
        model["upload_headers"] = self.podium.storage.upload_headers()
        self.write_json(model, 201)


class DatasetListHandler(DatasetCreateMixin, APIHandler):
    @api("List a competition's datasets and programs that I may read.", requires="participate")
    async def get(self, competition: Competition) -> None:
        items = artifacts.competition_artifacts(self.db, competition)
        if not self.caller_roles.manages:  # participants read some kinds only
            items = [a for a in items if participant_may_read(a, self.caller_roles)]
        self.write_json({"datasets": [artifact_model(a) for a in items]})

    @api("Announce a dataset or program of a competition and get its upload URL (organizers).",
         requires="manage", body=DatasetIn, status=201)
    async def post(self, competition: Competition) -> None:
        self.announce_and_answer(competition)


class MyDatasetHandler(DatasetCreateMixin, APIHandler):
    @api("Announce a dataset or program not yet tied to a competition (competition creators).",
         requires="create", body=DatasetIn, status=201)
    async def post(self) -> None:
        self.announce_and_answer(None)


class DatasetHandler(APIHandler):
    @api("Read a dataset's details and a short-lived download URL.", requires="participate")
    async def get(self, dataset: Artifact) -> None:
        roles = self.caller_roles  # None for a dataset of no competition yet: its creator's
        if roles is not None and not roles.manages and not participant_may_read(dataset, roles):
            raise PermissionDenied("This dataset is for the organizers and the scoring program only.")
        model = artifact_model(dataset)
        if dataset.state == ArtifactState.ready:
            model["download_url"] = artifacts.download_url(
                self.podium.storage, dataset, self.podium.download_url_expiry
            )
        self.write_json(model)


class DatasetUploadedHandler(APIHandler):
    @api("Confirm an upload: the service checks its size and sha256.", requires="own")
    async def post(self, dataset: Artifact) -> None:
        artifacts.verify_upload(self.podium.storage, dataset)
        self.db.commit()
        self.write_json(artifact_model(dataset))


default_handlers = [
    ("/competitions/{competition}/datasets", DatasetListHandler),
    ("/datasets", MyDatasetHandler),
    ("/datasets/{dataset}", DatasetHandler),
    ("/datasets/{dataset}/uploaded", DatasetUploadedHandler),
]
