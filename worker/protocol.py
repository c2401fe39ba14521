"""The job protocol between the service and its workers, defined once for both sides.

Every message that crosses the wire is a ``TypedDict`` here: the worker's light install builds
and reads them as plain dicts (no pydantic), and the service validates the same definitions with
pydantic (``podium.server.request_bodies.parse``, a ``TypeAdapter`` per message, also behind the
OpenAPI document), so the two cannot describe a field differently.

::

    worker                                   service
    GET  /worker/config ...................→ WorkerConfig   (broker, lease, protocol versions)
    POST /worker/attempts/{id}/claim       ClaimRequest   → JobSpec         (409: held elsewhere;
                                                                             426: protocol refused)
    POST /worker/attempts/{id}/heartbeat   HeartbeatRequest → HeartbeatAnswer
    POST /worker/attempts/{id}/finish      FinishRequest  → FinishAnswer    (an AttemptReport + worker)
    POST /worker/status                    WorkerStatus   → WorkerStatusAnswer (every few seconds, busy or
                                                                             not: alive, version, cannot_work)

Workers and services are upgraded separately, so a change must keep working across one side's
upgrade:

* **Adding a field** is compatible, and needs no new version, when it is optional on the
  receiving side: declare it in a ``total=False`` part (a key a sender may leave out), give it
  its default where the message is read (``attempt_report`` for reports), and never make an
  older sender's message invalid. Receivers ignore fields they do not know (the service
  validates with pydantic's default of ignoring extra keys; the worker reads only the keys it
  knows), so a newer side may send a field an older one has never heard of.
* **Removing, renaming or changing the meaning or type of a field** is incompatible: bump
  ``PROTOCOL_VERSION``, and raise ``OLDEST_PROTOCOL`` once the service no longer serves the old
  form. A worker sends its version with every claim (``ClaimRequest.protocol``; a worker from
  before versions sends none, which counts as 0) and checks the range the service announces in
  ``WorkerConfig`` when it starts. A service refuses a claim outside ``OLDEST_PROTOCOL ..
  PROTOCOL_VERSION`` with HTTP 426 and a message that says which side to upgrade
  (``mismatch_message``); the attempt stays queued for a worker that speaks its protocol.

Length and pattern limits are ``Bounded`` annotations: plain metadata the worker ignores and
pydantic applies on the service (through ``__get_pydantic_core_schema__``), so they too are
written once and appear in the OpenAPI document.
"""

from typing import Annotated, Any, Literal, NotRequired

try:  # pydantic reads TypedDicts from typing_extensions before Python 3.12; the service has it
    from typing_extensions import TypedDict
except ImportError:  # the worker's light install: the standard library's build the same dicts
    from typing import TypedDict

TASK_NAME = "podium.run_attempt"

#: The job protocol this code speaks. Bump it on an incompatible change only (see above).
PROTOCOL_VERSION = 1
#: The oldest worker protocol a service of this version still serves.
OLDEST_PROTOCOL = 1
#: What a claim without ``protocol`` counts as: a worker from before job protocol versions.
UNVERSIONED = 0


def celery_queue(queue: str) -> str:
    """The broker queue a compute queue's workers consume."""
    return f"podium-{queue}"


def mismatch_message(worker_version: int, oldest: int = OLDEST_PROTOCOL, newest: int = PROTOCOL_VERSION) -> str | None:
    """Why a worker speaking ``worker_version`` cannot work for a service serving ``oldest ..
    newest``, or None when it can."""
    if worker_version < oldest:
        return (f"this worker speaks job protocol {worker_version}, the service needs {oldest}: "
                "upgrade jupyter-podium on the worker")
    if worker_version > newest:
        return (f"this worker speaks job protocol {worker_version}, the service speaks at most {newest}: "
                "upgrade jupyter-podium on the service (or install an older jupyter-podium on the worker)")
    return None


class Bounded:
    """A length or pattern limit on a string field, or a range on an integer. Metadata only on
    the worker; pydantic (on the service) turns it into the check and the JSON schema keyword."""

    def __init__(self, max_length: int | None = None, pattern: str | None = None,
                 ge: int | None = None, le: int | None = None) -> None:
        self.max_length, self.pattern, self.ge, self.le = max_length, pattern, ge, le

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        schema = handler(source)
        if self.ge is not None:
            schema["ge"] = self.ge
        if self.le is not None:
            schema["le"] = self.le
        if self.max_length is not None:
            schema["max_length"] = self.max_length
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        return schema

    def __repr__(self) -> str:
        return f"Bounded(max_length={self.max_length!r}, pattern={self.pattern!r}, ge={self.ge!r}, le={self.le!r})"


WorkerName = Annotated[str, Bounded(pattern=r"^[A-Za-z0-9_.@-]{1,200}$")]
Text = Annotated[str, Bounded(max_length=20000)]
#: an exit code as the service stores it (an INTEGER column)
ExitCode = Annotated[int, Bounded(ge=-(2**31), le=2**31 - 1)]
Step = Literal["predict", "score"]
OutputName = Literal["output", "log", "detailed_results", "notebook"]
ScoreValue = float | int | str | None
#: a score's confidence interval: [low, high]
Interval = tuple[float, float]


# --- configuration --------------------------------------------------------------------------


class _WorkerConfigRequired(TypedDict):
    queue: str
    celery_queue: str
    broker_url: str
    broker_transport_options: dict[str, Any]
    lease_seconds: int


class WorkerConfig(_WorkerConfigRequired, total=False):
    """What a worker of a queue needs to start (``GET /worker/config``)."""

    protocol: int  # the newest job protocol the service speaks (absent: a service before versions)
    oldest_protocol: int  # the oldest worker protocol it serves


# --- claim ----------------------------------------------------------------------------------


class _ClaimRequired(TypedDict):
    worker: WorkerName


class ClaimRequest(_ClaimRequired, total=False):
    """A worker asks to hold an attempt."""

    hostname: Annotated[str, Bounded(max_length=255)]
    protocol: int  # the worker's PROTOCOL_VERSION; absent means UNVERSIONED
    version: Annotated[str, Bounded(max_length=64)]  # the worker's jupyter-podium version


class JobInput(TypedDict):
    """An object the attempt may read: a signed GET URL and what the download must match."""

    url: str
    sha256: str
    size: int


class OutputSlot(TypedDict):
    """An object the attempt may write: a signed PUT URL, its size cap in bytes, and (only for a
    storage that needs them, e.g. Azure's ``x-ms-blob-type``) headers the PUT must carry."""

    url: str
    max_size: int
    headers: NotRequired[dict[str, str]]


class JobInputs(TypedDict, total=False):
    """The inputs a step may read; each is present only when this step may see it."""

    submission: JobInput
    ingestion_program: JobInput
    input_data: JobInput
    predictions: JobInput
    scoring_program: JobInput
    reference_data: JobInput


class _JobOutputsRequired(TypedDict):
    output: OutputSlot
    log: OutputSlot


class JobOutputs(_JobOutputsRequired, total=False):
    """Where a step puts its results; ``detailed_results`` only when scoring; ``notebook`` (the
    executed copy of a notebook submission) only in a phase that accepts notebooks."""

    detailed_results: OutputSlot
    notebook: OutputSlot


class BootstrapSettings(TypedDict):
    """How a leaderboard's confidence intervals are computed from per-example scores (``uncertainty``)."""

    resamples: Annotated[int, Bounded(ge=0, le=100_000)]
    level: float
    seed: Annotated[int, Bounded(ge=0, le=2**32 - 1)]


class JobSpec(TypedDict):
    """The claim's answer: everything the worker needs for one attempt, with signed URLs for
    exactly the objects this step may touch."""

    attempt: int
    submission: int
    step: Step
    number: int
    lease_seconds: int
    time_limit: int  # seconds
    image: str
    ingestion_only_during_scoring: bool
    inputs: JobInputs
    outputs: JobOutputs
    score_keys: list[str]
    #: how to compute the columns' confidence intervals (``uncertainty``); absent: none
    bootstrap: NotRequired[BootstrapSettings | None]
    #: the phase accepts notebook submissions: one ``.ipynb`` (and no ``metadata``) is executed
    #: (absent from a service before notebooks: False)
    notebook: NotRequired[bool]


# --- heartbeat ------------------------------------------------------------------------------


class _HeartbeatRequired(TypedDict):
    worker: WorkerName


#: The most of the participant's live output one heartbeat carries (characters, the latest kept).
LIVE_LOG_CHARS = 8000


class HeartbeatRequest(_HeartbeatRequired, total=False):
    """A worker renews the lease of the attempt it holds."""

    # while a predict step runs: the tail of the participant's stdout/stderr so far, sent when it
    # changed (at most LIVE_LOG_CHARS); a service before it ignores it, a worker before it sends none
    log_tail: Annotated[str, Bounded(max_length=LIVE_LOG_CHARS)]


class HeartbeatAnswer(TypedDict):
    cancel: bool  # the submission was cancelled: stop the containers and report "cancelled"
    lease_expires_at: str  # ISO 8601, UTC


# --- the worker's own heartbeat -------------------------------------------------------------


class _WorkerStatusRequired(TypedDict):
    worker: WorkerName


#: The longest reason a worker gives for taking no job (characters).
CANNOT_WORK_CHARS = 1000
#: Seconds between two status reports of a worker (the service counts a worker live for a few leases).
STATUS_INTERVAL = 10.0


class WorkerStatus(_WorkerStatusRequired, total=False):
    """A worker says it is alive, what it runs, and, when it takes no job, why (a service before
    this message answers 404, which the worker ignores)."""

    hostname: Annotated[str, Bounded(max_length=255)]
    protocol: int
    version: Annotated[str, Bounded(max_length=64)]
    # None (or absent) while it takes jobs; else why not, e.g. "the Docker engine does not answer"
    cannot_work: Annotated[str, Bounded(max_length=CANNOT_WORK_CHARS)] | None


class WorkerStatusAnswer(TypedDict):
    queue: str


# --- finish ---------------------------------------------------------------------------------


class _ReportRequired(TypedDict):
    state: Literal["succeeded", "failed", "cancelled"]


class AttemptReport(_ReportRequired, total=False):
    """How an attempt ended. Build it with ``attempt_report``, which fills every default; a
    reader gives a report it received to ``attempt_report`` too, for the same defaults."""

    failure_kind: Literal["participant", "platform"] | None
    reason: Text | None
    retryable: bool  # a platform failure may be tried again (never a participant's)
    exit_code: ExitCode | None
    elapsed: float | None  # seconds the step's main program ran
    log_tail: Text  # what the participant may see of their program's output
    scores: dict[str, ScoreValue] | None
    #: each column's bootstrap confidence interval [low, high], when per-example scores were written
    intervals: dict[str, Interval] | None
    files: list[OutputName]  # the output slots that were uploaded


class FinishRequest(AttemptReport):
    """A worker reports how the attempt it holds ended."""

    worker: WorkerName


class FinishAnswer(TypedDict):
    attempt: int
    state: str
    submission_status: str


def attempt_report(state: Literal["succeeded", "failed", "cancelled"], *,
                   failure_kind: Literal["participant", "platform"] | None = None, reason: str | None = None,
                   retryable: bool = True, exit_code: int | None = None, elapsed: float | None = None,
                   log_tail: str = "", scores: dict[str, ScoreValue] | None = None,
                   intervals: dict[str, Interval] | None = None,
                   files: list[OutputName] | tuple[OutputName, ...] = ()) -> AttemptReport:
    """An ``AttemptReport`` with every field, defaults filled: the one place reports are made."""
    return AttemptReport(state=state, failure_kind=failure_kind, reason=reason, retryable=retryable,
                         exit_code=exit_code, elapsed=elapsed, log_tail=log_tail, scores=scores,
                         intervals=intervals, files=list(files))
