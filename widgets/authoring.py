"""Define a competition in a notebook: pages, tasks with data and a scoring function, phases,
leaderboards; dry-run a submission through the real worker; publish; change it later.

A ``CompetitionDraft`` is plain Python state until ``save()``, which creates the competition
(unpublished) or brings an existing one of yours up to date, key by key (pages, tasks and
leaderboards by key, phases by name; nothing is deleted). Data and programs are zipped and
uploaded only when their bytes changed since the last save.

``dry_run(submission)`` is not a local imitation: it submits to the saved competition through the
same API, queue, worker and container image as any participant's submission, flagged as a dry run
so it costs no quota and never appears on a leaderboard, then shows the scores and the log.

What a data argument may be (``reference_data=``, ``input_data=``, a dry-run submission, ...):
a path to a folder (zipped), a ``.zip`` file (sent as is), any other file (zipped alone), the
bytes of a zip, a pandas DataFrame (written as ``<default name>.csv`` in a zip, without the
index), or a dict of file name → bytes / str / DataFrame.
"""

from __future__ import annotations

import io
import os
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from .client import NotFound, PodiumClient, sha256_of
from .packaging import PackagingError, zip_dataframe, zip_files, zip_path
from .scoring import ScoringSource, scoring_program

DataSource = Any
"""A folder, a file, zip bytes, a pandas DataFrame or a dict of file name → content (see above)."""

DRY_RUN_LOG_CHARS = 3000


class AuthoringError(Exception):
    """Base of the errors of the authoring API."""


class DraftError(AuthoringError, ValueError):
    """The draft is inconsistent (an unknown task or leaderboard, a date that is not a date)."""


class DryRunFailed(AuthoringError):
    """The dry run did not finish; ``submission`` is its model and ``log`` its log tail."""

    def __init__(self, message: str, submission: dict[str, Any], log: str) -> None:
        super().__init__(message)
        self.submission = submission
        self.log = log


# -- data → zip -----------------------------------------------------------------------------

def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "to_csv")


def _file_bytes(content: Any) -> bytes:
    if _is_dataframe(content):
        return content.to_csv(index=False).encode()
    if isinstance(content, str):
        return content.encode()
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    raise DraftError(f"Cannot store a {type(content).__name__} as a file: give bytes, str or a DataFrame.")


def as_zip(data: DataSource, default_name: str = "data") -> bytes:
    """The zip to upload for ``data``; a DataFrame becomes ``<default_name>.csv`` inside it."""
    try:
        if _is_dataframe(data):
            return zip_dataframe(data, f"{default_name}.csv")
        if isinstance(data, dict):
            return zip_files({str(name): _file_bytes(content) for name, content in data.items()})
        if isinstance(data, bytes | bytearray):
            if not zipfile.is_zipfile(io.BytesIO(data)):
                raise DraftError("These bytes are not a zip file: pass {'file.csv': content} to wrap raw content.")
            return bytes(data)
        if isinstance(data, str | os.PathLike):
            return zip_path(data)
    except PackagingError as exc:
        raise DraftError(str(exc)) from exc
    raise DraftError(f"Cannot package a {type(data).__name__}: give a path, zip bytes, a DataFrame or a dict.")


def iso_utc(value: datetime | date | str | None) -> str | None:
    """``2025-03-01T12:00:00Z`` for a datetime (naive ones are UTC), a date (midnight) or an ISO string."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise DraftError(f"Not an ISO date or time: {value!r}") from exc
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat() + "Z"


# -- the parts of a draft ------------------------------------------------------------------

@dataclass
class Column:
    """A leaderboard column: a key the scoring program reports (or a computation over others)."""

    key: str
    title: str | None = None
    sorting: str = "desc"
    precision: int | None = None
    hidden: bool = False
    computation: str | None = None
    computation_keys: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"key": self.key, "title": self.title or self.key.replace("_", " ").capitalize(),
                                "sorting": self.sorting, "hidden": self.hidden}
        if self.precision is not None:
            body["precision"] = self.precision
        if self.computation:
            body.update(computation=self.computation, computation_keys=list(self.computation_keys))
        return body


@dataclass
class TaskDraft:
    key: str
    name: str
    description: str = ""
    scoring: ScoringSource | None = None
    reference_data: DataSource | None = None
    input_data: DataSource | None = None
    ingestion_program: DataSource | None = None
    helpers: tuple = ()
    public_reference_data: DataSource | None = None

    def packages(self) -> dict[str, bytes]:
        """kind → zip bytes of each program and dataset the task has."""
        out: dict[str, bytes] = {}
        if self.scoring is not None:
            out["scoring_program"] = scoring_program(self.scoring, helpers=self.helpers)
        for kind, default in (("reference_data", "reference"), ("input_data", "input"),
                              ("ingestion_program", "ingestion"), ("public_reference_data", "reference")):
            value = getattr(self, kind)
            if value is not None:
                out[kind] = as_zip(value, default)
        return out


@dataclass
class PhaseDraft:
    name: str
    start: str
    end: str | None = None
    tasks: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    data: dict[str, DataSource] = field(default_factory=dict)


# -- the draft -----------------------------------------------------------------------------

COMPETITION_FIELDS = ("description", "registration_mode", "participant_groups", "organizer_group", "docker_image",
                      "terms", "listed", "enable_detailed_results", "queue")


class CompetitionDraft:
    """A competition defined in Python; ``save()`` writes it, ``publish()`` opens it.

    >>> comp = CompetitionDraft("iris-2025", "Iris", description="Classify flowers.")
    >>> comp.add_task("main", "Iris", scoring=score, reference_data=truth_df)
    >>> comp.add_leaderboard("main", "Results", [Column("accuracy", precision=4)])
    >>> comp.add_phase("Development", start=datetime.now(UTC), tasks=["main"])
    >>> comp.save(); comp.dry_run(sample_predictions_df); comp.publish()
    """

    def __init__(
        self,
        slug: str,
        title: str,
        description: str = "",
        *,
        registration_mode: str = "open",
        participant_groups: list[str] | None = None,
        organizer_group: str | None = None,
        docker_image: str = "python:3",
        terms: str = "",
        client: PodiumClient | None = None,
    ) -> None:
        self.slug = slug
        self.title = title
        self.settings: dict[str, Any] = {
            "description": description, "registration_mode": registration_mode, "docker_image": docker_image,
            "terms": terms,
        }
        if participant_groups:
            self.settings["participant_groups"] = list(participant_groups)
        if organizer_group:
            self.settings["organizer_group"] = organizer_group
        self.client = client or PodiumClient()
        self.pages: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, TaskDraft] = {}
        self.leaderboards: dict[str, dict[str, Any]] = {}
        self.phases: list[PhaseDraft] = []
        self.model: dict[str, Any] | None = None
        """The competition as the service last answered (``None`` until saved)."""
        self.dry_runs: list[dict[str, Any]] = []
        self._uploaded: dict[tuple[str, str], int] = {}

    def __repr__(self) -> str:
        state = "unsaved" if self.model is None else ("published" if self.model["published"] else "saved")
        return f"<CompetitionDraft {self.slug!r} ({state}): {len(self.tasks)} task(s), {len(self.phases)} phase(s)>"

    # -- building -----------------------------------------------------------------------------
    def add_page(self, key: str, title: str, content: str = "") -> CompetitionDraft:
        """A page participants read (Markdown): overview, evaluation, terms, data..."""
        self.pages[key] = {"key": key, "title": title, "content": content}
        return self

    def add_task(
        self,
        key: str,
        name: str,
        *,
        scoring: ScoringSource | None = None,
        reference_data: DataSource | None = None,
        input_data: DataSource | None = None,
        ingestion_program: DataSource | None = None,
        description: str = "",
        helpers: tuple = (),
        public_reference_data: DataSource | None = None,
    ) -> CompetitionDraft:
        """A task: the scoring function or program, and the data it reads.

        ``scoring`` is a function ``score(reference_dir, prediction_dir) -> {column: number}`` (see
        ``podium.widgets.scoring``), a ``.py`` script, a program folder or zip. ``reference_data``
        lands in the scoring container's ``$input/ref`` (a DataFrame as ``reference.csv``), the
        submission's files in ``$input/res``. ``helpers`` are functions the scoring function calls.
        ``public_reference_data`` (laid out as ``reference_data``) publishes a public scoring kit:
        participants may download it with the scoring program and score on their own machine
        (``Competition.check``, ``podium check``); the real reference data stays hidden.
        """
        self.tasks[key] = TaskDraft(key, name, description, scoring, reference_data, input_data,
                                    ingestion_program, tuple(helpers), public_reference_data)
        return self

    def add_leaderboard(self, key: str, title: str, columns: list[Column | str], *,
                        primary_column: str | None = None, hidden: bool = False,
                        bootstrap: dict[str, Any] | None = None) -> CompetitionDraft:
        """A leaderboard; the first one is every phase's unless a phase names another.
        ``bootstrap`` (``resamples``, ``level``, ``seed``) sets how confidence intervals are
        computed when the scoring program writes ``per_example_scores.csv``; ``{"resamples": 0}``
        turns them off."""
        cols = [c if isinstance(c, Column) else Column(c) for c in columns]
        body: dict[str, Any] = {"key": key, "title": title, "hidden": hidden, "columns": [c.as_json() for c in cols]}
        if primary_column:
            body["primary_column"] = primary_column
        if bootstrap is not None:
            body["bootstrap"] = bootstrap
        self.leaderboards[key] = body
        return self

    def add_phase(
        self,
        name: str,
        start: datetime | date | str,
        end: datetime | date | str | None = None,
        *,
        tasks: list[str] | None = None,
        max_per_day: int = 5,
        max_total: int = 100,
        execution_time_limit: int = 600,
        leaderboard: str | None = None,
        description: str = "",
        public_data: DataSource | None = None,
        starting_kit: DataSource | None = None,
        **settings: Any,
    ) -> CompetitionDraft:
        """A phase: dates (UTC), tasks (default: all), quotas (0: no limit), time limit in seconds.

        Other phase settings of the API pass through ``settings``: ``leaderboard_visibility``
        (public / participants / private), ``submission_rule`` (best / last / selected / all),
        ``count_failed_submissions``, ``hide_output``, ``max_submission_size``, ``auto_migrate``,
        ``accepts_notebooks`` (a submitted ``.ipynb`` is executed by the worker: see the how-to
        "Notebook submissions").
        """
        fields = {"max_submissions_per_day": max_per_day, "max_submissions": max_total,
                  "execution_time_limit": execution_time_limit, "description": description, **settings}
        if leaderboard:
            fields["leaderboard"] = leaderboard
        data = {k: v for k, v in (("public_data", public_data), ("starting_kit", starting_kit)) if v is not None}
        phase = PhaseDraft(name, iso_utc(start), iso_utc(end), list(tasks or []), fields, data)
        existing = next((i for i, p in enumerate(self.phases) if p.name == name), None)
        if existing is None:
            self.phases.append(phase)
        else:
            self.phases[existing] = phase
        return self

    def phase(self, name: str) -> PhaseDraft:
        found = next((p for p in self.phases if p.name == name), None)
        if found is None:
            raise DraftError(f"No phase named {name!r}; phases: {', '.join(p.name for p in self.phases) or 'none'}.")
        return found

    # -- writing ----------------------------------------------------------------------------
    def _check(self) -> None:
        if not self.tasks:
            raise DraftError("Add a task (add_task) before saving.")
        if not self.leaderboards:
            raise DraftError("Add a leaderboard (add_leaderboard) before saving: it says which scores to show.")
        for phase in self.phases:
            unknown = [k for k in phase.tasks if k not in self.tasks]
            if unknown:
                raise DraftError(f"Phase {phase.name!r} names unknown task(s): {', '.join(unknown)}.")
            board = phase.fields.get("leaderboard")
            if board and board not in self.leaderboards:
                raise DraftError(f"Phase {phase.name!r} names an unknown leaderboard: {board}.")

    def _upload(self, kind: str, data: bytes, name: str) -> int:
        """The dataset id of ``data``, uploading it only if these bytes were not sent before."""
        key = (kind, sha256_of(data))
        if key not in self._uploaded:
            self._uploaded[key] = self.client.upload_dataset(data, kind=kind, name=name)["id"]
        return self._uploaded[key]

    def _task_body(self, task: TaskDraft) -> dict[str, Any]:
        body: dict[str, Any] = {"key": task.key, "name": task.name, "description": task.description}
        for kind, data in task.packages().items():
            body[kind] = self._upload(kind, data, f"{task.key}-{kind}.zip")
        return body

    def _phase_body(self, phase: PhaseDraft) -> dict[str, Any]:
        body = {"name": phase.name, "start": phase.start, "end": phase.end,
                "tasks": phase.tasks or list(self.tasks), **phase.fields}
        for kind, value in phase.data.items():
            body[kind] = self._upload(kind, as_zip(value, kind), f"{kind}.zip")
        return body

    def save(self) -> dict[str, Any]:
        """Create the competition (unpublished) or update yours; returns the service's model."""
        self._check()
        try:
            existing = self.client.competition(self.slug)
        except NotFound:
            existing = None
        if existing is None:
            body = {"slug": self.slug, "title": self.title, **self.settings,
                    "pages": list(self.pages.values()),
                    "tasks": [self._task_body(t) for t in self.tasks.values()],
                    "leaderboards": list(self.leaderboards.values()),
                    "phases": [self._phase_body(p) for p in self.phases]}
            self.model = self.client.create_competition(body)
        else:
            self._update(existing)
            self.model = self.client.competition(self.slug)
        return self.model

    def _update(self, existing: dict[str, Any]) -> None:
        c, slug = self.client, existing["id"]
        c.update_competition(slug, {"title": self.title, **self.settings})
        pages = {p["key"] for p in existing["pages"]}
        for key, page in self.pages.items():
            if key in pages:
                c.patch(f"competitions/{slug}/pages/{key}", {"title": page["title"], "content": page["content"]})
            else:
                c.post(f"competitions/{slug}/pages", page)
        boards = {b["key"]: b["id"] for b in existing["leaderboards"]}
        for key, board in self.leaderboards.items():
            if key in boards:
                c.request("PUT", f"leaderboards/{boards[key]}", json=board)
            else:
                c.post(f"competitions/{slug}/leaderboards", board)
        tasks = {t["key"]: t["id"] for t in existing["tasks"]}
        for key, task in self.tasks.items():
            body = self._task_body(task)
            if key in tasks:
                body.pop("key")
                c.patch(f"tasks/{tasks[key]}", body)
            else:
                c.post(f"competitions/{slug}/tasks", body)
        phases = {p["name"]: p["id"] for p in existing["phases"]}
        for phase in self.phases:
            body = self._phase_body(phase)
            if phase.name in phases:
                c.patch(f"phases/{phases[phase.name]}", body)
            else:
                c.post(f"competitions/{slug}/phases", body)

    def update(self, **changes: Any) -> dict[str, Any]:
        """Change competition settings (title, description, registration_mode, participant_groups,
        organizer_group, docker_image, terms, ...) and save."""
        for name, value in changes.items():
            if name == "title":
                self.title = value
            elif name in COMPETITION_FIELDS:
                self.settings[name] = value
            else:
                raise DraftError(f"Unknown competition setting {name!r}; known: title, {', '.join(COMPETITION_FIELDS)}.")
        return self.save()

    def update_phase(self, name: str, **changes: Any) -> dict[str, Any]:
        """Change a phase (``start``, ``end``, ``tasks``, ``max_per_day``, any phase setting) and save."""
        phase = self.phase(name)
        renames = {"max_per_day": "max_submissions_per_day", "max_total": "max_submissions"}
        for key, value in changes.items():
            if key in ("start", "end"):
                setattr(phase, key, iso_utc(value))
            elif key == "tasks":
                phase.tasks = list(value)
            elif key in ("public_data", "starting_kit"):
                phase.data[key] = value
            else:
                phase.fields[renames.get(key, key)] = value
        return self.save()

    def publish(self) -> dict[str, Any]:
        """Open the competition to participants (saving first if it never was)."""
        if self.model is None:
            self.save()
        self.model = self.client.publish(self.slug)
        return self.model

    def unpublish(self) -> dict[str, Any]:
        self.model = self.client.publish(self.slug, published=False)
        return self.model

    # -- dry runs ----------------------------------------------------------------------------
    def _phase_id(self, phase: str | None) -> int:
        assert self.model is not None
        phases = self.model["phases"]
        if not phases:
            raise DraftError("The competition has no phase to dry-run in: add_phase, then save.")
        if phase is None:
            return phases[0]["id"]
        found = next((p for p in phases if p["name"] == phase), None)
        if found is None:
            raise DraftError(f"No saved phase named {phase!r}.")
        return found["id"]

    def dry_run(
        self,
        submission: DataSource,
        *,
        phase: str | None = None,
        task: str | None = None,
        timeout: float = 600,
        quiet: bool = False,
    ) -> dict[str, Any]:
        """Run ``submission`` (a prediction file, folder, zip, DataFrame → ``predictions.csv``)
        through the real worker as a dry run; print its scores and log; return its model.

        Raises ``DryRunFailed`` (with the reason and the log tail) when it does not finish.
        """
        if self.model is None:
            self.save()
        say = (lambda *a: None) if quiet else print
        data = as_zip(submission, "predictions")
        phase_id = self._phase_id(phase)
        body: dict[str, Any] = {"size": len(data), "sha256": sha256_of(data), "dry_run": True,
                                "description": "Dry run from the authoring API"}
        if task:
            body["task"] = task
        created = self.client.request("POST", f"phases/{phase_id}/submissions", json=body,
                                      headers={"Idempotency-Key": f"dry-run-{uuid.uuid4().hex}"})
        self.client.put_object(created["upload_url"], data, upload_headers=created.get("upload_headers"))
        self.client.post(f"submissions/{created['id']}/uploaded")
        say(f"Dry run {created['id']} submitted to {self.slug} (phase {phase_id}); waiting for the worker...")
        began = time.monotonic()
        seen: list[str] = []

        def on_update(model: dict[str, Any]) -> None:
            if model["status"] not in seen:
                seen.append(model["status"])
                say(f"  {model['status']}")

        result = self.client.wait(created["id"], timeout=timeout, interval=0.5, on_update=on_update)
        log = self._log(result)
        self.dry_runs.append(result)
        if result["status"] != "finished":
            raise DryRunFailed(
                f"Dry run {result['id']} {result['status']}: {result.get('failure_reason') or 'no reason given'}"
                + (f"\n--- log tail ---\n{log}" if log else ""),
                result, log,
            )
        scores = ", ".join(f"{k} = {v:g}" for k, v in sorted((result.get("scores") or {}).items()))
        say(f"Dry run {result['id']} finished in {time.monotonic() - began:.1f} s: {scores}")
        if log:
            say(f"--- log tail ---\n{log}")
        return result

    def _log(self, submission: dict[str, Any]) -> str:
        """The tail of the submission's logs: the scoring log when stored, else the log tail."""
        parts = []
        try:
            files = self.client.outputs(submission["id"])
        except Exception:  # noqa: BLE001 - the log is a courtesy; the status says what happened
            files = []
        for f in files:
            if f["role"] in ("prediction_log", "scoring_log") and f.get("download_url"):
                try:
                    parts.append(self.client.get_object(f["download_url"]).decode(errors="replace"))
                except Exception:  # noqa: BLE001
                    continue
        text = "\n".join(parts).strip() or (submission.get("log_tail") or "").strip()
        return text[-DRY_RUN_LOG_CHARS:]
