"""Uploads in parts: one protocol on every backend, for files too large for one PUT or worth resuming.

An announced object (a submission's file, a dataset, a program, a bundle) is sent as numbered
parts of a size the service chooses (``PartPlan``): start (or resume) the upload, ask for signed
URLs of the parts still missing, PUT them (in parallel, in any order), complete (the storage
assembles the parts), then confirm as after a single PUT, which checks size and sha256. The
storage keeps what arrived (an S3 multipart upload, Azure uncommitted blocks, local chunk files),
so a client that lost its connection or its kernel asks what arrived and sends only the rest.
"""

from __future__ import annotations

import logging
from typing import Any

from .errors import Conflict, ValidationFailed
from .orm import Artifact, ArtifactState
from .storage.base import PartPlan, Storage


def plan_of(artifact: Artifact, preferred_part_size: int) -> PartPlan:
    """How ``artifact`` is cut into parts (the same answer at every call for the same settings)."""
    return PartPlan.for_size(int(artifact.size or 0), preferred_part_size)


def require_pending(artifact: Artifact) -> None:
    """Refuse parts for an object that is already confirmed: it is final."""
    if artifact.state != ArtifactState.pending:
        raise Conflict("This file was already uploaded and confirmed; it cannot be uploaded again.")


def state(storage: Storage, artifact: Artifact, plan: PartPlan) -> dict[str, Any]:
    """What a client needs to (re)start: the plan, and the parts that arrived whole (a part of
    the wrong size, say cut off on Azure, is not listed, so the client sends it again)."""
    arrived = storage.arrived_parts(artifact.storage_key)
    whole = sorted(n for n, size in arrived.items() if 1 <= n <= plan.count and size == plan.size_of(n))
    return {
        "size": plan.size,
        "part_size": plan.part_size,
        "part_count": plan.count,
        "arrived": whole,
        "bytes_arrived": sum(plan.size_of(n) for n in whole),
        "part_headers": storage.part_headers(),
    }


def start(storage: Storage, artifact: Artifact, plan: PartPlan) -> dict[str, Any]:
    """Open the upload in parts (or keep the open one) and say what arrived already."""
    require_pending(artifact)
    storage.start_parts(artifact.storage_key)
    return state(storage, artifact, plan)


def part_urls(storage: Storage, artifact: Artifact, plan: PartPlan, numbers: list[int], expires_in: int) -> list[dict[str, Any]]:
    """Signed PUT URLs for the parts ``numbers``, each bound to its planned size where the storage can."""
    require_pending(artifact)
    wrong = [n for n in numbers if not 1 <= n <= plan.count]
    if wrong:
        raise ValidationFailed(
            f"This upload has parts 1 to {plan.count}; there is no part {wrong[0]}.",
            [{"location": "numbers", "message": f"must be between 1 and {plan.count}"}],
        )
    return [
        {"number": n, "size": plan.size_of(n),
         "url": storage.part_url(artifact.storage_key, n, plan.size_of(n), expires_in)}
        for n in sorted(set(numbers))
    ]


def complete(storage: Storage, artifact: Artifact, plan: PartPlan) -> None:
    """Assemble the parts into the object (UploadMismatch names a part missing or of the wrong
    size, and keeps the others); the caller then confirms the upload as after a single PUT."""
    require_pending(artifact)
    storage.complete_parts(artifact.storage_key, plan)


def abort(storage: Storage, artifact: Artifact) -> None:
    """Drop every part that arrived; the object stays announced, so the upload can start again."""
    require_pending(artifact)
    storage.abort_parts(artifact.storage_key)


def clean_abandoned(storage: Storage, max_age: float, log: logging.Logger | None = None) -> list[str]:
    """Drop the parts of every upload started more than ``max_age`` seconds ago and never
    completed (S3: abort the multipart upload; Azure: discard its uncommitted blocks; local:
    delete its chunks). A plain function the service's timer calls, so it can run under a lock."""
    cleaned: list[str] = []
    try:
        stale = storage.abandoned_part_uploads(max_age)
    except Exception:  # the storage is unreachable now: the next pass tries again
        if log is not None:
            log.exception("Listing abandoned uploads in parts failed")
        return cleaned
    for key in stale:
        try:
            storage.abort_parts(key)
        except Exception:  # one that fails is retried at the next pass; the others go on
            if log is not None:
                log.exception("Dropping the abandoned upload in parts of %s failed", key)
            continue
        cleaned.append(key)
    if cleaned and log is not None:
        log.info("Dropped %d abandoned upload(s) in parts", len(cleaned))
    return cleaned
