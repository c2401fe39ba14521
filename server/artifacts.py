"""Stored objects (programs, datasets, submissions): announced, uploaded by signed URL, verified.

An upload is two requests: announce the object (kind, name, exact size and sha256) and get a
signed PUT URL capped at that size; then confirm, and the service checks the stored object's
size and checksum before anyone may use it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from .auth.identity import Identity
from .clock import utcnow
from .errors import Conflict, NotFound, PermissionDenied, UploadMismatch, ValidationFailed
from .orm import Artifact, ArtifactKind, ArtifactState, Competition
from .storage.base import Storage


def new_storage_key(prefix: str) -> str:
    return f"{prefix}/{utcnow():%Y/%m/%d}/{uuid.uuid4().hex}"


def announce(
    session: Session,
    identity: Identity,
    *,
    kind: ArtifactKind,
    name: str,
    size: int,
    sha256: str,
    competition: Competition | None,
    max_upload_size: int,
) -> Artifact:
    """Record a pending object; the caller hands out its signed upload URL."""
    if size > max_upload_size:
        raise ValidationFailed(
            f"The file is {size} bytes; the largest upload allowed is {max_upload_size} bytes.",
            [{"location": "size", "message": f"must be at most {max_upload_size}"}],
        )
    artifact = Artifact(
        kind=kind,
        name=name,
        storage_key=new_storage_key("artifacts" if kind != ArtifactKind.submission else "submissions"),
        state=ArtifactState.pending,
        size=size,
        sha256=sha256,
        max_size=size,
        created_by=identity.name,
        competition_id=competition.id if competition else None,
    )
    session.add(artifact)
    session.flush()
    return artifact


def upload_url(storage: Storage, artifact: Artifact, expires_in: int) -> str:
    # the announced size is exact: a backend that can sign a length (S3) makes its server refuse any other
    exact = artifact.size if artifact.size is not None and artifact.size == artifact.max_size else None
    return storage.signed_url(
        artifact.storage_key, "PUT", expires_in=expires_in, max_size=artifact.max_size, exact_size=exact
    )


def download_url(storage: Storage, artifact: Artifact, expires_in: int) -> str:
    return storage.signed_url(artifact.storage_key, "GET", expires_in=expires_in, filename=artifact.name)


def verify_upload(storage: Storage, artifact: Artifact) -> None:
    """Mark the object ready once its stored size and checksum match what was announced."""
    if artifact.state == ArtifactState.ready:
        return
    info = storage.stat(artifact.storage_key)
    if info is None:
        raise UploadMismatch(
            "Nothing was uploaded yet: PUT the file to the upload URL first, then confirm."
        )
    if info.size != artifact.size or info.sha256 != artifact.sha256:
        storage.delete(artifact.storage_key)
        raise UploadMismatch(
            f"The uploaded file does not match what was announced (size {info.size} vs "
            f"{artifact.size}, sha256 {info.sha256[:12]}… vs {artifact.sha256[:12]}…); it was "
            "discarded. Upload it again."
        )
    artifact.state = ArtifactState.ready


def resolve(
    session: Session,
    identity: Identity,
    artifact_id: int | None,
    competition: Competition,
    kinds: set[ArtifactKind],
    where: str,
) -> Artifact | None:
    """An artifact a competition may use: ready, of an expected kind, and the caller's or the
    competition's own. An unattached artifact becomes the competition's."""
    if artifact_id is None:
        return None
    artifact = session.get(Artifact, artifact_id)
    if artifact is None:
        raise NotFound(f"{where}: no such dataset or program: {artifact_id}")
    if artifact.competition_id not in (None, competition.id) or (
        artifact.competition_id is None and artifact.created_by != identity.name and not identity.admin
    ):
        raise PermissionDenied(f"{where}: dataset {artifact_id} belongs to someone else")
    if artifact.kind not in kinds:
        expected = " or ".join(sorted(k.value for k in kinds))
        raise ValidationFailed(
            f"{where}: dataset {artifact_id} is a {artifact.kind.value}, expected {expected}",
            [{"location": where, "message": f"expected a {expected}"}],
        )
    if artifact.state != ArtifactState.ready:
        raise Conflict(f"{where}: dataset {artifact_id} has not finished uploading")
    artifact.competition_id = competition.id
    return artifact


def competition_artifacts(session: Session, competition: Competition) -> list[Artifact]:
    return list(
        session.scalars(
            select(Artifact)
            .where(Artifact.competition_id == competition.id, Artifact.kind != ArtifactKind.submission)
            .order_by(Artifact.id)
        )
    )
