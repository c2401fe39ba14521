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


class LatePenaltyKind(str, enum.Enum):
    """How a late submission's grade is reduced (never its raw score)."""

    none = "none"
    fixed = "fixed"  # one deduction, however late
    per_day = "per_day"  # a deduction per started day past the deadline


class ArtifactKind(str, enum.Enum):
    scoring_program = "scoring_program"
    ingestion_program = "ingestion_program"
    input_data = "input_data"
    reference_data = "reference_data"
    public_reference_data = "public_reference_data"  # the organizer's public split: participants may read it
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
    code_reveal: Mapped[str] = mapped_column(
        String(16), default="none", server_default="none",
        doc="Whose code every participant may download once the phase has ended: none, chosen (by the "
        "organizers), top (the leaderboard's first code_reveal_top) or opted_in (every public "
        "submission); only submissions their owner made public (is_public) are ever revealed.",
    )
    code_reveal_top: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    grace_seconds: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0",
        doc="Seconds after a participant's deadline during which submissions are still taken, marked late.",
    )
    late_penalty_kind: Mapped[LatePenaltyKind] = mapped_column(
        str_enum(LatePenaltyKind, "late_penalty_kind"), default=LatePenaltyKind.none,
        server_default=LatePenaltyKind.none.value,
        doc="How a late submission's grade is reduced: none, fixed (one deduction) or per_day.",
    )
    late_penalty_value: Mapped[float] = mapped_column(
        Float, default=0.0, server_default="0",
        doc="The share of the grade deducted: once (fixed) or per started day late (per_day); 0..1.",
    )
    max_selected: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0",
        doc="Submissions each participant may select for the final ranking; 0: no final selection.",
    )
    private_scores: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict,
        doc="Score keys the scoring program writes for the private part → the leaderboard column each "
        "stands for on the private board; empty: no private board.",
    )
    reveal_at: Mapped[datetime | None] = mapped_column(doc="When the private board is revealed by itself.")
    revealed_at: Mapped[datetime | None] = mapped_column(doc="When an organizer revealed the private board.")
    grade_mapping: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, doc="How a final score becomes a grade (see podium.server.classroom.grades)."
    )
    public_data_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id", ondelete="SET NULL"))
    docker_image: Mapped[str | None] = mapped_column(
        String(255), doc="The runtime image this phase's programs run in; None: the competition's."
    )
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
    public_reference_data_id: Mapped[int | None] = mapped_column(
        ForeignKey("artifacts.id"),
        doc="A public reference split: with it the task's scoring program and this data form the public scoring "
        "kit participants run on their own machine (``podium check``); None: no public scoring.",
    )
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
    bootstrap_resamples: Mapped[int] = mapped_column(
        Integer, default=1000, server_default="1000",
        doc="Resamples of the per-example scores for each column's confidence interval; 0: no intervals.",
    )
    bootstrap_level: Mapped[float] = mapped_column(Float, default=0.95, server_default="0.95")
    bootstrap_seed: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", doc="The same seed and scores give the same intervals.")

    competition: Mapped[Competition] = relationship(back_populates="leaderboards")
    columns: Mapped[list[LeaderboardColumn]] = relationship(
        cascade="all, delete-orphan", order_by="LeaderboardColumn.index"
    )

    @property
    def primary_column(self) -> LeaderboardColumn | None:
        """The column it ranks by first: ``primary_column_key``, else the lowest index (as
        ``leaderboards.ranking.ranking_order`` picks it); None without columns."""
        first = self.columns[0] if self.columns else None
        return next((c for c in self.columns if c.key == self.primary_column_key), first)


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
        # reads one index range (O(page)); partial, as a multi-task phase's per-task children never
        # list. "My submissions" reads the personal range and each team's (``paging.branch_page``)
        *(
            Index(name, *columns, postgresql_where=text(where), sqlite_where=text(where))
            for name, columns, where in (
                ("ix_submissions_personal_listing", ("owner", "id"), "parent_id IS NULL AND team_id IS NULL"),
                ("ix_submissions_team_listing", ("team_id", "id"), "parent_id IS NULL"),
                ("ix_submissions_phase_owner_listing", ("phase_id", "owner", "id"), "parent_id IS NULL"),
                ("ix_submissions_phase_listing", ("phase_id", "id"), "parent_id IS NULL"),
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
    upload_active_at: Mapped[datetime | None] = mapped_column(
        doc="When its upload in parts last started or asked for part URLs: the reaper counts an upload "
        "abandoned from then, not from the submission's creation (a large upload takes hours).")
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    size: Mapped[int | None] = mapped_column(BigInteger, doc="Announced size in bytes.")
    sha256: Mapped[str | None] = mapped_column(String(64), doc="Announced checksum.")
    is_public: Mapped[bool] = mapped_column(
        Boolean, default=False, doc="The owner's consent to show this submission's code to every participant "
        "once the phase ends (CodaLab's public submissions), where the phase reveals code.")
    reveal_chosen: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), doc="Chosen by the organizers for a phase that reveals "
        "chosen submissions (still only with the owner's consent).")
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
    late_seconds: Mapped[int | None] = mapped_column(
        Integer, doc="How long after its owner's deadline it was made (inside the grace period); None: on time.")
    late_penalty: Mapped[float | None] = mapped_column(
        Float, doc="The share of the grade deducted for lateness, fixed when it was made; None: on time.")
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True,
        doc="The team the owner submitted for: the team's quota, leaderboard row and members' view.",
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


class DeadlineExtension(Base):
    """An instructor's later deadline for one participant (``subject_kind`` user) or, later, one
    team (``team``) in one phase."""

    __tablename__ = "deadline_extensions"
    __table_args__ = (
        UniqueConstraint("phase_id", "subject_kind", "subject"),
        CheckConstraint("subject_kind IN ('user', 'team')", name="subject_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"), index=True)
    subject_kind: Mapped[str] = mapped_column(String(8), default="user")
    subject: Mapped[str] = mapped_column(String(255), doc="A hub user name (or a team's key).")
    end: Mapped[datetime] = mapped_column(doc="The subject's own deadline, replacing the phase's end.")
    reason: Mapped[str] = mapped_column(Text, default="")
    granted_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
    low: Mapped[float | None] = mapped_column(Float, doc="The bootstrap confidence interval's bounds, "
                                              "when the scoring program wrote per-example scores.")
    high: Mapped[float | None] = mapped_column(Float)


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


class TeamPolicy(Base):
    """Whether participants of a competition form teams themselves, how large and until when.
    Without a row, only the organizers make teams."""

    __tablename__ = "team_policies"

    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), primary_key=True
    )
    participant_teams: Mapped[bool] = mapped_column(
        Boolean, default=False, doc="Participants may create teams, invite and accept."
    )
    max_size: Mapped[int] = mapped_column(Integer, default=0, doc="Members per team; 0: no limit.")
    join_deadline: Mapped[datetime | None] = mapped_column(
        doc="After it nobody creates, joins or leaves a team (organizers still may); None: no deadline."
    )


class Team(Base):
    """Participants who compete as one: one quota, one leaderboard row, shared submissions."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("competition_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    hub_group: Mapped[str | None] = mapped_column(
        String(255), doc="A hub group whose members are the team (read from each caller's groups)."
    )
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[TeamMember]] = relationship(
        cascade="all, delete-orphan", order_by="TeamMember.id", back_populates="team"
    )
    invitations: Mapped[list[TeamInvitation]] = relationship(
        cascade="all, delete-orphan", order_by="TeamInvitation.id"
    )


class TeamMember(Base):
    """One person in one team; a person is in at most one team per competition."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("competition_id", "username"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    competition_id: Mapped[int] = mapped_column(ForeignKey("competitions.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(255))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team] = relationship(back_populates="members")


class TeamInvitation(Base):
    """A member's invitation of another participant, pending until accepted or withdrawn."""

    __tablename__ = "team_invitations"
    __table_args__ = (UniqueConstraint("team_id", "username"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(255))
    invited_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiState(Base):
    """LTI 1.3 login state and nonces between the OIDC login and the launch, in the database so
    that any replica serves the launch; a nonce is deleted when a launch uses it (no replay)."""

    __tablename__ = "lti_states"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LtiUser(Base):
    """Who an LMS user is on the hub: recorded at each launch, read when grades go back."""

    __tablename__ = "lti_users"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255), doc="The LTI user id (the id_token's sub).")
    username: Mapped[str] = mapped_column(String(255), doc="The hub user the launch maps them to.")
    last_launch_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiLink(Base):
    """A course's link to a competition (a resource link), with where its grades go (AGS)."""

    __tablename__ = "lti_links"
    __table_args__ = (UniqueConstraint("issuer", "deployment_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(ForeignKey("competitions.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    deployment_id: Mapped[str] = mapped_column(String(255))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    context_id: Mapped[str | None] = mapped_column(String(255))
    context_title: Mapped[str | None] = mapped_column(String(255))
    ags: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, doc="The launch's Assignment and Grade Services claim: scope, lineitems URL."
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ComputeQueue(Base):
    __tablename__ = "compute_queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(128), doc="sha256 of the queue's worker token.")
    owner: Mapped[str | None] = mapped_column(String(255))
    broker_password: Mapped[str | None] = mapped_column(
        String(128), doc="Password of the queue's own broker user, handed to workers that present the queue's "
        "token; None while the queues share one virtual host (no management API configured).")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    workers: Mapped[list[Worker]] = relationship(cascade="all, delete-orphan", back_populates="queue")
    shares: Mapped[list[QueueShare]] = relationship(cascade="all, delete-orphan", back_populates="queue",
                                                     order_by="QueueShare.id")


class QueueShareKind(str, enum.Enum):
    user = "user"
    group = "group"


class QueueShare(Base):
    """A hub user or hub group the queue's owner lets use the queue for their competitions (as
    CodaLab's queue "organizers")."""

    __tablename__ = "queue_shares"
    __table_args__ = (UniqueConstraint("queue_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("compute_queues.id", ondelete="CASCADE"), index=True)
    kind: Mapped[QueueShareKind] = mapped_column(str_enum(QueueShareKind, "queue_share_kind"))
    name: Mapped[str] = mapped_column(String(255), doc="A hub user name or hub group name.")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    queue: Mapped[ComputeQueue] = relationship(back_populates="shares")


class Worker(Base):
    __tablename__ = "workers"
    __table_args__ = (UniqueConstraint("queue_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("compute_queues.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    hostname: Mapped[str] = mapped_column(String(255), default="")
    last_seen: Mapped[datetime | None] = mapped_column()
    version: Mapped[str] = mapped_column(String(64), default="", doc="The worker's jupyter-podium version.")
    protocol: Mapped[int | None] = mapped_column(doc="The job protocol the worker speaks (None: not told).")
    cannot_work: Mapped[str | None] = mapped_column(
        String(1000), doc="Why the worker takes no job, as its last heartbeat said; None while it can work.")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    queue: Mapped[ComputeQueue] = relationship(back_populates="workers")
