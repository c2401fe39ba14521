"""Whether a signed upload link still serves its purpose: an upload link dies when its object is
confirmed, a worker's output link when its attempt ends, whatever the link's expiry says.

The local backend's PUT handler asks before it reads a byte and again before the object replaces
the stored one. Object stores (S3, Azure) cannot ask at PUT time: there the same rule holds at
confirm time, when an object is only accepted while ``upload_refusal`` says nothing (see the
storage how-to in the docs).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .compute.job_spec import attempt_of_output
from .errors import UploadClosed
from .orm import Artifact, ArtifactState, Attempt, AttemptState


def upload_refusal(session: Session, key: str) -> UploadClosed | None:
    """Why a PUT to ``key`` must be refused now, or None while its link's purpose is alive."""
    state = session.scalar(select(Artifact.state).where(Artifact.storage_key == key))
    if state is None:
        return UploadClosed("This upload link is no longer valid: the file it was for no longer exists.")
    if state != ArtifactState.pending:
        return UploadClosed()
    attempt_id = attempt_of_output(key)
    if attempt_id is not None:
        attempt_state = session.scalar(select(Attempt.state).where(Attempt.id == attempt_id))
        if attempt_state != AttemptState.running:
            return UploadClosed("This upload link is no longer valid: the run it was for has ended.")
    return None
