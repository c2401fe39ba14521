"""Running one attempt end to end: claim, fetch, execute, check, upload, report.

A failure is attributed: to the participant (their code crashed, ran out of time or memory,
wrote no scores, produced a symlink) or to the platform (a download failed, the engine refused,
the organizer's program is broken). Participant failures end the submission with a reason they
can act on; platform failures are retried by the service and never cost quota. Reasons from the
scoring step never include the scoring program's output, which may contain reference data.

Everything participant code writes is hostile input to the scoring program, which can read the
reference data: no symbolic link, hard link to a file outside, device or FIFO it wrote is ever
followed by a scorer. Which defence applies where:

- prediction step: the output is checked (``archives.check_tree``) and zipped as plain files; the
  scoring step unpacks that zip with ``archives.safe_extract``, which refuses links and specials.
  ``/app/shared`` and ``/app/tmp`` of the prediction step are thrown away.
- result submissions: unpacked with ``safe_extract`` (no link or special file survives).
- a code submission run in the scoring step (no ingestion program): once it has ended, its
  predictions, ``/app/shared`` and ``/app/tmp`` are checked (``_check_participant_writes``) and
  the predictions copied as new plain files; nothing writes them while the scorer runs.
- ingestion during scoring, side by side: the scorer sees the folders ingestion is writing only
  through ``guarded_views`` (bind mounts remounted ``nosymfollow,nodev,nosuid`` on the host, the
  predictions read-only), so the kernel refuses to follow a link whenever it was made (no
  time-of-check race); hard links cannot cross into them (each bind mount is its own mount and
  the ingestion container never sees reference data); after both programs end the same check
  runs, so a participant gets "the ... contains a symbolic link" rather than a scorer's error.
- ingestion during scoring where views cannot be mounted (worker not root, Linux < 5.10, or
  ``WorkerSettings.link_proof_views`` off): ingestion runs to its end first, its writes are
  checked, then the scorer runs.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from . import (
    archives,
    disk_caps,
    guarded_views,
    layout,
    notebooks,
    run_metadata,
    scores,
    uncertainty,
)
from .cache import DatasetCache
from .client import ServiceClient
from .disk_space import WORKER_DISK_FULL, no_room
from .errors import AttemptFailed, Cancelled, GuardedViewError, LeaseLost, ProtocolError
from .executors.base import ContainerSpec, ExecResult, Executor, LiveTail, Mount
from .images import resolve_image
from .protocol import LIVE_LOG_CHARS, AttemptReport, Interval, JobSpec, attempt_report
from .readiness import Readiness
from .redaction import without_urls

log = logging.getLogger("podium.worker")

#: Seconds: the most often a heartbeat carries new live output of the participant's code.
LIVE_LOG_INTERVAL = 3.0


@dataclass
class WorkerSettings:
    """Limits a worker applies to every container (the phase sets the time limit)."""

    name: str
    work_dir: str
    memory_mb: int = 2048
    cpus: float = 1.0
    pids: int = 256
    tmpfs_mb: int = 256
    max_output_bytes: int = 256 * 1024 * 1024
    max_output_files: int = 5000
    max_log_bytes: int = 32 * 1024 * 1024
    max_input_bytes: int = 4 * 1024**3
    image_aliases: dict[str, str] | None = None
    hard_disk_caps: bool = field(default_factory=lambda: os.geteuid() == 0)
    #: False: never mount link-proof views (``guarded_views``); ingestion during scoring then runs
    #: ingestion to its end, checks what it wrote, and only then starts the scoring program
    link_proof_views: bool = True


def succeeded(result: ExecResult, found: dict[str, Any] | None = None,
              intervals: dict[str, Interval] | None = None) -> AttemptReport:
    """The report of a step whose last program ran well (``found``: the scores it wrote,
    ``intervals``: their bootstrap intervals), with that program's exit code (an ingestion's on a
    result submission may be non-zero)."""
    return attempt_report("succeeded", exit_code=result.exit_code, elapsed=result.elapsed, scores=found,
                          intervals=intervals)


def ended_by(error: Exception) -> AttemptReport:
    """The report of an attempt that an exception ended: cancelled, failed with the attempt's
    reason, or failed by the worker's own bug or environment (never the participant's fault)."""
    if isinstance(error, Cancelled):
        return attempt_report("cancelled", reason="Cancelled.")
    if isinstance(error, AttemptFailed):
        return attempt_report("failed", failure_kind=error.kind, reason=error.reason, retryable=error.retryable,
                              exit_code=error.exit_code)
    return attempt_report("failed", failure_kind="platform", reason=f"The worker failed: {type(error).__name__}")


def upload_failed(report: AttemptReport, problem: ProtocolError) -> AttemptReport:
    """A successful step whose results could not be uploaded is the platform's failure."""
    return attempt_report(**{**report, "state": "failed", "failure_kind": "platform",  # type: ignore[arg-type]
                             "reason": f"Uploading the results failed: {without_urls(str(problem))}"})


class RunLog:
    """The attempt's log: each program's stdout and stderr, capped, with headers."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.participant_tail = ""
        self.live = LiveTail(LIVE_LOG_CHARS)  # the participant's output while the predict step runs

    def add(self, label: str, result: ExecResult) -> None:
        self.parts.append(
            f"=== {label}: exit code {result.exit_code}, {result.elapsed:.1f} s ===\n"
            f"--- stdout ---\n{result.stdout.text()}\n--- stderr ---\n{result.stderr.text()}\n"
        )

    def text(self) -> str:
        return "\n".join(self.parts)


def _flatten(path: str) -> None:
    """A zip of a folder holds one top folder; programs expect its contents at the top."""
    entries = [e for e in os.listdir(path) if e not in ("__MACOSX", ".DS_Store")]
    if len(entries) == 1 and os.path.isdir(os.path.join(path, entries[0])):
        inner = os.path.join(path, entries[0])
        for name in os.listdir(inner):
            shutil.move(os.path.join(inner, name), os.path.join(path, name))
        os.rmdir(inner)


def _write_metadata(output: str, results: dict[str, ExecResult]) -> None:
    """The worker's own account of the run (``run_metadata``): the step's program is the scoring
    program, else the participant's own; one the program wrote is replaced."""
    run_metadata.write(output, results.get("scoring") or results.get("prediction"), results.get("ingestion"))


class _Background:
    """A program run on its own thread (the ingestion program beside the scoring program)."""

    def __init__(self, run: Any, spec: ContainerSpec, cancel: threading.Event) -> None:
        self._holder: dict[str, ExecResult] = {}
        self._thread = threading.Thread(target=lambda: self._holder.setdefault("r", run(spec, cancel)))
        self._thread.start()

    def result(self) -> ExecResult:
        self._thread.join()
        return self._holder["r"]


class Steps:
    """Wall-clock time per step of one attempt, for the worker's log line (where an attempt's
    time goes: claim, fetch, run, upload, finish, and the rest)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.spent: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - t0

    def __str__(self) -> str:
        total = time.perf_counter() - self.started
        parts = [f"{name} {seconds * 1000:.1f}" for name, seconds in self.spent.items()]
        parts.append(f"other {(total - sum(self.spent.values())) * 1000:.1f}")
        return f"{total * 1000:.1f} ms ({', '.join(parts)})"


class AttemptRunner:
    def __init__(self, client: ServiceClient, executor: Executor, cache: DatasetCache, settings: WorkerSettings,
                 hostname: str = "", readiness: Readiness | None = None) -> None:
        self.client, self.executor, self.cache, self.settings = client, executor, cache, settings
        self.readiness = readiness  # None: no check of free disk space or of the engine before a claim
        self.hostname = hostname or os.uname().nodename
        self.steps = Steps()

    # --- the attempt's life -----------------------------------------------------------------

    def run(self, attempt_id: int) -> AttemptReport | None:
        """Claim and run an attempt; returns the report sent, or None when it was not ours.
        Raises ``CannotWork`` without claiming when the disk has too little room or the engine
        does not answer (the service publishes the unclaimed attempt again)."""
        self.steps = steps = Steps()
        if self.readiness is not None:
            self.readiness.check()
        try:
            with steps("claim"):
                job = self.client.claim(attempt_id, self.hostname)
        except LeaseLost as e:
            log.info("attempt %s not claimed: %s", attempt_id, e)
            return None
        except ProtocolError as e:
            if e.status in (400, 404):
                log.warning("attempt %s is unknown to the service; dropping the message: %s", attempt_id, e)
                return None
            raise
        cancel, lost = threading.Event(), threading.Event()
        stop = threading.Event()
        run_log = RunLog()
        beat = threading.Thread(target=self._heartbeat,
                                args=(attempt_id, job["lease_seconds"], cancel, lost, stop, run_log.live), daemon=True)
        beat.start()
        root = tempfile.mkdtemp(prefix=f"attempt-{attempt_id}-", dir=self.settings.work_dir)
        os.chmod(root, 0o755)
        files: dict[str, str] = {}
        try:
            report = self._execute(job, layout.RunDirs(root).create(), cancel, files, run_log)
        except Exception as e:
            if not isinstance(e, Cancelled | AttemptFailed):
                log.exception("attempt %s: worker error", attempt_id)
            report = ended_by(e)
        finally:
            stop.set()
            beat.join(5)
        report["log_tail"] = run_log.participant_tail[-4000:]
        if lost.is_set():
            log.warning("attempt %s: lease lost; another worker owns it now", attempt_id)
            disk_caps.release(root)
            return None
        with steps("upload"):
            report["files"], problem = self._upload(job, files, run_log)
        if problem is not None and report["state"] == "succeeded":
            report = upload_failed(report, problem)
        try:
            with steps("finish"):
                self.client.finish(attempt_id, report)
        except LeaseLost:
            log.warning("attempt %s: finished too late, the lease was taken over", attempt_id)
            return None
        finally:
            disk_caps.release(root)
        log.info("attempt %s %s: %s", attempt_id, report["state"], steps)
        return report

    def _heartbeat(self, attempt_id: int, lease: int, cancel: threading.Event, lost: threading.Event,
                   stop: threading.Event, live: LiveTail) -> None:
        """Renew the lease every third of it; and, at most every ``LIVE_LOG_INTERVAL`` seconds,
        whenever the participant's code wrote something, to carry its live output."""
        interval = max(1.0, lease / 3)
        tick = min(interval, LIVE_LOG_INTERVAL)
        last = time.monotonic()
        while not stop.wait(tick):
            tail = live.take()
            if tail is None and time.monotonic() - last < interval - tick / 2:
                continue
            last = time.monotonic()
            try:
                if self.client.heartbeat(attempt_id, tail).get("cancel"):
                    cancel.set()
            except LeaseLost:
                lost.set()
                cancel.set()
                return
            except ProtocolError as e:
                log.warning("heartbeat of attempt %s failed: %s", attempt_id, e)

    def _upload(self, job: JobSpec, files: dict[str, str], run_log: RunLog) -> tuple[list[str], ProtocolError | None]:
        """PUT the log and the outputs; the names uploaded, and the first problem if any."""
        log_path = os.path.join(self.settings.work_dir, f"log-{job['attempt']}.txt")
        with open(log_path, "w", errors="replace") as f:
            f.write(run_log.text()[: job["outputs"]["log"]["max_size"]])
        files["log"] = log_path
        names = [name for name in files if name in job["outputs"]]

        def put(name: str) -> ProtocolError | None:
            try:
                self.client.upload(job["outputs"][name], files[name])
            except ProtocolError as e:
                return e
            return None

        try:
            # side by side: each PUT is a round trip to storage, and the attempt waits for all
            with ThreadPoolExecutor(max_workers=max(1, len(names)), thread_name_prefix="upload") as pool:
                problems = dict(zip(names, pool.map(put, names), strict=True))
        finally:
            os.remove(log_path)
        failed = [e for e in problems.values() if e is not None]
        return [name for name in names if problems[name] is None], (failed[0] if failed else None)

    # --- the work ------------------------------------------------------------------------------

    def _fetch(self, job: JobSpec, name: str, dest: str, owner: str) -> bool:
        """Fetch and unpack an input; the worker's disk filling up meanwhile is the platform's
        failure, retried at no cost (the participant's own disk cap is their containers')."""
        with self.steps("fetch"):
            try:
                return self._fetch_unpacked(job, name, dest, owner)
            except OSError as e:
                if no_room(e):
                    log.warning("attempt %s: no room on the worker's disk for the %s: %s", job["attempt"], name, e)
                    raise AttemptFailed("platform", WORKER_DISK_FULL, True) from None
                raise

    def _fetch_unpacked(self, job: JobSpec, name: str, dest: str, owner: str) -> bool:
        spec = job["inputs"].get(name)
        if spec is None:
            return False
        try:
            if name == "submission":
                archive = dest.rstrip("/") + ".zip"
                self.client.download(spec, archive)
            else:
                archive = self.cache.get(spec["sha256"], lambda tmp: self.client.download(spec, tmp))
        except ProtocolError as e:
            raise AttemptFailed("platform", f"Fetching the {name.replace('_', ' ')} failed: {without_urls(str(e))}"
                                ) from None
        try:
            archives.safe_extract(archive, dest, max_bytes=self.settings.max_input_bytes)
        except archives.ArchiveError as e:
            if owner == "participant":
                raise AttemptFailed("participant", f"Your submission could not be unpacked: {e}", False) from None
            raise AttemptFailed("platform", f"The organizers' {name.replace('_', ' ')} could not be unpacked: {e}",
                                False) from None
        finally:
            if name == "submission" and os.path.exists(archive):
                os.remove(archive)
        os.makedirs(dest, exist_ok=True)
        _flatten(dest)
        return True

    def _spec(self, job: JobSpec, label: str, program: str, command: list[str], mounts: list[Mount]) -> ContainerSpec:
        s = self.settings
        return ContainerSpec(
            name=f"podium-{s.name}-a{job['attempt']}-{label}",
            image=resolve_image(job["image"], s.image_aliases),
            command=command,
            mounts=[Mount(program, "/app/program"), *mounts],
            time_limit=float(job["time_limit"]),
            memory_mb=s.memory_mb, cpus=s.cpus, pids=s.pids, tmpfs_mb=s.tmpfs_mb,
            # with hard caps the tmpfs fills first and is reported as the disk limit
            max_file_bytes=s.max_output_bytes * (2 if s.hard_disk_caps else 1), max_log_bytes=s.max_log_bytes,
        )

    def _command(self, program_dir: str, label: str, step: str, owner: str) -> list[str]:
        try:
            return layout.build_command(program_dir, label, step)
        except layout.MetadataError as e:
            if owner == "participant":
                raise AttemptFailed("participant", f"Your submission's {e}", False) from None
            raise AttemptFailed("platform", f"The organizers' {e}", False) from None

    def _disk_full(self, *paths: str) -> bool:
        for path in paths:
            if self.settings.hard_disk_caps and os.path.ismount(path):
                st = os.statvfs(path)
                if st.f_bavail * st.f_frsize < 256 * 1024:
                    return True
        return False

    def _judge(self, result: ExecResult, what: str, job: JobSpec, cancel: threading.Event,
               show_log: bool, run_log: RunLog, written: tuple[str, ...] = (),
               exit_code_decides: bool = True) -> None:
        """Raise the failure a finished program's result means; a non-zero exit code only when
        ``exit_code_decides`` (Codabench checks no exit code; Podium does where the reason helps)."""
        if show_log:
            run_log.participant_tail = (result.stdout.tail_text(2000) + "\n" + result.stderr.tail_text(2000)).strip()
        if cancel.is_set() or result.cancelled:
            raise Cancelled()
        if result.error:
            raise AttemptFailed("platform", f"The {what} could not run: {result.error}")
        if result.timed_out:
            raise AttemptFailed("participant", f"Time limit exceeded: the {what} ran longer than {job['time_limit']} s.",
                                False)
        if result.oom_killed:
            raise AttemptFailed("participant",
                                f"Memory limit exceeded: the {what} used more than {self.settings.memory_mb} MB.", False)
        if result.log_exceeded:
            raise AttemptFailed("participant", f"Log limit exceeded: the {what} printed more than "
                                f"{self.settings.max_log_bytes // (1024 * 1024)} MB.", False)
        if result.exit_code != 0 and not exit_code_decides:
            return
        if result.exit_code != 0 and self._disk_full(*written):
            raise AttemptFailed("participant", f"Disk limit exceeded: the {what} filled the "
                                f"{self.settings.max_output_bytes // (1024 * 1024)} MB it may write.", False)
        if result.exit_code != 0:
            tail = ""
            if show_log and run_log.participant_tail:
                tail = "\n" + run_log.participant_tail[-1500:]
            raise AttemptFailed("participant", f"The {what} exited with code {result.exit_code}.{tail}", False,
                                exit_code=result.exit_code)

    def _check_output(self, path: str, what: str) -> None:
        try:
            archives.check_tree(path, self.settings.max_output_bytes, self.settings.max_output_files)
        except archives.ArchiveError as e:
            raise AttemptFailed("participant", f"The {what} was refused: {e}.", False) from None
        if self._disk_full(path):
            raise AttemptFailed("participant", f"Disk limit exceeded: the {what} filled its "
                                f"{self.settings.max_output_bytes // (1024 * 1024)} MB.", False)

    def _check_participant_writes(self, dirs: layout.RunDirs) -> None:
        """Refuse what participant code left for the scoring program (predictions, ``/app/shared``,
        ``/app/tmp``) if it holds a link, a device or a FIFO; called once that code has ended."""
        self._check_output(dirs.predictions, "prediction output")
        # scratch folders: only what is in them is checked (their size is the tmpfs cap's business)
        for path, what in ((dirs.shared, "shared folder (/app/shared)"), (dirs.tmp, "temporary folder (/app/tmp)")):
            try:
                archives.check_tree(path, max_bytes=2**62, max_files=2**62)
            except archives.ArchiveError as e:
                raise AttemptFailed("participant", f"The {what} was refused: {e}.", False) from None

    def _guarded_views(self, dirs: layout.RunDirs) -> tuple[Mount, list[Mount]] | None:
        """Link-proof views of the folders ingestion writes, for a scorer running beside it: the
        predictions folder and the scorer's ``/app/shared`` and ``/app/tmp``; None where this
        worker cannot mount them (then the two programs run one after the other)."""
        if not (self.settings.link_proof_views and guarded_views.supported(self.settings.work_dir)):
            return None
        views = os.path.join(dirs.root, "views")
        try:
            for name, source, read_only in (("res", dirs.predictions, True), ("shared", dirs.shared, False),
                                            ("tmp", dirs.tmp, False)):
                guarded_views.make_view(source, os.path.join(views, name), read_only)
        except GuardedViewError as e:
            log.warning("no link-proof views (%s); ingestion and scoring run one after the other", e)
            return None
        # res is read-only on the host: Docker's own read-only remount would drop nosymfollow
        res = Mount(os.path.join(views, "res"), "/app/input/res", read_only=False)
        return res, [Mount(os.path.join(views, "shared"), "/app/shared", False),
                     Mount(os.path.join(views, "tmp"), "/app/tmp", False)]

    def _run(self, spec: ContainerSpec, cancel: threading.Event) -> ExecResult:
        with self.steps("run"):
            return self.executor.run(spec, cancel)

    def _ingestion_spec(self, job: JobSpec, dirs: layout.RunDirs, output: str, rw: list[Mount]) -> ContainerSpec:
        """Fetch the ingestion program, the participant's code and the input data; the spec that
        runs them with predictions going to ``output`` (and no reference data mounted)."""
        self._fetch(job, "ingestion_program", dirs.ingestion_program, "organizer")
        self._fetch(job, "submission", dirs.ingested_program, "participant")
        self._fetch(job, "input_data", dirs.input_data, "organizer")
        command = self._command(dirs.ingestion_program, "ingestion_program", "predict", "organizer")
        return self._spec(job, "ingestion", dirs.ingestion_program, command, [
            Mount(dirs.ingested_program, "/app/ingested_program"), Mount(dirs.input_data, "/app/input_data"),
            Mount(output, "/app/output", False), *rw])

    def _execute(self, job: JobSpec, dirs: layout.RunDirs, cancel: threading.Event, files: dict[str, str],
                 run_log: RunLog) -> AttemptReport:
        out_mb = self.settings.max_output_bytes // (1024 * 1024) + 1
        if self.settings.hard_disk_caps:
            notebook = (dirs.notebook,) if job.get("notebook") else ()  # a notebook may write its copy there
            for path in (dirs.output, dirs.predictions, *notebook, dirs.shared, dirs.tmp):
                disk_caps.cap(path, out_mb)
        rw = [Mount(dirs.shared, "/app/shared", False), Mount(dirs.tmp, "/app/tmp", False)]
        if job["step"] == "predict":
            return self._predict(job, dirs, rw, cancel, files, run_log)
        return self._score(job, dirs, rw, cancel, files, run_log)

    def _predict(self, job: JobSpec, dirs: layout.RunDirs, rw: list[Mount], cancel: threading.Event,
                 files: dict[str, str], run_log: RunLog) -> AttemptReport:
        """The prediction step: the ingestion program runs the participant's code on the input data."""
        spec = self._ingestion_spec(job, dirs, dirs.output, rw)
        spec.live = run_log.live  # the ingestion program running the participant's code, live
        results_only = layout.is_result_submission(dirs.ingested_program)
        if results_only:  # as Codabench: a result submission is copied into the prediction output
            shutil.copytree(dirs.ingested_program, dirs.output, symlinks=True, dirs_exist_ok=True)
        result = self._run(spec, cancel)
        run_log.add("ingestion program", result)
        # on a result submission the ingestion's exit code is recorded, not judged (as Codabench)
        self._judge(result, "ingestion program running your code", job, cancel, True, run_log,
                    (dirs.output, dirs.shared, dirs.tmp), exit_code_decides=not results_only)
        self._check_output(dirs.output, "prediction output")
        _write_metadata(dirs.output, {"ingestion": result})
        files["output"] = self._zip(dirs.output, dirs.root, "output")
        return succeeded(result)

    def _score(self, job: JobSpec, dirs: layout.RunDirs, rw: list[Mount], cancel: threading.Event,
               files: dict[str, str], run_log: RunLog) -> AttemptReport:
        """The scoring step: predictions come from the prediction step, or the submission is the
        result, or (legacy code submissions without an ingestion program) the submission runs
        first, or the ingestion program runs beside the scoring program."""
        results: dict[str, ExecResult] = {}
        ingestion, ingested = None, None
        res = Mount(dirs.res, "/app/input/res")
        scorer_rw = rw
        if "predictions" in job["inputs"]:
            self._fetch(job, "predictions", dirs.res, "participant")
        elif job.get("ingestion_only_during_scoring") and "ingestion_program" in job["inputs"]:
            spec = self._ingestion_spec(job, dirs, dirs.predictions, rw)
            views = self._guarded_views(dirs)
            if views is not None:  # side by side: the scorer sees what ingestion writes through views
                ingestion = _Background(self._run, spec, cancel)
                res, scorer_rw = views
            else:  # one after the other: the scorer starts once ingestion has ended and its writes are checked
                results["ingestion"] = ingested = self._run(spec, cancel)
                run_log.add("ingestion program", ingested)
                self._judge(ingested, "ingestion program running your code", job, cancel, True, run_log,
                            (dirs.predictions, dirs.shared, dirs.tmp), exit_code_decides=False)
                self._check_participant_writes(dirs)
                res = Mount(dirs.predictions, "/app/input/res")
        else:
            self._predictions_from_submission(job, dirs, rw, cancel, run_log, results, files)
        result = self._run_scoring_program(job, dirs, res, scorer_rw, cancel)
        results["scoring"] = result
        run_log.add("scoring program", result)
        if ingestion is not None:
            results["ingestion"] = ingested = ingestion.result()
            run_log.add("ingestion program", ingested)
            # ingestion during scoring: the scoring program decides, as in Codabench
            self._judge(ingested, "ingestion program running your code", job, cancel, True, run_log,
                        exit_code_decides=False)
            self._check_participant_writes(dirs)
        try:
            found = self._scores_of(job, dirs, result, cancel, run_log, files)
        except AttemptFailed:
            if ingested is not None and ingested.exit_code != 0:  # its own reason tells more
                self._judge(ingested, "ingestion program running your code", job, cancel, True, run_log)
            raise
        intervals = self._intervals_of(job, dirs, result)
        _write_metadata(dirs.output, results)
        files["output"] = self._zip(dirs.output, dirs.root, "output")
        return succeeded(result, found, intervals)

    def _predictions_from_submission(self, job: JobSpec, dirs: layout.RunDirs, rw: list[Mount],
                                     cancel: threading.Event, run_log: RunLog, results: dict[str, ExecResult],
                                     files: dict[str, str]) -> None:
        """Put the submission's predictions in ``dirs.res``: run the submitted code when it has a
        command (a legacy code submission), else the submission is the predictions."""
        self._fetch(job, "submission", dirs.ingested_program, "participant")
        notebook = notebooks.submitted_notebook(dirs.ingested_program) if job.get("notebook") else None
        if notebook is not None:
            self._run_notebook(job, dirs, notebook, rw, cancel, run_log, results, files)
        elif layout.has_command(dirs.ingested_program):
            self._fetch(job, "input_data", dirs.input_data, "organizer")
            command = self._command(dirs.ingested_program, "submission", "predict", "participant")
            spec = self._spec(job, "submission", dirs.ingested_program, command, [
                Mount(dirs.input_data, "/app/input_data"), Mount(dirs.predictions, "/app/output", False), *rw])
            results["prediction"] = result = self._run(spec, cancel)
            run_log.add("your code", result)
            self._judge(result, "submitted code", job, cancel, True, run_log,
                        (dirs.predictions, dirs.shared, dirs.tmp))
            self._check_participant_writes(dirs)
            self._predictions_to_res(dirs, result)
        else:  # the submission is the predictions: moved into place, not copied
            shutil.rmtree(dirs.res)
            os.rename(dirs.ingested_program, dirs.res)
            os.mkdir(dirs.ingested_program)
            if not os.path.lexists(os.path.join(dirs.res, "metadata")):
                _write_metadata(dirs.res, {})  # as Codabench's copy of a result submission

    @staticmethod
    def _predictions_to_res(dirs: layout.RunDirs, result: ExecResult) -> None:
        """The participant's checked predictions, copied as new plain files where the scorer reads them."""
        shutil.rmtree(dirs.res)
        shutil.copytree(dirs.predictions, dirs.res)  # checked: regular files only, copied as new files
        _write_metadata(dirs.res, {"prediction": result})  # what a prediction step leaves

    def _run_notebook(self, job: JobSpec, dirs: layout.RunDirs, notebook: str, rw: list[Mount],
                      cancel: threading.Event, run_log: RunLog, results: dict[str, ExecResult],
                      files: dict[str, str]) -> None:
        """Execute a notebook submission in the competition's image (``notebooks``): it reads
        ``/app/input_data`` and writes its predictions to ``/app/output``. Its executed copy goes
        back to the participant whatever happened; a failing cell is named in the reason."""
        self._fetch(job, "input_data", dirs.input_data, "organizer")
        spec = self._spec(job, "notebook", dirs.ingested_program, notebooks.command(notebook), [
            Mount(dirs.input_data, "/app/input_data"), Mount(dirs.predictions, "/app/output", False),
            *notebooks.mounts(dirs.notebook), *rw])
        spec.live = run_log.live
        results["prediction"] = result = self._run(spec, cancel)
        run_log.add("your notebook", result)
        slot = job["outputs"].get("notebook")
        copy = notebooks.executed_copy(dirs.notebook, slot["max_size"] if slot else self.settings.max_output_bytes)
        if copy is not None:
            files["notebook"] = copy
        status = notebooks.read_status(os.path.join(dirs.notebook, notebooks.STATUS))
        stopped = result.timed_out or result.oom_killed or result.cancelled or result.log_exceeded or result.error
        if result.timed_out and not cancel.is_set() and status.state == "running" and status.cell:
            raise AttemptFailed("participant", f"Time limit exceeded: the notebook ran longer than {job['time_limit']} s "
                                f"(cell {status.cell} was running).", False)
        failure = status.failure()
        if failure and result.exit_code not in (0, None) and not stopped and not cancel.is_set():
            run_log.participant_tail = (result.stdout.tail_text(2000) + "\n" + result.stderr.tail_text(2000)).strip()
            raise AttemptFailed("participant", f"The notebook failed: {failure}.", False, exit_code=result.exit_code)
        self._judge(result, "notebook", job, cancel, True, run_log, (dirs.predictions, dirs.shared, dirs.tmp))
        self._check_participant_writes(dirs)
        self._predictions_to_res(dirs, result)

    def _run_scoring_program(self, job: JobSpec, dirs: layout.RunDirs, res: Mount, rw: list[Mount],
                             cancel: threading.Event) -> ExecResult:
        """Fetch the scoring program and the reference data and run it on the predictions ``res``."""
        if not self._fetch(job, "scoring_program", dirs.program, "organizer"):
            raise AttemptFailed("platform", "This task has no scoring program; the organizers must add one.", False)
        self._fetch(job, "reference_data", dirs.ref, "organizer")
        command = self._command(dirs.program, "scoring_program", "score", "organizer")
        spec = self._spec(job, "scoring", dirs.program, command, [
            Mount(dirs.ref, "/app/input/ref"), res,
            Mount(dirs.output, "/app/output", False), *rw])
        return self._run(spec, cancel)

    def _scores_of(self, job: JobSpec, dirs: layout.RunDirs, result: ExecResult, cancel: threading.Event,
                   run_log: RunLog, files: dict[str, str]) -> dict[str, float]:
        """Judge the scoring program and read the leaderboard columns it wrote (the job's
        ``score_keys``); its detailed results are kept even when the scores cannot be read, and
        then its exit code is recorded with the failure."""
        self._judge(result, "scoring program", job, cancel, False, run_log)
        self._check_output(dirs.output, "scoring output")
        detailed = scores.find_detailed_results(dirs.output)
        if detailed is not None:
            files["detailed_results"] = detailed
        try:
            return scores.read_scores(dirs.output, job.get("score_keys") or None)
        except scores.ScoresError as e:
            raise AttemptFailed("participant", f"No scores: {e}.", False, exit_code=result.exit_code) from None

    def _intervals_of(self, job: JobSpec, dirs: layout.RunDirs, result: ExecResult) -> dict[str, Interval]:
        """The bootstrap intervals of the columns whose per-example scores the scoring program
        wrote (``uncertainty``); a file it wrote wrong fails the attempt as a wrong scores file does."""
        try:
            return uncertainty.intervals_in(dirs.output, job.get("score_keys") or (), job.get("bootstrap"))
        except scores.ScoresError as e:
            raise AttemptFailed("participant", f"No confidence intervals: {e}.", False, exit_code=result.exit_code) from None

    def _zip(self, path: str, root: str, name: str) -> str:
        archive = os.path.join(root, f"{name}.zip")
        try:
            archives.zip_tree(path, archive, self.settings.max_output_bytes, self.settings.max_output_files)
        except archives.ArchiveError as e:
            raise AttemptFailed("participant", f"The output was refused: {e}.", False) from None
        return archive
