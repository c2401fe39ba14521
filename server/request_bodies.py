"""Request bodies the API accepts, as pydantic models; the OpenAPI document is built from them.

Unknown fields are refused (``extra="forbid"``), types are strict enough to catch a string where
a number belongs, and cross-field rules (dates in order, unique keys, phases with tasks) are
checked here so every problem in a body is reported at once with its location. The job
protocol's messages are ``TypedDict``s of ``podium.worker.protocol`` instead, validated here by
the same ``parse``; their unknown fields are ignored, so workers and services upgrade separately.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ValidationFailed

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="Lowercase URL name.")]
Key = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Title = Annotated[str, Field(min_length=1, max_length=200)]
#: every integer a body or query carries fits the column it is stored in or compared with:
#: INTEGER (ids, counts, positions) or BIGINT (sizes in bytes), on PostgreSQL and SQLite alike
INT_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
NonNegative = Annotated[int, Field(ge=0, le=INT_MAX)]
Position = Annotated[int, Field(ge=-INT_MAX, le=INT_MAX, description="Sort position (lowest first).")]
ByteSize = Annotated[int, Field(ge=0, le=BIGINT_MAX)]
ArtifactRef = Annotated[int, Field(ge=1, le=INT_MAX, description="Id of an uploaded dataset or program.")]
GroupName = Annotated[str, Field(min_length=1, max_length=255)]


def naive_utc(value: datetime | None) -> datetime | None:
    """Podium stores naive UTC; aware datetimes are converted, naive ones are taken as UTC."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Update(Body):
    """A PATCH body: a field left out keeps its value; ``null`` clears a field only where the
    stored value may be empty (``nullable``), and is refused, naming the field, anywhere else."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    def refused_nulls(self) -> list[str]:
        """The fields sent as ``null`` that may not be empty."""
        return sorted(name for name in self.model_fields_set
                      if getattr(self, name) is None and name not in self.nullable)


class PageIn(Body):
    key: Key
    title: Title
    content: str = ""
    index: Position | None = None


class PageUpdate(Update):
    title: Title | None = None
    content: str | None = None
    index: Position | None = None


class TaskIn(Body):
    key: Key
    name: Title
    description: str = ""
    scoring_program: ArtifactRef | None = None
    ingestion_program: ArtifactRef | None = None
    input_data: ArtifactRef | None = None
    reference_data: ArtifactRef | None = None
    public_reference_data: ArtifactRef | None = Field(
        None, description="A public reference split: publishes the public scoring kit (scoring program + this data).")
    ingestion_only_during_scoring: bool = False


class TaskUpdate(Update):
    nullable = frozenset({"scoring_program", "ingestion_program", "input_data", "reference_data",
                          "public_reference_data"})

    name: Title | None = None
    description: str | None = None
    scoring_program: ArtifactRef | None = None
    ingestion_program: ArtifactRef | None = None
    input_data: ArtifactRef | None = None
    reference_data: ArtifactRef | None = None
    public_reference_data: ArtifactRef | None = None
    ingestion_only_during_scoring: bool | None = None


class ColumnIn(Body):
    key: Key
    title: Title | None = None
    index: Position | None = None
    sorting: Literal["desc", "asc"] = "desc"
    precision: Annotated[int, Field(ge=0, le=12)] | None = None
    hidden: bool = False
    computation: Literal["sum", "mean", "min", "max", "avg_rank"] | None = None
    computation_keys: list[Key] = []

    @model_validator(mode="after")
    def _computation_needs_keys(self) -> ColumnIn:
        if self.computation and not self.computation_keys:
            raise ValueError(f"column '{self.key}': computation {self.computation} needs computation_keys")
        if not self.computation and self.computation_keys:
            raise ValueError(f"column '{self.key}': computation_keys given without a computation")
        if self.key in self.computation_keys:
            raise ValueError(f"column '{self.key}': a computed column cannot use itself")
        return self


class BootstrapIn(Body):
    """How the columns' confidence intervals are computed from the per-example scores a scoring
    program writes (``per_example_scores.csv``); ``resamples`` 0 turns them off."""

    resamples: Annotated[int, Field(ge=0, le=100_000)] = 1000
    level: Annotated[float, Field(gt=0, lt=1)] = 0.95
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


class LeaderboardIn(Body):
    key: Key
    title: Title
    index: Position | None = None
    primary_column: Key | None = None
    hidden: bool = False
    columns: Annotated[list[ColumnIn], Field(min_length=1)]
    bootstrap: BootstrapIn = BootstrapIn()

    @model_validator(mode="after")
    def _columns_consistent(self) -> LeaderboardIn:
        keys = [c.key for c in self.columns]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"column key used twice: {', '.join(duplicates)}")
        if self.primary_column is not None and self.primary_column not in keys:
            raise ValueError(f"primary_column '{self.primary_column}' is not one of the columns")
        for column in self.columns:
            unknown = [k for k in column.computation_keys if k not in keys]
            if unknown:
                raise ValueError(
                    f"column '{column.key}': computation_keys name unknown columns: {', '.join(unknown)}"
                )
        return self


class PhaseFields(Body):
    description: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    max_submissions_per_day: NonNegative | None = Field(None, description="0: no limit.")
    max_submissions: NonNegative | None = Field(None, description="0: no limit.")
    execution_time_limit: Annotated[int, Field(ge=1, le=7 * 24 * 3600)] | None = None
    max_submission_size: Annotated[int, Field(ge=1, le=BIGINT_MAX)] | None = None
    count_failed_submissions: bool | None = None
    hide_output: bool | None = None
    hide_prediction_output: bool | None = None
    hide_score_output: bool | None = None
    show_scoring_output: bool | None = Field(
        None, description="Let participants download the scoring program's output and log (off by default: "
        "they may quote reference data)."
    )
    accepts_notebooks: bool | None = Field(
        None, description="Execute a submission holding one .ipynb as a notebook (docs/howto/notebook-submissions)."
    )
    leaderboard_visibility: Literal["public", "participants", "private"] | None = None
    submission_rule: Literal["best", "last", "selected", "all"] | None = None
    leaderboard: Key | None = Field(None, description="Key of one of the competition's leaderboards.")
    auto_migrate: bool | None = Field(
        None, description="At this phase's start, re-run the previous phase's leaderboard submissions here."
    )
    public_data: ArtifactRef | None = None
    starting_kit: ArtifactRef | None = None
    code_reveal: Literal["none", "chosen", "top", "opted_in"] | None = Field(
        None, description="Whose code every participant may download once the phase ends: the organizers' "
        "chosen submissions, the leaderboard's top code_reveal_top, or every submission its owner made "
        "public. Only public submissions (the owner's consent) are ever shown."
    )
    code_reveal_top: Annotated[int, Field(ge=1, le=1000)] | None = None
    grace_seconds: Annotated[int, Field(ge=0, le=365 * 24 * 3600)] | None = Field(
        None, description="Seconds after each participant's deadline during which submissions are still "
        "accepted, marked late with the phase's penalty. 0: none.")
    late_penalty_kind: Literal["none", "fixed", "per_day"] | None = Field(
        None, description="How a late submission's grade is reduced: once (fixed) or per started day late.")
    late_penalty_value: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None, description="The share of the grade deducted (once, or per day), 0 to 1.")
    max_selected: Annotated[int, Field(ge=0, le=100)] | None = Field(
        None, description="Submissions each participant selects for the final ranking; 0: no final selection.")
    private_scores: dict[Key, Key] | None = Field(
        None, description="Private board: score key the scoring program writes → the leaderboard column it "
        "stands for. Participants never see these keys before the reveal.")
    reveal_at: datetime | None = Field(None, description="When the private board is revealed by itself.")
    grade_mapping: dict[str, Any] | None = Field(
        None, description="How a final score becomes a grade: linear, thresholds or rank (see the instructor how-to).")
    docker_image: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        None, description="The runtime image this phase runs in (null: the competition's docker_image).")

    @field_validator("start", "end", "reveal_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return naive_utc(value)

    @model_validator(mode="after")
    def _dates_in_order(self) -> PhaseFields:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(
                f"end must be after start ({self.end.isoformat()}Z <= {self.start.isoformat()}Z)"
            )
        return self


class PhaseIn(PhaseFields):
    name: Title
    index: Position | None = None
    start: datetime
    tasks: Annotated[list[Key], Field(min_length=1, description="Keys of the phase's tasks.")]


class PhaseUpdate(PhaseFields, Update):
    nullable = frozenset({"end", "leaderboard", "public_data", "starting_kit", "reveal_at", "docker_image"})

    name: Title | None = None
    index: Position | None = None
    tasks: Annotated[list[Key], Field(min_length=1)] | None = None


class FactQuestion(Body):
    """One fact-sheet question (Codabench's format), asked at submission time."""

    key: Key | None = None
    type: Literal["checkbox", "text", "select"]
    title: Title
    selection: list[str | bool | int | float] | str | None = None
    is_required: bool = False
    is_on_leaderboard: bool = False

    @model_validator(mode="after")
    def _select_has_options(self) -> FactQuestion:
        if self.type == "select" and not (isinstance(self.selection, list) and self.selection):
            raise ValueError("a select question needs a non-empty selection list")
        return self


class CompetitionFields(Body):
    description: str | None = None
    registration_mode: Literal["open", "approval", "groups"] | None = None
    participant_groups: list[GroupName] | None = None
    organizer_group: GroupName | None = None
    docker_image: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    listed: bool | None = None
    terms: str | None = None
    enable_detailed_results: bool | None = None
    make_programs_available: bool | None = None
    queue: Key | None = None
    fact_sheet: dict[Key, FactQuestion] | None = None


class CompetitionIn(CompetitionFields):
    slug: Slug
    title: Title
    pages: list[PageIn] = []
    tasks: list[TaskIn] = []
    leaderboards: list[LeaderboardIn] = []
    phases: list[PhaseIn] = []

    @model_validator(mode="after")
    def _references(self) -> CompetitionIn:
        problems: list[str] = []
        for name, items in (("pages", self.pages), ("tasks", self.tasks), ("leaderboards", self.leaderboards)):
            keys = [i.key for i in items]
            for dup in sorted({k for k in keys if keys.count(k) > 1}):
                problems.append(f"{name}: key '{dup}' used twice")
        task_keys = {t.key for t in self.tasks}
        board_keys = {b.key for b in self.leaderboards}
        for i, phase in enumerate(self.phases):
            for key in phase.tasks:
                if key not in task_keys:
                    problems.append(f"phases[{i}].tasks: no task with key '{key}'")
            if phase.leaderboard is not None and phase.leaderboard not in board_keys:
                problems.append(f"phases[{i}].leaderboard: no leaderboard with key '{phase.leaderboard}'")
        if self.registration_mode == "groups" and not self.participant_groups:
            problems.append("participant_groups: registration_mode 'groups' needs at least one hub group")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class CompetitionUpdate(CompetitionFields, Update):
    nullable = frozenset({"organizer_group", "queue"})

    title: Title | None = None


class DatasetIn(Body):
    kind: Literal[
        "scoring_program",
        "ingestion_program",
        "input_data",
        "reference_data",
        "public_reference_data",
        "public_data",
        "starting_kit",
        "solution",
        "logo",
    ]
    name: Annotated[str, Field(min_length=1, max_length=255)]
    size: ByteSize = Field(description="Exact size in bytes of the upload.")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class PartsIn(Body):
    numbers: Annotated[list[Annotated[int, Field(ge=1, le=10_000)]], Field(min_length=1, max_length=1000)] = Field(
        description="Numbers of the parts to sign upload URLs for (1-based; at most 1000 at a time)."
    )


class SubmissionIn(Body):
    size: Annotated[int, Field(ge=1, le=BIGINT_MAX)] = Field(description="Exact size in bytes of the zip to upload.")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    description: Annotated[str, Field(max_length=2000)] = ""
    is_public: bool = False
    task: Key | None = Field(None, description="Submit to one task of a multi-task phase only.")
    fact_sheet: dict[Key, str | bool | int | float] = Field(
        default_factory=dict, description="Answers to the competition's fact-sheet questions."
    )
    dry_run: bool = Field(
        False, description="Organizers only: a trial run that costs no quota and never ranks."
    )


class SubmissionUpdate(Update):
    """What a submission's owner may change after submitting."""

    is_public: bool | None = Field(None, description="Consent to show this submission's code to every "
                                   "participant once the phase ends, where the phase reveals code.")
    description: Annotated[str, Field(max_length=2000)] | None = None


class RevealChoiceIn(Body):
    chosen: bool


class DecisionIn(Body):
    reason: Annotated[str, Field(max_length=2000)] = ""


class OrganizerIn(Body):
    username: Annotated[str, Field(min_length=1, max_length=255)]


class SelectionIn(Body):
    selected: bool


class PageQuery(Body):
    """Pagination of list endpoints: bounded from the first release."""

    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    offset: Annotated[int, Field(ge=0, le=BIGINT_MAX)] = 0


#: list answers count at most this many rows (``total``)
LIST_TOTAL_CAP = 10_000
Offset = Annotated[int, Field(ge=0, le=LIST_TOTAL_CAP, description=(
    "Rows to skip. The rows skipped are still read: go deeper with the cursor."))]


class SubmissionPageQuery(Body):
    """A page of submissions, newest first. Answers carry ``next``: pass it as ``before`` for the
    following page (``null`` on the last one). ``total`` is exact up to 10,000; beyond that it
    says 10,000 and ``total_is_lower_bound`` is true."""

    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    offset: Offset = 0
    before: Annotated[int | None, Field(ge=1, le=INT_MAX, description=(
        "Cursor: only submissions older than this id, i.e. the previous answer's `next`."))] = None


class ParticipantQuery(Body):
    """A page of registrations, oldest first. Answers carry ``next``: pass it as ``after`` for the
    following page (``null`` on the last one); ``total`` is capped as for submissions."""

    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    offset: Offset = 0
    after: Annotated[int | None, Field(ge=0, le=INT_MAX, description=(
        "Cursor: the registrations after this one, i.e. the previous answer's `next`."))] = None


class SubmissionQuery(SubmissionPageQuery):
    owner: str | None = Field(None, description="Organizers only: one participant's submissions.")
    all: bool = Field(False, description="Organizers only: everyone's submissions.")
    status: Literal["submitting", "submitted", "running", "scoring", "finished", "failed", "cancelled"] | None = None


class LeaderboardQuery(PageQuery):
    format: Literal["json", "csv"] = "json"


class ExtensionIn(Body):
    """An instructor's later deadline for one participant, or one team, in one phase."""

    username: GroupName | None = Field(None, description="The participant's hub user name.")
    team: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        None, description="A team's name instead: the deadline of every member.")
    end: datetime = Field(description="Their own deadline, after the phase's end.")
    reason: Annotated[str, Field(max_length=2000)] = ""

    @model_validator(mode="after")
    def _one_subject(self) -> ExtensionIn:
        if (self.username is None) == (self.team is None):
            raise ValueError("give either username or team")
        return self

    @field_validator("end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime | None:
        return naive_utc(value)


class FinalSelectionIn(Body):
    """The participant's whole final selection at once (replacing the previous one)."""

    submissions: Annotated[list[Annotated[int, Field(ge=1, le=INT_MAX)]], Field(max_length=100)]


class GradesQuery(Body):
    format: Literal["json", "csv"] = "json"
    layout: Literal["podium", "canvas", "moodle"] = Field(
        "podium", description="CSV columns: podium (every field), canvas or moodle (their grade imports).")


def location(loc: tuple[Any, ...]) -> str:
    """``("phases", 1, "end")`` → ``"phases[1].end"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@functools.cache
def adapter(typed: type) -> TypeAdapter:
    """The validator of a ``TypedDict`` body (the job protocol's messages, defined without
    pydantic in ``podium.worker.protocol``), built once per type."""
    return TypeAdapter(typed)


NUL_REFUSED = "may not contain the NUL character (\\u0000)"


def nul_location(data: Any, loc: tuple[Any, ...] = ()) -> str | None:
    """Where in ``data`` a text holds a NUL character (PostgreSQL cannot store one), as
    ``location`` writes it ("" for the top); None when there is none. Iterative: any depth."""
    stack = [(loc, data)]
    while stack:
        here, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return location(here)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and "\x00" in key:
                    return location(here)
                stack.append(((*here, key), item))
        elif isinstance(value, list):
            stack.extend(((*here, i), item) for i, item in enumerate(value))
    return None


def parse(model: type[Body] | type, data: Any, where: str = "body") -> Any:
    """Validate ``data`` against ``model`` (a ``Body`` model, or a ``TypedDict`` whose valid
    value is the dict itself); every problem becomes one entry of ValidationFailed."""
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            if (nul := nul_location(data)) is not None:
                raise ValidationFailed(f"Invalid {where}: {nul or where}: {NUL_REFUSED}",
                                       [{"location": nul or where, "message": NUL_REFUSED}])
            parsed = model.model_validate(data)
            if isinstance(parsed, Update) and (nulls := parsed.refused_nulls()):
                raise ValidationFailed(
                    f"Invalid {where}: " + "; ".join(f"{n}: may not be null (leave it out to keep its value)"
                                                     for n in nulls),
                    [{"location": n, "message": "may not be null; leave it out to keep its value"} for n in nulls],
                )
            return parsed
        return adapter(model).validate_python(data)
    except ValidationError as e:
        errors = []
        for err in e.errors(include_url=False):
            loc = location(tuple(p for p in err["loc"] if not str(p).startswith("function-")))
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown field"
            errors.append({"location": loc or where, "message": message})
        summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors)
        raise ValidationFailed(f"Invalid {where}: {summary}", errors) from None


TeamName = Annotated[str, Field(pattern=r"^[\w][\w .'-]{0,99}$", description="A team's name (letters, digits, space, _ . ' -).")]
Username = Annotated[str, Field(min_length=1, max_length=255)]


class TeamIn(Body):
    """A new team: participants name it (they are its first member); organizers may also list
    its members or name the hub group whose members are the team."""

    name: TeamName
    members: Annotated[list[Username], Field(max_length=1000)] = []
    hub_group: GroupName | None = None


class TeamPolicyIn(Body):
    participant_teams: bool = Field(False, description="Participants may create teams, invite and accept.")
    max_size: NonNegative = Field(0, description="Members per team; 0: no limit.")
    join_deadline: datetime | None = Field(None, description="After it, participants cannot create, join or leave teams.")

    @field_validator("join_deadline")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return naive_utc(value)


class TeamRosterIn(Body):
    csv: Annotated[str, Field(min_length=1, max_length=1_000_000, description="Lines of `team,username`.")]


class InvitationIn(Body):
    username: Username
