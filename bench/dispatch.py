"""B6, dispatch: from enqueue to the worker's claim.

Definitions (instants on the service's clock, in the database, or on the worker's, which is the
same host's clock):

* **enqueue** is the creation of the attempt row (``Attempt.created_at``): the moment the service
  decides a job exists, inside the transaction that finalizes the upload. Measuring from there,
  rather than from the broker publish (``DispatchOutbox.published_at``), covers the platform's
  whole dispatch path: the commit, the outbox, the dispatcher thread's publish, RabbitMQ, the
  worker's broker consumer and the claim request.
* **claim** is the worker's successful claim call: the moment ``ServiceClient.claim`` returns the
  job to the worker ("answered"). The instant the service grants it, its conditional UPDATE
  (``Attempt.started_at``, "granted"), is reported beside it, with the publish and the worker's
  delivery of the message, so the figure splits along the path.

Both measurements use *claim-only* workers: the real worker's broker consumer (``JobConsumer``:
one message at a time, acknowledged on receipt with no consumer left while a job runs) and the
real ``ServiceClient``, with a runner that claims the
attempt and reports it ended at once (a participant failure: no scores, no leaderboard work)
instead of running programs. Everything up
to the claim is the real worker's path (its runner's first act is the same claim call); only what
a worker does after the claim is left out.

* **sequential** (500; 50 with ``--quick``; bounded at 240 s): one worker; each submission goes
  through the real API (create, upload, finalize), and the next one is made only after the
  previous one is finished, so the worker is idle at every enqueue. The p50 of enqueue → claim
  is the figure the target (≤ 10 ms) names.
* **burst** (5,000; 500 with ``--quick``; bounded at 240 s, 60 s): the attempts are written in one
  transaction (as a phase migration or a mass re-run does), by the benchmark's own connection, so
  the service's dispatcher finds them on its timer (``dispatch_interval``), as it does any row
  another process wrote; two claim-only workers serve them, then six (so that the workers' own
  round trips do not bound it), and the service's CPU per job (its whole process tree) is
  reported. Running a program per job would make every enqueue → claim time a queueing delay behind earlier programs; without programs, what is
  measured is the platform's dispatch capacity (publish + deliver + claim + finish per job):
  claims per second from the first delivery to the last claim, and the p50 of enqueue → claim,
  which in a burst is the time to drain half of it (the timer's wait included).

    .venv/bin/python bench/run.py --only B6 [--quick]

This file is also the claim-only worker's entry point (``python bench/dispatch.py claim-worker``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host import CpuShares  # noqa: E402
from stack import QUEUE_TOKEN  # noqa: E402


def epoch(moment: datetime) -> float:
    """A naive-UTC database timestamp as seconds since the epoch."""
    return moment.replace(tzinfo=UTC).timestamp()


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --- the claim-only worker (runs in its own process) ------------------------------------------


class ClaimOnlyRunner:
    """Claims an attempt and, running nothing, reports it ended with a participant failure: the
    cheapest end of a job (no scores, no leaderboard rebuild), so that what the service spends per
    job is the dispatch path's own cost, not the leaderboard's, which grows with the phase."""

    def __init__(self, client, samples_path: str) -> None:
        self.client = client
        self.hostname = socket.gethostname()
        self.out = open(samples_path, "a", buffering=1)

    def run(self, attempt_id: int) -> dict[str, Any] | None:
        from podium.worker.errors import LeaseLost
        from podium.worker.protocol import attempt_report

        delivered = time.time()
        try:
            self.client.claim(attempt_id, self.hostname)
        except LeaseLost:
            return None
        claimed = time.time()
        report = attempt_report("failed", failure_kind="participant", reason="B6: a claim-only job",
                                retryable=False, elapsed=0.0)
        self.client.finish(attempt_id, report)
        self.out.write(json.dumps({"attempt": attempt_id, "worker": self.client.worker_name, "delivered": delivered,
                                   "claimed": claimed, "finished": time.time()}) + "\n")
        return report


def claim_worker_main(argv: list[str]) -> int:
    from podium.worker import app as worker_app
    from podium.worker.client import ServiceClient
    from podium.worker.consumer import JobConsumer

    p = argparse.ArgumentParser(prog="dispatch.py claim-worker")
    p.add_argument("--service-url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--samples", required=True)
    args = p.parse_args(argv)
    client = ServiceClient(args.service_url, args.token, args.name)
    config = client.config()
    runner = ClaimOnlyRunner(client, args.samples)
    stop = threading.Event()
    worker_app.stop_on_signals(stop)
    consumer = JobConsumer(config["broker_url"], config.get("broker_transport_options") or {}, config["celery_queue"],
                           lambda task: worker_app.run_task(runner, task, stop))  # type: ignore[arg-type]
    consumer.serve(stop)
    return 0


# --- the benchmark (runs in bench/run.py's process) ----------------------------------------------


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _wait_finished(factory, submission_id: int, limit: float) -> bool:
    import sqlalchemy as sa
    from podium.server.orm import Submission

    deadline = time.monotonic() + limit
    with factory() as session:
        while time.monotonic() < deadline:
            status = session.scalar(sa.select(Submission.status).where(Submission.id == submission_id))
            session.rollback()
            if status is not None and status.value in ("finished", "failed", "cancelled"):
                return True
            time.sleep(0.005)
    return False


def _attempt_times(factory, submission_ids: list[int] | None = None, attempt_ids: list[int] | None = None):
    """(attempt id, created, published, started) per claimed attempt, as epoch seconds."""
    import sqlalchemy as sa
    from podium.server.orm import Attempt, DispatchOutbox

    stmt = (sa.select(Attempt.id, Attempt.created_at, DispatchOutbox.published_at, Attempt.started_at)
            .join(DispatchOutbox, DispatchOutbox.attempt_id == Attempt.id))
    if submission_ids is not None:
        stmt = stmt.where(Attempt.submission_id.in_(submission_ids))
    if attempt_ids is not None:
        stmt = stmt.where(Attempt.id.in_(attempt_ids))
    with factory() as session:
        rows = session.execute(stmt).all()
    return [(a, epoch(c), epoch(p) if p else None, epoch(s) if s else None) for a, c, p, s in rows]


def _claim_workers(platform, count: int, samples_path: Path, tag: str) -> list:
    procs = [platform.spawn([sys.executable, __file__, "claim-worker", "--service-url", platform.url,
                             "--token", QUEUE_TOKEN, "--name", f"{tag}-{i}", "--samples", str(samples_path)],
                            None, f"{tag}-{i}.log") for i in range(count)]
    time.sleep(3)
    return procs


def _claim_samples(samples_path: Path, attempt_ids) -> dict[int, dict[str, float]]:
    wanted = set(attempt_ids)
    out = {}
    if samples_path.exists():
        for line in samples_path.read_text().splitlines():
            rec = json.loads(line)
            if rec["attempt"] in wanted:
                out[rec["attempt"]] = rec
    return out


def sequential(platform, organizer, participant, args, row: Callable, summary: Callable,
               write_result: Callable) -> None:
    from podium.server.db import make_engine, make_session_factory

    count = 50 if args.quick else 500
    budget = 45 if args.quick else 240
    comp = platform.competition(organizer)
    phase = comp["phases"][0]["id"]
    platform.call(participant, "POST", f"/competitions/{comp['id']}/register")
    engine = make_engine(platform.db_url)
    factory = make_session_factory(engine)
    samples_path = platform.workdir / "b6-sequential-claims.jsonl"
    procs = _claim_workers(platform, 1, samples_path, "b6-seq")
    ids: list[int] = []
    try:
        # warm-up jobs (connections, caches) that are not counted
        for i in range(5):
            warm = platform.submit(participant, phase, key=f"b6-seq-warm-{i}")
            if not _wait_finished(factory, warm, 60):
                raise RuntimeError("B6: the warm-up submission was not finished in 60 s")
        stop_at = time.monotonic() + budget
        for i in range(count):
            if time.monotonic() > stop_at:
                break
            sid = platform.submit(participant, phase, key=f"b6-seq-{i}")
            ids.append(sid)
            if not _wait_finished(factory, sid, 30):
                raise RuntimeError(f"B6: submission {sid} was not finished in 30 s")
    finally:
        for p in procs:
            platform.stop_process(p)
    rows = _attempt_times(factory, submission_ids=ids)
    engine.dispose()
    worker_side = _claim_samples(samples_path, [a for a, *_ in rows])
    answered = [worker_side[a]["claimed"] - c for a, c, _, s in rows if a in worker_side]
    granted = [s - c for _, c, _, s in rows if s]
    to_publish = [p - c for _, c, p, s in rows if s and p]
    to_delivery = [worker_side[a]["delivered"] - c for a, c, _, s in rows if a in worker_side]
    sa_, sg, sp, sd = summary(answered), summary(granted), summary(to_publish), summary(to_delivery)
    row("B6", f"dispatch, enqueue → claim answered at the worker, {sa_['n']} sequential, idle worker (p50)",
        _ms(sa_["p50"]), None, "ms", "p50 ≤ 10 ms", sa_["p50"] <= 0.010, p95_ms=_ms(sa_["p95"]),
        enqueue_to_publish_p50_ms=_ms(sp["p50"]), enqueue_to_delivery_p50_ms=_ms(sd["p50"]))
    row("B6", f"dispatch, enqueue → claim granted (its UPDATE), {sg['n']} sequential (p50)", _ms(sg["p50"]), None,
        "ms", "p50 ≤ 10 ms", sg["p50"] <= 0.010, p95_ms=_ms(sg["p95"]))
    write_result("B6-sequential", {
        "definition": "enqueue = Attempt.created_at (service clock, in the finalize transaction); "
                      "publish = DispatchOutbox.published_at (stamped after send_task returns); delivered = the "
                      "worker's task starts; granted = Attempt.started_at (the claim's conditional UPDATE); "
                      "answered = the worker's claim call returned (worker clock, same host)",
        "worker": "one claim-only worker (podium worker's broker consumer and ServiceClient), idle at every enqueue",
        "samples": [{"attempt": a, "created": c, "published": p, "granted": s, **worker_side.get(a, {})}
                    for a, c, p, s in rows],
        "enqueue_to_claim_answered": sa_, "enqueue_to_claim_granted": sg, "enqueue_to_publish": sp,
        "enqueue_to_delivery": sd})


def burst(platform, organizer, participant, args, row: Callable, summary: Callable, write_result: Callable,
          workers: int = 2) -> None:
    import sqlalchemy as sa
    from podium.server.db import make_engine, make_session_factory
    from podium.server.orm import Attempt, DispatchOutbox, Submission, SubmissionFile
    count = 500 if args.quick else 5000
    budget = 60 if args.quick else 240
    comp = platform.competition(organizer)
    phase = comp["phases"][0]["id"]
    platform.call(participant, "POST", f"/competitions/{comp['id']}/register")
    engine = make_engine(platform.db_url)
    factory = make_session_factory(engine)
    samples_path = platform.workdir / "b6-burst-claims.jsonl"
    procs = _claim_workers(platform, workers, samples_path, "b6-burst")
    try:
        # a real submission through the API: its upload is the object every burst job points at
        first = platform.submit(participant, phase, key="b6-burst-seed")
        if not _wait_finished(factory, first, 60):
            raise RuntimeError("B6: the claim-only workers did not take the seed submission in 60 s")
        with factory() as session:
            seed = session.get(Submission, first)
            artifact_id = next(f.artifact_id for f in seed.files if f.role == "submission")
            queue = session.scalar(sa.select(DispatchOutbox.queue).join(Attempt).where(Attempt.submission_id == first))
            now = utcnow()
            sids = session.execute(sa.insert(Submission).returning(Submission.id), [
                {"phase_id": phase, "owner": participant.username, "status": "submitted", "created_at": now,
                 "submitted_at": now, "size": seed.size, "sha256": seed.sha256, "counts_toward_quota": False,
                 "is_public": False, "selected": False, "description": f"b6 burst {i}", "log_tail": "",
                 "fact_sheet_answers": {}} for i in range(count)]).scalars().all()
            session.execute(sa.insert(SubmissionFile), [
                {"submission_id": sid, "artifact_id": artifact_id, "role": "submission"} for sid in sids])
            aids = session.execute(sa.insert(Attempt).returning(Attempt.id), [
                {"submission_id": sid, "step": "score", "number": 1, "state": "queued", "created_at": now}
                for sid in sids]).scalars().all()
            session.execute(sa.insert(DispatchOutbox), [
                {"attempt_id": aid, "queue": queue, "created_at": now, "publish_count": 0} for aid in aids])
            session.commit()
        enqueued = time.time()  # committed: from here on the jobs exist for the dispatcher's timer
        deadline = time.monotonic() + budget
        with CpuShares(platform.service.pid, lambda: [p.pid for p in procs]) as cpu, factory() as session:
            while time.monotonic() < deadline:
                left = session.scalar(sa.select(sa.func.count(Attempt.id)).where(
                    Attempt.id.in_(aids), Attempt.started_at.is_(None)))
                session.rollback()
                if not left:
                    break
                time.sleep(0.5)
        done_at = time.time()
    finally:
        for p in procs:
            platform.stop_process(p)
    rows = _attempt_times(factory, attempt_ids=aids)
    engine.dispose()
    claimed = sorted(s for _, _, _, s in rows if s)
    published = [p for _, _, p, _ in rows if p]
    waits = [s - enqueued for s in claimed]
    worker_side = _claim_samples(samples_path, aids).values()
    # capacity is counted from the first message a worker got (published_at is stamped after a
    # batch's sends, so the first stamp comes late by up to a batch)
    started = min((r["delivered"] for r in worker_side), default=enqueued)
    span = (claimed[-1] - started) if claimed else done_at - started
    per_second = len(claimed) / span if span > 0 else 0.0
    claim_calls = [r["claimed"] - r["delivered"] for r in worker_side]
    sw, sc = summary(waits), summary(claim_calls)
    publish_span = (max(published) - started) if published else None
    complete = len(claimed) == count
    per_job_ms = cpu.ms_per(len(claimed))
    cpu_per_job_ms = per_job_ms.get("service")
    row("B6", f"dispatch capacity, burst of {count:,} claim-only jobs, {workers} workers (claims/s)",
        round(per_second, 1), None, "claims/s", "≥ 300 claims/s", per_second >= 300, claimed=len(claimed),
        complete=complete, publish_span_s=round(publish_span, 2) if publish_span else None,
        claim_call_p50_ms=_ms(sc["p50"]) if sc["n"] else None, service_cpu_ms_per_job=cpu_per_job_ms)
    row("B6", f"service CPU per dispatched job (publish, claim, finish), burst, {workers} workers",
        cpu_per_job_ms, None, "ms", "–", None, per_job_ms=per_job_ms, cores=cpu.cores(),
        host_saturated=cpu.saturated(), host_cores=os.cpu_count())
    row("B6", f"claims/s this host allows with a service that costs nothing, {workers} workers (cores / the "
        "workers', PostgreSQL's and RabbitMQ's CPU per job)", cpu.ceiling_without_service(len(claimed)), None,
        "claims/s", "above 300 for the target to be reachable here", None)
    row("B6", f"service CPU per job this host leaves at 300 claims/s, {workers} workers",
        cpu.service_budget_ms(len(claimed), 300), None, "ms", "negative: out of reach on this host", None)
    row("B6", f"dispatch, burst of {count:,}: enqueue → claim, queueing included (p50)", _ms(sw["p50"]) if sw["n"] else None,
        None, "ms", "p50 ≤ 10 ms (idle worker)", None, p95_ms=_ms(sw["p95"]) if sw["n"] else None)
    write_result(f"B6-burst-{workers}", {
        "definition": "enqueue = commit of the burst's attempt rows (bench clock); claim = Attempt.started_at "
                      "(granted); claims/s over first delivery → last claim; claim-only workers: the worker's "
                      "broker consumer and ServiceClient, claim then finish as a participant failure, no program, "
                      "no scores",
        "count": count, "workers": workers, "claimed": len(claimed), "complete": complete,
        "service_cpu_s": cpu.seconds["service"], "cpu_s": cpu.seconds, "cpu_by_command_s": cpu.by_command,
        "claims_per_second": per_second, "span_s": span, "publish_span_s": publish_span,
        "first_delivery_wait_s": started - enqueued,
        "enqueue_to_claim": sw, "claim_call": sc,
        "samples": [{"attempt": a, "published": p, "claimed": s} for a, _, p, s in rows]})


def b6(platform, organizer, participant, args, row: Callable, summary: Callable, write_result: Callable) -> None:
    sequential(platform, organizer, participant, args, row, summary, write_result)
    # two workers, then enough that the workers' own round trips are not what bounds the burst
    for workers in (2, 6):
        burst(platform, organizer, participant, args, row, summary, write_result, workers=workers)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "claim-worker":
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        raise SystemExit(claim_worker_main(sys.argv[2:]))
    raise SystemExit("usage: python bench/dispatch.py claim-worker --service-url URL --token T --name N --samples F")
