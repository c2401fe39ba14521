"""Every error the service reports, in one tree, each mapped to one HTTP status.

::

    PodiumError (500)
    ├── ValidationFailed (400) ........ the request body or query is wrong; ``errors`` lists each problem
    │   └── BundleError (400) ......... a competition bundle is wrong; each problem names file and key
    ├── NotAuthenticated (401)
    ├── PermissionDenied (403)
    ├── NotFound (404)
    ├── Conflict (409) ................ e.g. a slug or column key already taken, a state change not allowed
    │   └── InvalidTransition (409) ... a submission status change the state machine forbids
    ├── WorkerProtocolRefused (426) ... a worker speaks a job protocol this service does not serve
    ├── SubmissionError (422)
    │   ├── PhaseClosed ............... the phase has not started or has ended
    │   ├── NotRegistered ............. the user is not an approved participant
    │   ├── QuotaExceeded (429) ....... daily or total quota used up; carries ``resets_at``
    │   └── UploadMismatch ............ the uploaded object's size or checksum differ from what was announced
    └── StorageError (see ``podium.server.storage.base``), rendered with its own statuses

Handlers raise these; the one ``write_error`` of the base handler renders them as
``{"error": {"status", "reason", "message", ...}}``. Messages are written for the person who
reads them in a notebook or a browser, never for the developer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class PodiumError(Exception):
    """Base of every error the service reports on purpose."""

    status_code = 500

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        """The body of the error response."""
        body: dict[str, Any] = {
            "status": self.status_code,
            "reason": type(self).__name__,
            "message": self.message,
        }
        body.update(self.extra)
        return body


class ValidationFailed(PodiumError):
    """The request is malformed; ``errors`` lists every problem with its location."""

    status_code = 400

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, errors=errors or [])


class BundleError(ValidationFailed):
    """A CodaLab / Codabench bundle that cannot be imported. Every problem names the file, the key
    path and what is wrong, and all of them are reported at once."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        summary = "; ".join(self.problems[:20]) + (f"; and {len(self.problems) - 20} more" if len(self.problems) > 20 else "")
        super().__init__(
            f"The bundle cannot be imported: {summary}",
            [{"location": p.split(": ", 1)[0], "message": p} for p in self.problems],
        )


class NotAuthenticated(PodiumError):
    status_code = 401


class PermissionDenied(PodiumError):
    status_code = 403


class NotFound(PodiumError):
    status_code = 404


class Conflict(PodiumError):
    status_code = 409


class InvalidTransition(Conflict):
    """A status change the submission state machine does not allow."""


class WorkerProtocolRefused(PodiumError):
    """A worker's claim names a job protocol version outside what this service serves; the
    message (``podium.worker.protocol.mismatch_message``) says which side to upgrade."""

    status_code = 426


class SubmissionError(PodiumError):
    status_code = 422


class PhaseClosed(SubmissionError):
    pass


class NotRegistered(SubmissionError):
    status_code = 403


class QuotaExceeded(SubmissionError):
    status_code = 429

    def __init__(self, message: str, resets_at: datetime | None) -> None:
        super().__init__(
            message, resets_at=resets_at.isoformat() + "Z" if resets_at is not None else None
        )


class UploadMismatch(SubmissionError):
    pass
