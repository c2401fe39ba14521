"""The platform's state as SQLAlchemy 2 models; the schema itself is owned by Alembic migrations.

Conventions: integer primary keys; naive UTC datetimes (see ``podium.server.clock``); users are
JupyterHub user names (JupyterHub is the only identity provider); enumerations are stored as
short strings with a CHECK constraint so the same migrations run on PostgreSQL and SQLite.

Why one module past ~500 lines: it is the schema, read as a whole (as JupyterHub's ``orm.py``
is) when writing an Alembic migration or following a relationship from one side to the other,
and its models refer to each other in both directions. It is split into a package by area only
when it outgrows ~1,500 lines (see the style guide).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .clock import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: DateTime(), dict[str, Any]: JSON, list[Any]: JSON}


def str_enum(enum_cls: type[enum.Enum], name: str) -> Enum:
    """A portable enumeration column: VARCHAR plus CHECK, values (not names) stored."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class RegistrationMode(str, enum.Enum):
    """How people become participants."""

    open = "open"  # anyone who registers is approved
    approval = "approval"  # organizers approve each request
    groups = "groups"  # members of the competition's hub groups are participants; nobody else


class ParticipantStatus(str, enum.Enum):
    pending = "pending"
    approved = "approved"
    denied = "denied"


class SubmissionStatus(str, enum.Enum):
    """One-way: submitting → submitted → running → scoring → finished | failed | cancelled."""

    submitting = "submitting"
    submitted = "submitted"
    running = "running"
    scoring = "scoring"
    finished = "finished"
    failed = "failed"
    cancelled = "cancelled"


TERMINAL_STATUSES = frozenset(
    {SubmissionStatus.finished, SubmissionStatus.failed, SubmissionStatus.cancelled}
)


class FailureKind(str, enum.Enum):
    """Who a failure is attributed to; platform failures never cost quota."""

    participant = "participant"
    platform = "platform"


class SubmissionRule(str, enum.Enum):
    """Which of a participant's submissions appear on the leaderboard."""

    best = "best"
    last = "last"
    selected = "selected"
    all = "all"


class LeaderboardVisibility(str, enum.Enum):
    public = "public"  # everyone who may see the competition
    participants = "participants"  # approved participants and organizers
    private = "private"  # organizers only (revealed later by switching to public)


class ArtifactKind(str, enum.Enum):
    scoring_program = "scoring_program"
    ingestion_program = "ingestion_program"
    input_data = "input_data"
    reference_data = "reference_data"
    public_data = "public_data"
    starting_kit = "starting_kit"
    solution = "solution"
    submission = "submission"
    output = "output"
    log = "log"
    logo = "logo"
    bundle = "bundle"


class ArtifactState(str, enum.Enum):
    pending = "pending"  # a signed upload URL was handed out
    ready = "ready"  # the object exists and its size and checksum were verified


class AttemptStep(str, enum.Enum):
    predict = "predict"
    score = "score"


class AttemptState(str, enum.Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    expired = "expired"
    cancelled = "cancelled"


class Competition(Base):
    __tablename__ = "competitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True, doc="Short name used in URLs.")
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    listed: Mapped[bool] = mapped_column(
        Boolean, default=True, doc="Shown in the competition list once published."
    )
    registration_mode: Mapped[RegistrationMode] = mapped_column(
        str_enum(RegistrationMode, "registration_mode"), default=RegistrationMode.open
    )
    participant_groups: Mapped[list[Any]] = mapped_column(
        JSON, default=list, doc="Hub groups whose members are participants (a class roster)."
    )
    organizer_group: Mapped[str | None] = mapped_column(
        String(255), doc="Hub group whose members are organizers (instructors and TAs)."
    )
    docker_image: Mapped[str] = mapped_column(String(255), default="codalab/codalab-legacy:py37")
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("compute_queues.id"))
    terms: Mapped[str] = mapped_column(Text, default="")
    enable_detailed_results: Mapped[bool] = mapped_column(Boolean, default=False)
    make_programs_available: Mapped[bool] = mapped_column(Boolean, default=False)
    fact_sheet: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, doc="Questions asked at submission time: key → {type, title, selection, "
        "is_required, is_on_leaderboard} (Codabench's format)."
    )
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    pages: Mapped[list[Page]] = relationship(
        back_populates="competition", cascade="all, delete-orphan", order_by="Page.index"
    )
    phases: Mapped[list[Phase]] = relationship(
        back_populates="competition", cascade="all, delete-orphan", order_by="Phase.index"
    )
    tasks: Mapped[list[Task]] = relationship(
        back_populates="competition", cascade="all, delete-orphan", order_by="Task.id"
    )
    leaderboards: Mapped[list[Leaderboard]] = relationship(
        back_populates="competition", cascade="all, delete-orphan", order_by="Leaderboard.index"
    )
    participants: Mapped[list[Participant]] = relationship(
        back_populates="competition", cascade="all, delete-orphan"
    )
    organizers: Mapped[list[Organizer]] = relationship(
        back_populates="competition", cascade="all, delete-orphan"
    )
    queue: Mapped[ComputeQueue | None] = relationship()


class Page(Base):
    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("competition_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    index: Mapped[int] = mapped_column(Integer, default=0)
    content: Mapped[str] = mapped_column(Text, default="", doc="Markdown or HTML, sanitized when shown.")

    competition: Mapped[Competition] = relationship(back_populates="pages")


class Phase(Base):
    __tablename__ = "phases"

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), index=True
    )
    index: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    start: Mapped[datetime] = mapped_column()
    end: Mapped[datetime | None] = mapped_column(doc="None: open-ended.")
    max_submissions_per_day: Mapped[int] = mapped_column(Integer, default=5, doc="0: no limit.")
    max_submissions: Mapped[int] = mapped_column(Integer, default=100, doc="0: no limit.")
    execution_time_limit: Mapped[int] = mapped_column(Integer, default=600, doc="Seconds.")
    max_submission_size: Mapped[int] = mapped_column(
        BigInteger, default=100 * 1024 * 1024, doc="Bytes."
    )
    count_failed_submissions: Mapped[bool] = mapped_column(
        Boolean,
        default=True,
        doc="Whether a submission that failed through the participant's own fault uses quota.",
    )
    hide_output: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_prediction_output: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_score_output: Mapped[bool] = mapped_column(Boolean, default=False)
    show_scoring_output: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(),
        doc="Whether participants may download the scoring program's output and log (which may quote "
        "reference data). Off by default; never before a private leaderboard is revealed.",
    )
    accepts_notebooks: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(),
        doc="Whether a submission holding one .ipynb (and no metadata) is executed as a notebook in the "
        "competition's image: it reads /app/input_data and writes its predictions to /app/output.",
    )
    leaderboard_visibility: Mapped[LeaderboardVisibility] = mapped_column(
        str_enum(LeaderboardVisibility, "leaderboard_visibility"),
        default=LeaderboardVisibility.public,
    )
    submission_rule: Mapped[SubmissionRule] = mapped_column(
        str_enum(SubmissionRule, "submission_rule"), default=SubmissionRule.best
    )
    leaderboard_id: Mapped[int | None] = mapped_column(
        ForeignKey("leaderboards.id", ondelete="SET NULL")
    )
    leaderboard_version: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0",
        doc="Bumped by every rebuild of the stored ranking: the key of the leaderboard page cache.",
    )
    auto_migrate: Mapped[bool] = mapped_column(
        Boolean, default=False,
        doc="At this phase's start, re-run the previous phase's leaderboard submissions on its tasks.",
    )
    migrated_at: Mapped[datetime | None] = mapped_column(doc="When the auto-migration into this phase ran.")
    public_data_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id", ondelete="SET NULL"))
    starting_kit_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id", ondelete="SET NULL"))

    competition: Mapped[Competition] = relationship(back_populates="phases")
    leaderboard: Mapped[Leaderboard | None] = relationship()
    phase_tasks: Mapped[list[PhaseTask]] = relationship(
        cascade="all, delete-orphan", order_by="PhaseTask.index"
    )

    @property
    def tasks(self) -> list[Task]:
        return [pt.task for pt in self.phase_tasks]


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("competition_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    scoring_program_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id"))
    ingestion_program_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id"))
    input_data_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id"))
    reference_data_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id"))
    ingestion_only_during_scoring: Mapped[bool] = mapped_column(Boolean, default=False)

    competition: Mapped[Competition] = relationship(back_populates="tasks")


class PhaseTask(Base):
    __tablename__ = "phase_tasks"
    __table_args__ = (UniqueConstraint("phase_id", "task_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer, default=0)

    task: Mapped[Task] = relationship()


class Artifact(Base):
    """A stored object: a program, a dataset, a submission, an output or a log."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int | None] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ArtifactKind] = mapped_column(str_enum(ArtifactKind, "artifact_kind"))
    name: Mapped[str] = mapped_column(String(255), default="")
    storage_key: Mapped[str] = mapped_column(String(512), unique=True)
    state: Mapped[ArtifactState] = mapped_column(
        str_enum(ArtifactState, "artifact_state"), default=ArtifactState.pending
    )
    size: Mapped[int | None] = mapped_column(BigInteger, doc="Bytes, once verified.")
    sha256: Mapped[str | None] = mapped_column(String(64))
    max_size: Mapped[int | None] = mapped_column(BigInteger, doc="Upload cap in bytes.")
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Leaderboard(Base):
    __tablename__ = "leaderboards"
    __table_args__ = (UniqueConstraint("competition_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    index: Mapped[int] = mapped_column(Integer, default=0)
    primary_column_key: Mapped[str | None] = mapped_column(
        String(64), doc="None: the column with the lowest index."
    )
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)

    competition: Mapped[Competition] = relationship(back_populates="leaderboards")
    columns: Mapped[list[LeaderboardColumn]] = relationship(
        cascade="all, delete-orphan", order_by="LeaderboardColumn.index"
    )


class LeaderboardColumn(Base):
    __tablename__ = "leaderboard_columns"
    __table_args__ = (
        UniqueConstraint("leaderboard_id", "key"),
        CheckConstraint("sorting IN ('asc', 'desc')", name="sorting"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    leaderboard_id: Mapped[int] = mapped_column(
        ForeignKey("leaderboards.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(64), doc="The key the scoring program writes.")
    title: Mapped[str] = mapped_column(String(200))
    index: Mapped[int] = mapped_column(Integer, default=0)
    sorting: Mapped[str] = mapped_column(String(4), default="desc")
    precision: Mapped[int | None] = mapped_column(Integer)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    computation: Mapped[str | None] = mapped_column(
        String(16), doc="sum, mean, min, max or avg_rank over computation_keys; None: a score."
    )
    computation_keys: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Participant(Base):
    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("competition_id", "username"),
        Index("ix_participants_competition_listing", "competition_id", "id"),  # the list's id cursor
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), index=True
    )
    username: Mapped[str] = mapped_column(String(255))
    status: Mapped[ParticipantStatus] = mapped_column(
        str_enum(ParticipantStatus, "participant_status"), default=ParticipantStatus.pending
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(255))

    competition: Mapped[Competition] = relationship(back_populates="participants")


class Organizer(Base):
    __tablename__ = "organizers"
    __table_args__ = (UniqueConstraint("competition_id", "username"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), index=True
    )
    username: Mapped[str] = mapped_column(String(255))

    competition: Mapped[Competition] = relationship(back_populates="organizers")


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("phase_id", "owner", "idempotency_key", name="idempotency"),
        Index("ix_submissions_phase_owner_created", "phase_id", "owner", "created_at"),
        # the list endpoints, newest first with an id cursor, and their capped counts: each
        # reads one index range (O(page)); partial, as a multi-task phase's per-task children never list
        *(
            Index(name, *columns, postgresql_where=text("parent_id IS NULL"),
                  sqlite_where=text("parent_id IS NULL"))
            for name, columns in (
                ("ix_submissions_owner_listing", ("owner", "id")),
                ("ix_submissions_phase_owner_listing", ("phase_id", "owner", "id")),
                ("ix_submissions_phase_listing", ("phase_id", "id")),
            )
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    owner: Mapped[str] = mapped_column(String(255))
    status: Mapped[SubmissionStatus] = mapped_column(
        str_enum(SubmissionStatus, "submission_status"), default=SubmissionStatus.submitting
    )
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    size: Mapped[int | None] = mapped_column(BigInteger, doc="Announced size in bytes.")
    sha256: Mapped[str | None] = mapped_column(String(64), doc="Announced checksum.")
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    selected: Mapped[bool] = mapped_column(
        Boolean, default=False, doc="Chosen by the participant for the leaderboard."
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    counts_toward_quota: Mapped[bool] = mapped_column(Boolean, default=True)
    is_dry_run: Mapped[bool] = mapped_column(
        Boolean, default=False,
        doc="An organizer's trial run (e.g. before publishing): costs no quota and never ranks.",
    )
    failure_kind: Mapped[FailureKind | None] = mapped_column(str_enum(FailureKind, "failure_kind"))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    log_tail: Mapped[str] = mapped_column(Text, default="")
    fact_sheet_answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    migrated_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="SET NULL"), doc="The submission an auto-migration copied."
    )

    phase: Mapped[Phase] = relationship()
    files: Mapped[list[SubmissionFile]] = relationship(
        cascade="all, delete-orphan", order_by="SubmissionFile.id"
    )
    scores: Mapped[list[Score]] = relationship(cascade="all, delete-orphan")
    attempts: Mapped[list[Attempt]] = relationship(
        cascade="all, delete-orphan", order_by="Attempt.id", back_populates="submission"
    )


class SubmissionFile(Base):
    """An object belonging to a submission: its own upload, outputs, detailed results, logs."""

    __tablename__ = "submission_files"
    __table_args__ = (UniqueConstraint("submission_id", "role", "artifact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(
        String(32),
        doc="submission, prediction_output, scoring_output, detailed_results, executed_notebook or log.",
    )

    artifact: Mapped[Artifact] = relationship()


class QuotaLock(Base):
    """One row per (phase, participant), locked while a submission is counted and created, so
    concurrent creates on any number of service replicas cannot exceed a quota."""

    __tablename__ = "quota_locks"
    __table_args__ = (UniqueConstraint("phase_id", "owner"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer, default=0)


class Attempt(Base):
    """One try at one step of a submission; a worker holds it under a lease."""

    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("submission_id", "step", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[AttemptStep] = mapped_column(str_enum(AttemptStep, "attempt_step"))
    number: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[AttemptState] = mapped_column(
        str_enum(AttemptState, "attempt_state"), default=AttemptState.queued
    )
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id", ondelete="SET NULL"))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    exit_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    failure_kind: Mapped[FailureKind | None] = mapped_column(str_enum(FailureKind, "attempt_failure_kind"))
    elapsed: Mapped[float | None] = mapped_column(Float, doc="Seconds the programs ran.")
    live_log: Mapped[str] = mapped_column(
        Text, default="", server_default="",
        doc="While a predict step runs: the tail of the participant's own stdout/stderr, from the "
            "worker's heartbeats (at most the job protocol's LIVE_LOG_CHARS); the final log is the submission's log_tail.")

    submission: Mapped[Submission] = relationship(back_populates="attempts")
    worker: Mapped[Worker | None] = relationship()


class Score(Base):
    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("submission_id", "column_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    column_key: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)


class LeaderboardEntry(Base):
    """A materialized leaderboard row, rewritten when scores change, so reads are bounded."""

    __tablename__ = "leaderboard_entries"
    __table_args__ = (
        UniqueConstraint("phase_id", "submission_id"),
        Index("ix_leaderboard_entries_phase_rank", "phase_id", "rank"),
        Index("ix_leaderboard_entries_phase_owner", "phase_id", "owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(String(255))
    rank: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    submitted_at: Mapped[datetime] = mapped_column()


class DispatchOutbox(Base):
    """Messages to publish to the broker, written in the same transaction as their attempt, so a
    crash between commit and publish loses nothing (the dispatcher publishes what is pending)."""

    __tablename__ = "dispatch_outbox"
    __table_args__ = (Index("ix_dispatch_outbox_pending", "published_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    queue: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()
    publish_count: Mapped[int] = mapped_column(Integer, default=0)


class BundleImport(Base):
    """A bundle import run in the background; organizers poll its status."""

    __tablename__ = "bundle_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending", doc="pending, running, succeeded, failed")
    slug: Mapped[str | None] = mapped_column(String(64), doc="The slug asked for, if any.")
    competition_id: Mapped[int | None] = mapped_column(ForeignKey("competitions.id", ondelete="SET NULL"))
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class ComputeQueue(Base):
    __tablename__ = "compute_queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(128), doc="sha256 of the queue's worker token.")
    owner: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    workers: Mapped[list[Worker]] = relationship(cascade="all, delete-orphan", back_populates="queue")


class Worker(Base):
    __tablename__ = "workers"
    __table_args__ = (UniqueConstraint("queue_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("compute_queues.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    hostname: Mapped[str] = mapped_column(String(255), default="")
    last_seen: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    queue: Mapped[ComputeQueue] = relationship(back_populates="workers")
