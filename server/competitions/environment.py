"""A phase's runtime environment (its image's Python and packages) and its public scoring kit.

The environment is read from the image's ``org.podium.runtime.environment`` label, which
``podium images build`` writes when it builds an image (older images are probed once by running
their Python with no network); the service reads it from the Docker engine of its own host,
where the embedded default's worker runs too. The public scoring kit is what a participant needs
to score on their own machine exactly as the worker does: the task's scoring program and the
public reference split the organizer published, plus the ingestion program and the phase's
public data when the phase runs participant code.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.orm import Session

from ...worker import images
from ...worker.errors import ImageBuildError
from ..errors import NotFound, RuntimeImageUnknown
from ..orm import Artifact, ArtifactState, Phase, Task
from ..storage.base import Storage

_known: dict[tuple[str, str], dict[str, Any]] = {}  # (image name, image id) → environment
_lock = threading.Lock()


def phase_image(phase: Phase) -> str:
    """The image a phase's programs run in, as the organizer named it: the phase's, else the competition's."""
    return named_image(phase.docker_image, phase.competition.docker_image)


def named_image(phase_image: str | None, competition_image: str) -> str:
    """``phase_image`` from the two columns themselves (a claim reads them without the objects)."""
    return phase_image or competition_image


def image_environment(named: str, aliases: dict[str, str] | None = None) -> dict[str, Any]:
    """``{"image", "runtime_image", "python", "packages"}`` of the image ``named`` (blocking: call
    it off the event loop); cached per image id, so a rebuilt image is read again."""
    runtime = images.resolve_image(named, aliases)
    try:
        image_id = images.image_id(runtime)
        if image_id is None:
            raise RuntimeImageUnknown(
                f"The runtime image {runtime} (for {named}) is not on this service's Docker engine, so its "
                "environment is unknown; the admins build it with `podium images build`.")
        with _lock:
            found = _known.get((runtime, image_id))
        if found is None:
            found = images.image_environment(runtime)
            with _lock:
                _known[(runtime, image_id)] = found
    except ImageBuildError as e:
        raise RuntimeImageUnknown(f"The environment of {runtime} could not be read: {e}") from None
    return {"image": named, "runtime_image": runtime, "python": found["python"], "packages": found["packages"]}


def _kit_task(phase: Phase, key: str | None) -> Task:
    tasks = [t for t in phase.tasks if key is None or t.key == key]
    for task in tasks:
        if task.public_reference_data_id and task.scoring_program_id:
            return task
    raise NotFound(f"Phase '{phase.name}' publishes no public scoring kit"
                   + (f" for task '{key}'" if key else "")
                   + ": its organizers have not published a public reference split.")


def scoring_kit(session: Session, storage: Storage, phase: Phase, expiry: int, task_key: str | None = None
                ) -> dict[str, Any]:
    """What ``podium check`` downloads: the image, limits and score keys a worker would use, and
    signed GET URLs of the public files only (never the real reference data or input data)."""
    task = _kit_task(phase, task_key)
    wanted = {"scoring_program": task.scoring_program_id, "reference_data": task.public_reference_data_id}
    if task.ingestion_program_id:
        wanted["ingestion_program"] = task.ingestion_program_id
        if phase.public_data_id:
            wanted["input_data"] = phase.public_data_id
    files = {}
    for name, artifact_id in wanted.items():
        artifact = session.get(Artifact, artifact_id)
        if artifact is not None and artifact.state == ArtifactState.ready:
            files[name] = {"url": storage.signed_url(artifact.storage_key, "GET", expires_in=expiry),
                           "sha256": artifact.sha256, "size": artifact.size}
    board = phase.leaderboard
    return {
        "phase": phase.id,
        "task": task.key,
        "image": phase_image(phase),
        "time_limit": phase.execution_time_limit,
        "ingestion_only_during_scoring": task.ingestion_only_during_scoring,
        "score_keys": [c.key for c in board.columns if c.computation is None] if board else [],
        "files": files,
    }
