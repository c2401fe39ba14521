"""Bundles: upload a CodaLab / Codabench bundle through a signed URL, import it in the
background and poll the import; export any competition as a Codabench v2 bundle."""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

from pydantic import Field

from .. import artifacts
from ..auth.identity import Identity
from ..bundles.exporter import export_bundle
from ..bundles.importer import import_bundle
from ..clock import isoformat, utcnow
from ..errors import BundleError
from ..orm import Artifact, ArtifactKind, BundleImport, Competition
from ..request_bodies import Body, Slug
from .answers import artifact_model
from .base import APIHandler, api


class BundleIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=255)]
    size: Annotated[int, Field(ge=1)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ImportIn(Body):
    slug: Slug | None = None


#: imports run here, not in the database pool: a long import must not hold a request's thread
IMPORTS = ThreadPoolExecutor(2, thread_name_prefix="podium-import")


def import_model(row: BundleImport, slug: str | None = None) -> dict:
    return {"id": row.id, "bundle": row.artifact_id, "status": row.status, "competition": row.competition_id,
            "competition_slug": slug, "errors": row.errors or [], "created_at": isoformat(row.created_at),
            "finished_at": isoformat(row.finished_at)}


def run_import(podium, import_id: int, identity: Identity) -> None:
    """The background half: fetch the stored bundle, import it, record the outcome."""
    with podium.session_factory() as session:
        row = session.get(BundleImport, import_id)
        row.status = "running"
        artifact = session.get(Artifact, row.artifact_id)
        session.commit()
        with tempfile.TemporaryDirectory(prefix="podium-upload-") as tmp:
            path = os.path.join(tmp, "bundle.zip")
            with podium.storage.open(artifact.storage_key) as src, open(path, "wb") as out:
                out.write(src.read())
            try:
                competition = import_bundle(session, podium.storage, identity, path, podium.default_quotas, row.slug)
                row = session.get(BundleImport, import_id)
                row.status, row.competition_id = "succeeded", competition.id
            except BundleError as e:
                row = session.get(BundleImport, import_id)
                row.status, row.errors = "failed", e.problems
            except Exception as e:  # report, never leave it "running"
                podium.log.exception("bundle import %s failed", import_id)
                row = session.get(BundleImport, import_id)
                row.status, row.errors = "failed", [f"The import failed on the server: {type(e).__name__}"]
            row.finished_at = utcnow()
            session.commit()


class BundleUploadHandler(APIHandler):
    @api("Announce a bundle (zip) and get its signed upload URL (competition creators).",
         requires="create", body=BundleIn, status=201)
    async def post(self) -> None:
        body: BundleIn = self.body
        artifact = artifacts.announce(self.db, self.user, kind=ArtifactKind.bundle, name=body.name, size=body.size,
                                      sha256=body.sha256, competition=None, max_upload_size=self.podium.max_upload_size)
        self.db.commit()
        model = artifact_model(artifact)
        model["upload_url"] = artifacts.upload_url(self.podium.storage, artifact, self.podium.upload_url_expiry)
        model["upload_method"] = "PUT"
        model["upload_headers"] = self.podium.storage.upload_headers()
        self.write_json(model, 201)


class BundleImportHandler(APIHandler):
    @api("Import an uploaded bundle in the background; poll the answer's import for its status.",
         requires="own", body=ImportIn, status=202)
    async def post(self, bundle: Artifact) -> None:
        artifacts.verify_upload(self.podium.storage, bundle)
        row = BundleImport(artifact_id=bundle.id, created_by=self.user.name, slug=self.body.slug)
        self.db.add(row)
        self.db.commit()
        IMPORTS.submit(run_import, self.podium, row.id, self.user)
        self.write_json(import_model(row), 202)


class ImportStatusHandler(APIHandler):
    @api("An import's status: pending, running, succeeded (with the competition) or failed (with every problem).",
         requires="own")
    async def get(self, bundle_import: BundleImport) -> None:
        competition = self.db.get(Competition, bundle_import.competition_id) if bundle_import.competition_id else None
        self.write_json(import_model(bundle_import, competition.slug if competition else None))


class ExportHandler(APIHandler):
    @api("Download a competition as a Codabench v2 bundle (organizers).", requires="manage",
         produces=("application/zip",))
    async def get(self, competition: Competition) -> None:
        data = export_bundle(self.db, self.podium.storage, competition)  # in the database pool
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", f'attachment; filename="{competition.slug}.zip"')
        self.finish(data)


default_handlers = [
    ("/bundles", BundleUploadHandler),
    ("/bundles/{bundle}/import", BundleImportHandler),
    ("/bundle-imports/{bundle_import}", ImportStatusHandler),
    ("/competitions/{competition}/bundle", ExportHandler),
]
