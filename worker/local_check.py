"""A phase's public scoring run on the participant's own machine, through the worker's own runner.

``podium check`` and the widget's ``check()`` download a phase's public scoring kit (its scoring
program, the public reference split the organizer published, and the ingestion program and public
data when the phase runs code), then hand the runner jobs built from those local files:
``LocalJobs`` stands where the service stands (claim, heartbeat, download, upload, finish), so
the containers, limits, checks and score reading are exactly a worker's. Nothing is sent to the
service.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import Any

from .cache import DatasetCache
from .errors import CheckError, DownloadError, LeaseLost
from .executors.base import Executor
from .protocol import AttemptReport, HeartbeatAnswer, JobInput, JobInputs, JobSpec, OutputSlot
from .runner import AttemptRunner, WorkerSettings

#: What a kit may carry, by the job input name the runner knows it under.
KIT_FILES = ("scoring_program", "reference_data", "ingestion_program", "input_data")


@dataclass
class CheckResult:
    """How the local run ended: ``state`` and ``scores`` as the worker would report them."""

    state: str
    scores: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    log: str = ""
    output_zip: str | None = None


def local_input(path: str) -> JobInput:
    """A job input naming a local file (instead of a signed URL), with what it must match."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return JobInput(url=os.path.abspath(path), sha256=digest.hexdigest(), size=os.path.getsize(path))


class LocalJobs:
    """The service's side of the job protocol, answered from local files for one check."""

    def __init__(self, outputs_dir: str) -> None:
        self.jobs: dict[int, JobSpec] = {}
        self.reports: dict[int, AttemptReport] = {}
        self.outputs_dir = outputs_dir

    def add(self, attempt: int, step: str, inputs: dict[str, str], kit: dict[str, Any]) -> JobSpec:
        slots = {name: OutputSlot(url=os.path.join(self.outputs_dir, f"{attempt}-{name}"), max_size=2**40)
                 for name in ("output", "log", "detailed_results")}
        job = JobSpec(attempt=attempt, submission=0, step=step, number=1, lease_seconds=3600,  # type: ignore[typeddict-item]
                      time_limit=int(kit["time_limit"]), image=kit["image"],
                      ingestion_only_during_scoring=bool(kit.get("ingestion_only_during_scoring")),
                      inputs=JobInputs(**{k: local_input(p) for k, p in inputs.items()}),  # type: ignore[typeddict-item]
                      outputs=slots, score_keys=list(kit.get("score_keys") or []))  # type: ignore[typeddict-item]
        self.jobs[attempt] = job
        return job

    def claim(self, attempt_id: int, hostname: str) -> JobSpec:
        if attempt_id not in self.jobs:
            raise LeaseLost(f"no local job {attempt_id}", 409)
        return self.jobs[attempt_id]

    def heartbeat(self, attempt_id: int, log_tail: str | None = None) -> HeartbeatAnswer:
        return HeartbeatAnswer(cancel=False, lease_expires_at="")

    def finish(self, attempt_id: int, report: AttemptReport) -> dict[str, Any]:
        self.reports[attempt_id] = report
        return {"attempt": attempt_id, "state": report["state"], "submission_status": report["state"]}

    def download(self, spec: JobInput, dest: str) -> None:
        shutil.copyfile(spec["url"], dest)
        if local_input(dest)["sha256"] != spec["sha256"]:
            os.remove(dest)
            raise DownloadError("a kit file changed while the check ran")

    def upload(self, spec: OutputSlot, path: str) -> None:
        shutil.copyfile(path, spec["url"])

    def output(self, attempt: int, name: str) -> str | None:
        path = os.path.join(self.outputs_dir, f"{attempt}-{name}")
        return path if os.path.exists(path) else None


def _zip_folder(folder: str, dest: str) -> str:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for root, _, files in os.walk(folder):
            for name in files:
                path = os.path.join(root, name)
                archive.write(path, os.path.relpath(path, folder))
    return dest


def run_check(kit: dict[str, Any], kit_files: dict[str, str], submission: str, executor: Executor,
              work_dir: str | None = None, settings: WorkerSettings | None = None,
              keep_output: str | None = None) -> CheckResult:
    """Score ``submission`` (a zip or a folder) with the kit's public files, as a worker would:
    the prediction step first when the phase has an ingestion program (not during scoring),
    then the scoring step on its predictions. ``kit``: the service's ``scoring-kit`` answer (image,
    time limit, score keys); ``kit_files``: its files downloaded, by ``KIT_FILES`` name;
    ``keep_output``: where to save the scoring step's output zip (its scores and detailed results)."""
    if "scoring_program" not in kit_files or "reference_data" not in kit_files:
        raise CheckError("this phase publishes no public scoring kit (scoring program and public reference data)")
    if not executor.available():
        raise CheckError("the Docker engine does not answer; check runs the phase's image in Docker "
                         "(start it, or run `podium images engine` as root)")
    root = tempfile.mkdtemp(prefix="podium-check-", dir=work_dir)
    os.chmod(root, 0o755)
    try:
        outputs, runs = os.path.join(root, "outputs"), os.path.join(root, "runs")
        os.makedirs(outputs)
        os.makedirs(runs)
        if os.path.isdir(submission):
            submission = _zip_folder(submission, os.path.join(root, "submission.zip"))
        jobs = LocalJobs(outputs)
        settings = settings or WorkerSettings(name=f"check-{os.getpid()}", work_dir=runs, hard_disk_caps=False)
        settings.work_dir = runs
        runner = AttemptRunner(jobs, executor, DatasetCache(os.path.join(root, "cache"), 2**40),  # type: ignore[arg-type]
                               settings)
        predict_first = "ingestion_program" in kit_files and not kit.get("ingestion_only_during_scoring")
        logs: list[str] = []
        score_inputs = {"scoring_program": kit_files["scoring_program"], "reference_data": kit_files["reference_data"]}
        if predict_first:
            jobs.add(1, "predict", {"submission": submission, "ingestion_program": kit_files["ingestion_program"],
                                    **({"input_data": kit_files["input_data"]} if "input_data" in kit_files else {})}, kit)
            report = runner.run(1)
            logs.append(_read(jobs.output(1, "log")))
            if report is None or report["state"] != "succeeded" or jobs.output(1, "output") is None:
                return _result(report, logs, None)
            score_inputs["predictions"] = jobs.output(1, "output")  # type: ignore[assignment]
        else:
            score_inputs["submission"] = submission
            for name in ("input_data", "ingestion_program"):
                if name in kit_files:
                    score_inputs[name] = kit_files[name]
        jobs.add(2, "score", score_inputs, kit)
        report = runner.run(2)
        logs.append(_read(jobs.output(2, "log")))
        kept = None
        if keep_output and jobs.output(2, "output"):
            kept = shutil.copyfile(jobs.output(2, "output"), keep_output)  # type: ignore[arg-type]
        return _result(report, logs, kept)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _read(path: str | None) -> str:
    if path is None:
        return ""
    with open(path, errors="replace") as f:
        return f.read()


def _result(report: AttemptReport | None, logs: list[str], output_zip: str | None) -> CheckResult:
    if report is None:
        return CheckResult("failed", reason="the local run did not start", log="\n".join(logs))
    return CheckResult(report["state"], dict(report.get("scores") or {}), report.get("reason"),
                       "\n".join(logs), output_zip)
