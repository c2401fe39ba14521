"""The job protocol, one definition for both sides: every report the worker's runner builds is
what the service's validation reads back unchanged; unknown fields are ignored and limits are
enforced as the protocol module documents; the worker's light install imports it without pydantic."""

from __future__ import annotations

import subprocess
import sys

import pytest
from podium.server.errors import ValidationFailed
from podium.server.request_bodies import parse
from podium.worker import protocol
from podium.worker.client import ProtocolError
from podium.worker.errors import AttemptFailed, Cancelled
from podium.worker.executors.base import CappedLog, ExecResult
from podium.worker.protocol import (
    AttemptReport,
    ClaimRequest,
    FinishRequest,
    attempt_report,
    mismatch_message,
)
from podium.worker.runner import ended_by, succeeded, upload_failed

REPORT_FIELDS = set(AttemptReport.__required_keys__) | set(AttemptReport.__optional_keys__)


def result(exit_code: int = 0, elapsed: float = 1.25) -> ExecResult:
    return ExecResult(exit_code, elapsed, CappedLog(1024), CappedLog(1024))


def runner_reports() -> dict[str, AttemptReport]:
    """One report per way the runner ends an attempt, completed as ``AttemptRunner.run`` does."""
    reports = {
        "predicted": succeeded(result()),
        "scored": succeeded(result(), {"accuracy": 0.5, "runtime": 3, "label": "fast", "missing": None}),
        "cancelled": ended_by(Cancelled()),
        "participant failure": ended_by(AttemptFailed("participant", "The submitted code exited with code 3.",
                                                      False, exit_code=3)),
        "platform failure": ended_by(AttemptFailed("platform", "Fetching the input data failed: 503")),
        "worker error": ended_by(KeyError("image")),
        "upload failed": upload_failed(succeeded(result(), {"accuracy": 1.0}), ProtocolError("upload refused (403)")),
    }
    for report in reports.values():
        report["log_tail"] = "a line the participant may see"
        report["files"] = ["output", "log"]
    return reports


@pytest.mark.parametrize("name", list(runner_reports()))
def test_every_report_the_runner_builds_is_read_back_unchanged_by_the_service(name: str) -> None:
    report = runner_reports()[name]
    # the runner sends every field, and only fields the protocol declares
    assert set(report) == REPORT_FIELDS
    # the service validates the finish request with the same definition and loses nothing
    received = parse(FinishRequest, {"worker": "w-1", **report})
    assert received == {"worker": "w-1", **report}
    fields = {k: v for k, v in received.items() if k != "worker"}
    assert attempt_report(**fields) == report


def test_a_minimal_report_gets_the_constructors_defaults_on_the_service() -> None:
    received = parse(FinishRequest, {"worker": "w", "state": "failed", "failure_kind": "participant"})
    report = attempt_report(**{k: v for k, v in received.items() if k != "worker"})
    assert report == {"state": "failed", "failure_kind": "participant", "reason": None, "retryable": True,
                      "exit_code": None, "elapsed": None, "log_tail": "", "scores": None, "intervals": None,
                      "files": []}


def test_intervals_arrive_as_pairs_and_anything_else_is_refused() -> None:
    received = parse(FinishRequest, {"worker": "w", "state": "succeeded", "scores": {"acc": 0.5},
                                     "intervals": {"acc": [0.4, 0.6]}})
    assert received["intervals"] == {"acc": (0.4, 0.6)}
    for wrong in ({"acc": [0.4]}, {"acc": [0.4, 0.5, 0.6]}, {"acc": ["low", "high"]}, [0.4, 0.6]):
        with pytest.raises(ValidationFailed):
            parse(FinishRequest, {"worker": "w", "state": "succeeded", "intervals": wrong})


def test_unknown_fields_are_ignored_and_limits_are_checked_by_the_service() -> None:
    # a newer worker's extra field does not make an older service refuse the message
    assert parse(ClaimRequest, {"worker": "w", "protocol": 1, "gpu": "A100"}) == {"worker": "w", "protocol": 1}
    with pytest.raises(ValidationFailed) as refused:
        parse(FinishRequest, {"worker": "no spaces", "state": "done", "reason": "x" * 20001,
                              "files": ["output", "secrets"]})
    assert {e["location"] for e in refused.value.extra["errors"]} == {"worker", "state", "reason", "files[1]"}
    with pytest.raises(ValidationFailed):
        parse(ClaimRequest, {"worker": "w", "hostname": "h" * 256})


def test_protocol_versions_say_which_side_to_upgrade() -> None:
    assert mismatch_message(protocol.PROTOCOL_VERSION) is None
    assert mismatch_message(0, 1, 1) == ("this worker speaks job protocol 0, the service needs 1: "
                                         "upgrade jupyter-podium on the worker")
    assert "upgrade jupyter-podium on the service" in mismatch_message(3, 1, 2)
    assert mismatch_message(2, 1, 3) is None


def test_the_worker_reads_the_protocol_without_pydantic() -> None:
    """The worker's base install has neither pydantic nor typing_extensions."""
    code = (
        "import sys\n"
        "sys.modules['pydantic'] = sys.modules['typing_extensions'] = None\n"
        "from podium.worker import client, protocol, runner\n"
        "report = protocol.attempt_report('succeeded', scores={'a': 1.0})\n"
        "spec = protocol.JobSpec(attempt=1, submission=2, step='score', number=1, lease_seconds=60,\n"
        "    time_limit=600, image='img', ingestion_only_during_scoring=False, inputs={},\n"
        "    outputs={'output': {'url': 'u', 'max_size': 1}, 'log': {'url': 'v', 'max_size': 1}}, score_keys=[])\n"
        "assert 'pydantic' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]\n"
        "print(report['state'], spec['step'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["succeeded", "score"]
