"""A compute worker's side of the job protocol spoken by hand over real HTTP, for tests that play
what a worker (or someone replaying its links) sends: a competition on a queue of its own (so no
running worker takes its attempts), claims, signed PUTs and finishes."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from conftest import competition_body, unique_slug, upload_dataset
from podium.server.orm import Attempt, AttemptState
from podium.worker.protocol import PROTOCOL_VERSION

from . import programs
from .web_session import create_queue


def competition_on_own_queue(api, service, organizer, users, *, ingestion: bool = False,
                             **phase: object) -> tuple[dict, object, dict[str, str]]:
    """A published competition with a scoring program (and an ingestion program), served by a
    queue no worker listens to: (competition, a registered participant, the queue's headers)."""
    task = {"key": "main", "name": "Main",
            "scoring_program": upload_dataset(api, organizer, "scoring_program", "s.zip", programs.V2_SCORING),
            "reference_data": upload_dataset(api, organizer, "reference_data", "r.zip", programs.REFERENCE)}
    if ingestion:
        task["ingestion_program"] = upload_dataset(api, organizer, "ingestion_program", "i.zip", programs.V2_INGESTION)
    queue = create_queue(api, users)
    body = competition_body(unique_slug("hostile"), tasks=[task], queue=queue["name"])
    body["phases"][0].update(phase)
    comp = api(organizer, "POST", "/competitions", json=body, expect=201).json()
    api(organizer, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    participant = users.make("hostile")
    api(participant, "POST", f"/competitions/{comp['id']}/register", expect=200)
    return comp, participant, {"Authorization": f"token {queue['token']}"}


def submit(api, user, phase_id: int, data: bytes) -> tuple[int, str]:
    """Submit ``data``; (submission id, the upload URL it was given)."""
    created = api(user, "POST", f"/phases/{phase_id}/submissions", expect=201,
                  json={"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}).json()
    api.upload(created["upload_url"], data)
    api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=200)
    return created["id"], created["upload_url"]


def queued_attempt(service, submission_id: int) -> int:
    """The submission's attempt waiting for a worker."""
    with service.app.session_factory() as session:
        return session.scalars(sa.select(Attempt.id).where(Attempt.submission_id == submission_id,
                                                            Attempt.state == AttemptState.queued)).one()


def claim(api, headers: dict[str, str], attempt_id: int, worker: str = "hand") -> dict:
    return api(None, "POST", f"/worker/attempts/{attempt_id}/claim", headers=headers, expect=200,
               json={"worker": worker, "hostname": "box", "protocol": PROTOCOL_VERSION}).json()


def finish(api, headers: dict[str, str], attempt_id: int, worker: str = "hand", **report: object) -> dict:
    from podium.worker.protocol import attempt_report

    body = {"worker": worker, **attempt_report(**report)}  # type: ignore[arg-type]
    return api(None, "POST", f"/worker/attempts/{attempt_id}/finish", headers=headers, expect=200, json=body).json()
