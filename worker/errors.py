"""Every error a compute worker raises on purpose, in one tree.

::

    WorkerError
    ├── AttemptFailed ............. this attempt ends failed; ``kind`` says whose fault (participant | platform)
    ├── Cancelled ................. the submission was cancelled while the attempt ran
    ├── ProtocolError ............. the service refused or could not be reached; ``status`` is the HTTP status if any
    │   ├── LeaseLost ............. another worker holds the attempt now, or it ended: stop working on it
    │   └── DownloadError ......... an input could not be fetched, or it does not match its checksum
    ├── ProtocolMismatch .......... the worker and the service speak job protocols that do not overlap
    ├── CannotWork ................ the worker cannot take a job now; it claims none and says why in its status
    │   ├── DiskFull .............. too little free disk to take an attempt, even with the dataset cache pruned
    │   └── EngineDown ............ the Docker engine does not answer, so no container could run
    ├── ArchiveError .............. an archive or directory that is unsafe or too large; names the entry
    ├── GuardedViewError .......... a link-proof view of a folder could not be mounted here
    ├── MetadataError ............. a program's metadata is missing or unreadable; names the file
    ├── ScoresError ............... the scoring program's output has no usable scores
    ├── DockerError ............... the Docker engine is missing or refused a request
    │   ├── EngineUnreachable ..... the engine does not answer (no socket, daemon stopped, timed out)
    │   ├── ImageMissing .......... the image is not on the engine (nothing is ever pulled)
    │   └── EngineRefused ......... the engine answered a request with an error; says which and why
    ├── EngineError ............... the Docker engine cannot be made to answer here; ``fix`` is the command that helps
    ├── WorkerNameTaken ........... a live worker of the same name already uses this Docker engine
    ├── UnsafeExecutorRefused ..... the local executor (no isolation) was not explicitly allowed
    ├── ImageBuildError ........... building a runtime image failed; says what to install
    └── CheckError ................ ``podium check`` cannot start: no engine, or the phase has no public scoring kit

The runner turns what a participant's or organizer's files cause (``ArchiveError``,
``MetadataError``, ``ScoresError``, a program that fails) into ``AttemptFailed`` with a message
for that person; any other error in an attempt is the platform's fault, which never costs a
participant quota. This module imports nothing, so every worker module (and the service, for
``ArchiveError``) may import it. A test (``tests/unit/test_error_trees.py``) checks that every
exception class of ``podium.worker`` is drawn here under its parent.
"""

from __future__ import annotations


class WorkerError(Exception):
    """Base of every error the worker raises on purpose."""


class AttemptFailed(WorkerError):
    """The attempt ends failed: ``kind`` is ``participant`` or ``platform`` (only the latter is
    retried, and only if ``retryable``); ``reason`` is the message the participant reads."""

    def __init__(self, kind: str, reason: str, retryable: bool = True, exit_code: int | None = None) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.retryable, self.exit_code = kind, reason, retryable, exit_code


class Cancelled(WorkerError):
    """The submission was cancelled while its attempt ran; the attempt stops and reports so."""


class ProtocolError(WorkerError):
    """The service refused or could not be reached; ``status`` is the HTTP status if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LeaseLost(ProtocolError):
    """Another worker holds the attempt now, or it ended: stop working on it."""


class DownloadError(ProtocolError):
    """An input could not be downloaded through its signed URL, or it does not match its checksum."""


class ArchiveError(WorkerError):
    """An archive or directory that is unsafe or too large; the message says which entry."""


class GuardedViewError(WorkerError):
    """A view of a folder in which links are not followed could not be mounted (not root, or a
    kernel older than Linux 5.10)."""


class MetadataError(WorkerError):
    """A program's metadata is missing or unreadable; the message names the file."""


class ScoresError(WorkerError):
    """The scoring program's output has no usable scores; the message is for the participant."""


class DockerError(WorkerError):
    """The engine is missing or refused a request."""


class EngineUnreachable(DockerError):
    """The Docker engine does not answer: its socket is missing, the daemon stopped, or a call
    timed out. Not the participant's fault: the attempt is the platform's to retry."""


class ImageMissing(DockerError):
    """The image a program should run in is not on this engine. Workers never pull: the admin
    builds runtime images with ``podium images build`` or maps the name with an alias."""


class EngineRefused(DockerError):
    """The Docker engine answered a request with an error (a bad mount, an unknown option, a name
    in use...); the message names the request and quotes the engine's explanation."""


class WorkerNameTaken(WorkerError):
    """A live worker of the same name already uses this Docker engine: a second one would remove
    its containers at start-up, so it refuses to start."""


class UnsafeExecutorRefused(WorkerError):
    """The local executor runs participant code without isolation; it refuses to start unless the
    worker was started with ``--allow-unsafe-local-executor``."""


class ImageBuildError(WorkerError):
    """Building a runtime image failed; the message says what to install or shows the tool's output."""


class EngineError(WorkerError):
    """The Docker engine cannot be made to answer here; ``fix`` is the one command that helps."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message if fix is None else f"{message}: {fix}")
        self.reason = message
        self.fix = fix


class ProtocolMismatch(WorkerError):
    """The worker and the service speak job protocols that do not overlap: one side must be
    upgraded. The message says which; the worker logs it and takes no job."""


class CannotWork(WorkerError):
    """This worker cannot take a job now (its message says why): it leaves the attempt unclaimed
    for the service to publish again, and reports the reason in its status until it clears."""


class EngineDown(CannotWork):
    """The Docker engine does not answer: no container could run, so no job is taken (the
    executor's own ``EngineUnreachable`` is what a call to it raised)."""


class DiskFull(CannotWork):
    """The worker's disk has less free space than ``--min-free-mb``, even with its dataset cache
    pruned: it claims no attempt until space is freed (the message says where and how much)."""


class CheckError(WorkerError):
    """A local check (``podium check``) that cannot start: no Docker engine, or no public scoring kit."""
