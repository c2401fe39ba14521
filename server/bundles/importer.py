"""Importing a bundle: all of it or nothing.

The format is detected as Codabench does (no ``version``, ``1``, ``1.5`` or ``1.8`` → CodaLab;
``2`` → Codabench). Every problem the readers find is reported at once; then the programs and
data are stored and the competition is created through the same domain code as the API, in the
caller's transaction. Any failure rolls back the database and deletes the objects already stored,
so no orphan dataset, task or phase remains.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...worker.archives import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES
from ..artifacts import new_storage_key
from ..auth.identity import Identity
from ..competitions import authoring as competitions
from ..errors import BundleError, PodiumError, ValidationFailed
from ..orm import Artifact, ArtifactKind, ArtifactState, Competition
from ..request_bodies import CompetitionIn, parse
from ..storage.base import Storage
from . import codabench, codalab
from .plan import YAML, Plan
from .source import open_bundle


def detect_version(data: dict[str, Any]) -> str:
    version = data.get("version")
    text = "1" if version is None else str(version).strip()
    if text in ("1", "1.0", "1.5", "1.8"):
        return "1.8" if text == "1.8" else text
    if text in ("2", "2.0"):
        return "2"
    raise BundleError([f"{YAML}: version: unknown version {version!r} (expected 1, 1.5, 1.8 or 2)"])


def read_plan(path: str, workdir: str, max_bytes: int = DEFAULT_MAX_BYTES,
              max_files: int = DEFAULT_MAX_FILES) -> tuple[Plan, str, Any]:
    source = open_bundle(path, workdir, max_bytes, max_files)
    version = detect_version(source.data)
    plan = codabench.convert(source) if version == "2" else codalab.convert(source, version)
    return plan, version, source


def _free_slug(session: Session, slug: str) -> str:
    candidate, n = slug, 1
    while session.scalar(select(Competition.id).where(Competition.slug == candidate)):
        n += 1
        candidate = f"{slug[:60]}-{n}"
    return candidate


def _strip_private(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_private(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_strip_private(v) for v in value]
    return value


def _replace(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, ids) for v in value]
    if isinstance(value, str) and value in ids:
        return ids[value]
    return value


def _store(session: Session, storage: Storage, identity: Identity, plan: Plan, source, stored: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for placeholder, ref in plan.files.items():
        if ref.dataset_id is not None:
            ids[placeholder] = ref.dataset_id
            continue
        data = source.zip_bytes(ref.path)
        key = new_storage_key("artifacts")
        storage.put(key, data)
        stored.append(key)
        artifact = Artifact(
            kind=ArtifactKind(ref.kind), name=os.path.basename(ref.path.rstrip("/")) or ref.kind,
            storage_key=key, state=ArtifactState.ready, size=len(data),
            sha256=hashlib.sha256(data).hexdigest(), created_by=identity.name,
        )
        session.add(artifact)
        session.flush()
        ids[placeholder] = artifact.id
    return ids


def import_bundle(
    session: Session,
    storage: Storage,
    identity: Identity,
    path: str,
    defaults: dict[str, int],
    slug: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
) -> Competition:
    """Create the competition a bundle describes (unpublished), or raise BundleError."""
    stored: list[str] = []
    with tempfile.TemporaryDirectory(prefix="podium-bundle-") as workdir:
        try:
            plan, _version, source = read_plan(path, workdir, max_bytes, max_files)
            if plan.problems:
                raise BundleError(plan.problems)
            ids = _store(session, storage, identity, plan, source, stored)
            body = _replace(_strip_private(plan.body), ids)
            body["slug"] = _free_slug(session, slug or body["slug"])
            try:
                parsed = parse(CompetitionIn, body)
            except ValidationFailed as e:
                raise BundleError([f"{YAML}: {p['location']}: {p['message']}" for p in e.extra["errors"]]) from None
            try:
                competition = competitions.create_competition(session, identity, parsed, defaults)
            except PodiumError as e:
                raise BundleError([f"{YAML}: {e.message}"]) from None
            if plan.logo is not None and plan.logo.path:
                logo = next((a for a in session.scalars(select(Artifact).where(Artifact.id.in_(ids.values())))
                             if a.kind == ArtifactKind.logo), None)
                if logo is not None:
                    logo.competition_id = competition.id
            for artifact in session.scalars(select(Artifact).where(Artifact.id.in_(list(ids.values())))):
                if artifact.competition_id is None and artifact.created_by == identity.name:
                    artifact.competition_id = competition.id
            session.flush()
            return competition
        except BaseException:
            session.rollback()
            for key in stored:
                storage.delete(key)
            raise
