"""Every error the service reports, in one tree, each mapped to one HTTP status.

::

    PodiumError (500)
    ├── ValidationFailed (400) ........ the request body or query is wrong; ``errors`` lists each problem
    │   ├── BundleError (400) ......... a competition bundle is wrong; each problem names file and key
    │   ├── UnsafeRedirect (400) ...... a ``next`` URL that would leave this service
    │   └── JsonTooDeep (400) ......... a JSON body nested deeper than the API ever needs
    ├── RequestTooLarge (413) ......... a request body larger than any the API accepts (refused unread)
    ├── NotAuthenticated (401)
    ├── PermissionDenied (403)
    │   ├── QueueNotShared (403) ...... a competition names a compute queue its organizer may not use
    │   └── LtiLaunchRefused (403) .... an LTI launch whose signature, audience, nonce, state or deployment fails
    ├── NotFound (404)
    │   └── RuntimeImageUnknown (404)  a phase's runtime image is not on this host's engine: no environment
    ├── Conflict (409) ................ e.g. a slug or column key already taken, a state change not allowed
    │   ├── InvalidTransition (409) ... a submission status change the state machine forbids
    │   ├── CodeNotRevealed (409) ..... a phase's code asked for before it ends, or in a phase that reveals none
    │   ├── QueueInUse (409) .......... a compute queue that competitions still use cannot be deleted
    │   ├── SelectionLocked (409) ..... the final selection closed with the participant's deadline
    │   └── SelectionLimit (409) ...... more submissions selected than the phase allows
    ├── LtiPlatformError (502) ........ the course's LMS refused a grade passback or its token request
    ├── WorkerProtocolRefused (426) ... a worker speaks a job protocol this service does not serve
    ├── SubmissionError (422)
    │   ├── PhaseClosed ............... the phase has not started or has ended
    │   │   └── DeadlinePassed ........ past the participant's own deadline: their extension or the grace period
    │   ├── NotRegistered (403) ....... the user is not an approved participant
    │   ├── QuotaExceeded (429) ....... daily or total quota used up; carries ``resets_at``
    │   ├── UploadMismatch ............ the uploaded object's size or checksum differ from what was announced
    │   └── SubmissionTooLarge (413) .. larger than the phase accepts
    ├── StorageError (500) ............ a storage refusal; the local backend's signed links answer with these too
    │   ├── InvalidStorageKey (400) ... an object name that is not a safe relative path
    │   ├── ObjectNotFound (404)
    │   ├── SignatureInvalid (403) .... a link with a missing or tampered signature
    │   ├── SignatureExpired (403)
    │   ├── MethodNotAllowedBySignature (403)  a GET with a PUT link or the reverse
    │   ├── UploadClosed (409) ........ an upload link whose purpose ended (object final, attempt over)
    │   ├── ObjectTooLarge (413) ...... an upload larger than its link allows
    │   ├── StorageMisconfigured ...... S3 / Azure settings that cannot work (at startup): names the setting
    │   └── MigrationFailed ........... ``podium storage migrate``: an object did not read back as sent
    ├── BrokerAccountError (502) ...... RabbitMQ's management API refused or did not answer (a queue's vhost or user)
    ├── NotebookUnreadable (422) ...... an executed notebook the submission page cannot show (too large, not JSON)
    ├── SchemaOutOfDate (500) ......... the database does not match this code (at startup, never in a request)
    ├── RebuildInterrupted (503) ...... the service stopped while a child process ranked a leaderboard; nothing was saved
    └── DatabaseOnEventLoop (500) ..... a statement about to block the event loop (refused where the guard is strict: the tests)

Handlers raise these; the one ``write_error`` of the base handler renders them as
``{"error": {"status", "reason", "message", ...}}``. Messages are written for the person who
reads them in a notebook or a browser, never for the developer. A test
(``tests/unit/test_error_trees.py``) checks that every exception class of ``podium.server`` is
drawn here under its parent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

#: the longest object key a storage backend accepts (``storage.base.validate_key``)
MAX_KEY_LENGTH = 512


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


class UnsafeRedirect(ValidationFailed):
    """A ``next`` URL that would leave this service (another host, a scheme, a trick)."""

    def __init__(self, target: str) -> None:
        super().__init__(
            f"Refusing to redirect to {target!r}: after login Podium only goes to its own pages.",
            [{"location": "next", "message": "must be a path on this service"}],
        )


class JsonTooDeep(ValidationFailed):
    """A JSON body nested deeper than any body the API accepts; refused before it is walked."""


class RequestTooLarge(PodiumError):
    """A request body larger than the API accepts, refused by its announced length before
    authentication, or as soon as more bytes arrive than that."""

    status_code = 413


class NotAuthenticated(PodiumError):
    status_code = 401


class PermissionDenied(PodiumError):
    status_code = 403


class QueueNotShared(PermissionDenied):
    """A competition names a compute queue that the organizer setting it neither owns nor has been
    given (directly or through a hub group)."""

    def __init__(self, queue: str, owner: str | None) -> None:
        asks = f"ask its owner, {owner}, to share it with you" if owner else "ask a hub admin"
        super().__init__(f"You may not use the compute queue '{queue}': it is not yours and not shared with you "
                         f"or a hub group of yours; {asks}, or choose another queue.", queue=queue)


class LtiLaunchRefused(PermissionDenied):
    """An LTI 1.3 launch that does not verify: nothing of it is recorded."""


class NotFound(PodiumError):
    status_code = 404


class RuntimeImageUnknown(NotFound):
    """A phase's runtime image is not on the service's Docker engine, so its environment is unknown."""


class Conflict(PodiumError):
    status_code = 409


class InvalidTransition(Conflict):
    """A status change the submission state machine does not allow."""


class CodeNotRevealed(Conflict):
    pass


class QueueInUse(Conflict):
    """A compute queue cannot be deleted while competitions send their submissions to it;
    ``competitions`` lists their slugs."""

    def __init__(self, queue: str, competitions: list[str]) -> None:
        super().__init__(f"The compute queue '{queue}' is used by {len(competitions)} competition(s): "
                         f"{', '.join(competitions)}; move them to another queue first.", competitions=competitions)


class SelectionLocked(Conflict):
    """The final selection cannot change after the participant's deadline."""


class SelectionLimit(Conflict):
    """Selecting one more submission than the phase's ``max_selected``."""


class LtiPlatformError(PodiumError):
    """The LMS (an LTI 1.3 platform) refused or failed a request of its Assignment and Grade Services."""

    status_code = 502


class WorkerProtocolRefused(PodiumError):
    """A worker's claim names a job protocol version outside what this service serves; the
    message (``podium.worker.protocol.mismatch_message``) says which side to upgrade."""

    status_code = 426


class SubmissionError(PodiumError):
    status_code = 422


class SubmissionTooLarge(SubmissionError):
    """The announced submission is larger than the phase accepts."""

    status_code = 413


class PhaseClosed(SubmissionError):
    pass


class DeadlinePassed(PhaseClosed):
    """Past the participant's effective deadline (their extension, if any) and the grace period;
    carries ``deadline`` and ``grace_until``."""

    def __init__(self, message: str, deadline: datetime, grace_until: datetime) -> None:
        super().__init__(message, deadline=deadline.isoformat() + "Z", grace_until=grace_until.isoformat() + "Z")


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


class StorageError(PodiumError):
    """Base of every storage refusal; ``status_code`` is the HTTP status it is served with, by the
    API and by the local backend's signed links alike."""

    default_message = "The file storage could not complete this request."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class InvalidStorageKey(StorageError):
    """The object name is not a safe relative path (so it can never escape the storage root)."""

    status_code = 400
    default_message = (
        "This file name is not valid: use '/'-separated names made of letters, digits, '.', '_' "
        f"and '-', with no empty, '.' or '..' parts, at most {MAX_KEY_LENGTH} characters in all."
    )


class ObjectNotFound(StorageError):
    """No object is stored under the key."""

    status_code = 404
    default_message = "This file does not exist (it was never uploaded, or it has been deleted)."


class SignatureInvalid(StorageError):
    """The link was altered, cut short, or signed with another key."""

    status_code = 403
    default_message = (
        "This link is not valid: it was altered or is incomplete. Copy the whole link again, "
        "or ask for a new one."
    )


class SignatureExpired(StorageError):
    """The link was genuine but its time is up."""

    status_code = 403
    default_message = "This link has expired. Ask for a new one."


class MethodNotAllowedBySignature(StorageError):
    """The link grants another method: a download link used to upload, or the reverse."""

    status_code = 403
    default_message = (
        "This link does not allow this kind of request: a download link cannot be used to "
        "upload, nor an upload link to download."
    )


class UploadClosed(StorageError):
    """An upload link used after its purpose ended: the object was confirmed (it is final), or the
    attempt whose output it was has ended. The stored object is left as it was."""

    status_code = 409
    default_message = "This upload link is no longer valid: the file it was for is final."


class ObjectTooLarge(StorageError):
    """The upload exceeds the size the link was signed for."""

    status_code = 413
    default_message = "This file is larger than this upload link accepts."


class StorageMisconfigured(StorageError):
    """The storage settings cannot work (a missing bucket, no credentials, an endpoint that does not
    answer); raised at start-up, with one sentence that names the setting to fix."""

    default_message = "The storage settings are not usable."


class MigrationFailed(StorageError):
    """An object copied by ``podium storage migrate`` did not read back as it was sent."""

    default_message = "An object could not be copied to the new storage."


class BrokerAccountError(PodiumError):
    """RabbitMQ's management API refused to make, re-key or remove a compute queue's virtual host
    or broker user, or could not be reached. Nothing was changed on the service's side."""

    status_code = 502


class NotebookUnreadable(PodiumError):
    """An executed notebook (participant output) the submission page cannot show; it can still
    be downloaded."""

    status_code = 422


class SchemaOutOfDate(PodiumError):
    """The database schema is older (or newer) than this version of Podium expects; the service
    refuses to start, and the message says which command brings the schema up to date."""

    def __init__(self, database: str, current: str | None, head: str) -> None:
        self.database, self.current, self.head = database, current, head
        super().__init__(
            f"The database at {database} is at schema revision {current or 'none (empty)'}, this Podium "
            f"needs {head}: run `podium db upgrade` (or start the service with --upgrade-db)."
        )


class RebuildInterrupted(PodiumError):
    """The service stopped while a child process ranked a big phase's leaderboard for this
    request (``leaderboards.ranking_process``): the request's transaction is rolled back, so the
    change it made (a leaderboard's columns, a phase's rule) is not saved and can be sent again."""

    status_code = 503

    def __init__(self) -> None:
        super().__init__("The service is stopping: this change was not saved. Send it again in a moment.")


class DatabaseOnEventLoop(PodiumError):
    """A database statement was about to run on the event loop's thread, a path that skipped the
    database pool (``offloop.LoopGuard``): it would stop every request while it ran. Raised only
    where the guard is strict (the tests); the statement is in ``statement`` and in the log."""

    def __init__(self, statement: str) -> None:
        self.statement = statement
        super().__init__("This request took a path that would block the service for everyone; it was "
                         "refused and logged.")
