"""Datasets and programs: announced, uploaded through signed URLs, verified, downloaded."""

from __future__ import annotations

from .. import artifacts
from ..auth.permissions import CompetitionRoles, can_create_competitions
from ..errors import NotFound, PermissionDenied
from ..orm import Artifact, ArtifactKind, ArtifactState, Competition
from ..request_bodies import DatasetIn
from .answers import artifact_model
from .base import APIHandler, api

PARTICIPANT_KINDS = {ArtifactKind.public_data, ArtifactKind.starting_kit}
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
        self.write_json(model, 201)


class DatasetListHandler(DatasetCreateMixin, APIHandler):
    @api("List a competition's datasets and programs that I may read.")
    async def get(self, competition: str) -> None:
        comp, roles = self.visible_competition(competition)
        items = artifacts.competition_artifacts(self.db, comp)
        if not roles.manages:
            if not roles.is_participant:
                raise PermissionDenied("Register for this competition to see its data.")
            items = [a for a in items if participant_may_read(a, roles)]
        self.write_json({"datasets": [artifact_model(a) for a in items]})

    @api("Announce a dataset or program of a competition and get its upload URL (organizers).",
         body=DatasetIn, status=201)
    async def post(self, competition: str) -> None:
        comp, roles = self.visible_competition(competition)
        roles.require_manage()
        self.announce_and_answer(comp)


class MyDatasetHandler(DatasetCreateMixin, APIHandler):
    @api("Announce a dataset or program not yet tied to a competition (competition creators).",
         body=DatasetIn, status=201)
    async def post(self) -> None:
        if not can_create_competitions(self.user, self.podium.creator_group):
            raise PermissionDenied("Only competition creators may upload datasets.")
        self.announce_and_answer(None)


class DatasetHandler(APIHandler):
    def find_readable(self, ref: str) -> Artifact:
        artifact = self.find_by_id(Artifact, ref, "dataset")
        if artifact.kind == ArtifactKind.submission:
            raise NotFound(f"No such dataset: {ref}")
        if artifact.competition_id is None:
            if artifact.created_by != self.user.name and not self.user.admin:
                raise NotFound(f"No such dataset: {ref}")
            return artifact
        roles = self.roles(self.db.get(Competition, artifact.competition_id))
        if not roles.can_view:
            raise NotFound(f"No such dataset: {ref}")
        if roles.manages:
            return artifact
        if not roles.is_participant:
            raise PermissionDenied("Register for this competition to download its data.")
        if not participant_may_read(artifact, roles):
            raise PermissionDenied("This dataset is for the organizers and the scoring program only.")
        return artifact

    @api("Read a dataset's details and a short-lived download URL.")
    async def get(self, dataset: str) -> None:
        artifact = self.find_readable(dataset)
        model = artifact_model(artifact)
        if artifact.state == ArtifactState.ready:
            model["download_url"] = artifacts.download_url(
                self.podium.storage, artifact, self.podium.download_url_expiry
            )
        self.write_json(model)


class DatasetUploadedHandler(APIHandler):
    @api("Confirm an upload: the service checks its size and sha256.")
    async def post(self, dataset: str) -> None:
        artifact = self.find_by_id(Artifact, dataset, "dataset")
        if artifact.kind == ArtifactKind.submission or (
            artifact.created_by != self.user.name and not self.user.admin
        ):
            raise NotFound(f"No such dataset: {dataset}")
        artifacts.verify_upload(self.podium.storage, artifact)
        self.db.commit()
        self.write_json(artifact_model(artifact))


default_handlers = [
    ("/competitions/{competition}/datasets", DatasetListHandler),
    ("/datasets", MyDatasetHandler),
    ("/datasets/{dataset}", DatasetHandler),
    ("/datasets/{dataset}/uploaded", DatasetUploadedHandler),
]
