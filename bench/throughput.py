"""B5, sustained throughput: scored submissions per minute with 1 and 2 Docker workers and a
trivial scoring program, against the bare ``docker run`` rate measured in the same run.

* **floor**: ``60 / p50`` of a bare ``docker run`` of the same scoring program on the same image
  (one container at a time), measured at the start of B5.
* **load**: open-loop arrivals through the real API (create, upload, finalize), at a rate stepped
  up in fractions of the floor rate (``STEPS``), each step bounded in time (60 s; 10 s with
  ``--quick``), until the queue grows: the backlog (submitted, not yet finished) at the end of a
  step exceeds the one at its start by more than ``max(3, 10% of the step's arrivals)``. Arrivals
  are scheduled on a clock and sent from a thread pool, so a slow answer does not slow arrivals.
* **figure**: the highest scored/min completed during a step: the rate the platform was seen to
  sustain, either keeping up with the arrivals or, in the step where the queue grew, with its
  workers saturated (that step's rate can be the lower one on 2 cores, where the arrivals' own
  API calls compete with the workers). The highest arrival rate it kept up with and the rate at
  which the queue grew are recorded beside it. When no step saturates, the row says so: the
  figure is then a lower bound.
* **checks**: after the load stops the queue must drain within a bounded wait; then every
  submission of the run must be finished with exactly one Score row per column and exactly one
  succeeded scoring attempt (nothing lost, nothing scored twice).

* **hold**: when the queue grew before the load budget was spent, the backlog is let drain
  (bounded, not counted as load) and the rest of the budget is spent at the highest rate that was
  kept up: its scored/min and backlog say whether that rate is sustained over minutes.

Full run: 300 s of load per worker count (steps of 60 s, then the hold), as the issue says;
``--quick``: 30 s per worker count (steps of 10 s), about a minute of load in all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

STEPS = (0.4, 0.6, 0.8, 1.0, 1.25)  # fractions of the floor rate, per worker count
QUICK_STEPS = (0.5, 0.8, 1.1)
TERMINAL = ("finished", "failed", "cancelled")


def _counts(factory, ids: list[int]) -> tuple[int, int]:
    """(terminal, finished) among ``ids``."""
    import sqlalchemy as sa
    from podium.server.orm import Submission

    if not ids:
        return 0, 0
    with factory() as session:
        rows = session.execute(sa.select(Submission.status, sa.func.count()).where(Submission.id.in_(ids))
                               .group_by(Submission.status)).all()
    by = {status.value: n for status, n in rows}
    return sum(by.get(s, 0) for s in TERMINAL), by.get("finished", 0)


def _integrity(factory, ids: list[int], columns: int = 1) -> dict[str, Any]:
    """Lost (not finished) and scored-twice submissions among ``ids``."""
    import sqlalchemy as sa
    from podium.server.orm import Attempt, AttemptState, AttemptStep, Score, Submission

    with factory() as session:
        status = dict(session.execute(sa.select(Submission.id, Submission.status).where(Submission.id.in_(ids))).all())
        scores = dict(session.execute(sa.select(Score.submission_id, sa.func.count()).where(
            Score.submission_id.in_(ids)).group_by(Score.submission_id)).all())
        succeeded = dict(session.execute(sa.select(Attempt.submission_id, sa.func.count()).where(
            Attempt.submission_id.in_(ids), Attempt.step == AttemptStep.score,
            Attempt.state == AttemptState.succeeded).group_by(Attempt.submission_id)).all())
        attempts = dict(session.execute(sa.select(Attempt.submission_id, sa.func.count()).where(
            Attempt.submission_id.in_(ids)).group_by(Attempt.submission_id)).all())
    lost = [i for i in ids if status.get(i) is None or status[i].value != "finished" or scores.get(i, 0) == 0]
    twice = [i for i in ids if scores.get(i, 0) > columns or succeeded.get(i, 0) > 1]
    failed = [i for i in ids if status.get(i) is not None and status[i].value == "failed"]
    retried = [i for i in ids if attempts.get(i, 0) > 1]
    return {"submitted": len(ids), "lost": lost, "scored_twice": twice, "failed": failed, "retried": retried}


def run_steps(platform, participant, phase: int, factory, floor_rate: float, steps: tuple[float, ...],
              step_seconds: float, budget: float, tag: str) -> tuple[list[dict[str, Any]], list[int]]:
    """Open-loop arrivals, one step per rate, until the backlog grows; then, once the backlog has
    drained (a bounded wait, not counted as load), a hold at the highest rate that was kept up
    for what is left of ``budget`` seconds of load. Returns the steps and the submission ids."""
    ids: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    results: list[dict[str, Any]] = []

    def submit(key: str) -> None:
        try:
            sid = platform.submit(participant, phase, key=key)
            with lock:
                ids.append(sid)
        except Exception as e:  # counted, not hidden
            with lock:
                errors.append(str(e)[:200])

    def backlog() -> int:
        with lock:
            now_ids = list(ids)
        return len(now_ids) - _counts(factory, now_ids)[0]

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="b5-arrivals") as pool:
        n = 0

        def step(fraction: float, seconds: float, hold: bool = False) -> dict[str, Any]:
            nonlocal n
            rate = fraction * floor_rate  # per minute
            interval = 60.0 / rate
            with lock:
                before_ids = list(ids)
            done_before, finished_before = _counts(factory, before_ids)
            backlog_before = len(before_ids) - done_before
            start = time.monotonic()
            sent = 0
            while True:
                due = start + sent * interval
                if due >= start + seconds:
                    break
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(submit, f"b5-{tag}-{n}")
                n += 1
                sent += 1
            # the step ends at its time bound; arrivals still in flight belong to it
            time.sleep(max(0.0, start + seconds - time.monotonic()))
            elapsed = time.monotonic() - start
            with lock:
                now_ids = list(ids)
            done_after, finished_after = _counts(factory, now_ids)
            backlog_after = len(now_ids) - done_after
            arrived = len(now_ids) - len(before_ids)
            grew = backlog_after - backlog_before > max(3, 0.1 * arrived)
            return {"fraction": fraction, "offered_per_min": rate, "hold": hold, "sent": sent, "arrived": arrived,
                    "completed": done_after - done_before,
                    "scored_per_min": (finished_after - finished_before) / elapsed * 60,
                    "backlog_before": backlog_before, "backlog_after": backlog_after, "grew": grew,
                    "seconds": elapsed}

        used = 0.0
        for fraction in steps:
            if used + step_seconds > budget + 1:
                break
            results.append(step(fraction, step_seconds))
            used += step_seconds
            if results[-1]["grew"]:
                break
        kept = [r["fraction"] for r in results if not r["grew"]]
        if results and results[-1]["grew"] and kept and budget - used >= step_seconds / 2:
            waited = time.monotonic()
            while backlog() > 0 and time.monotonic() - waited < 120:
                time.sleep(0.2)
            waited = time.monotonic() - waited
            results.append({**step(max(kept), budget - used, hold=True), "drained_before_s": waited})
    if errors:
        results.append({"errors": errors[:50], "error_count": len(errors)})
    return results, ids


def b5(platform, organizer, participant, args, row: Callable, summary: Callable, write_result: Callable,
       docker_floor: Callable) -> None:
    from podium.server.db import make_engine, make_session_factory

    steps = QUICK_STEPS if args.quick else STEPS
    step_seconds = 10.0 if args.quick else 60.0
    budget = 30.0 if args.quick else 300.0  # seconds of load per worker count
    floor = docker_floor(8 if args.quick else 20)
    floor_rate = 60.0 / floor["p50"]
    engine = make_engine(platform.db_url)
    factory = make_session_factory(engine)
    try:
        for workers in (1, 2):
            comp = platform.competition(organizer)
            phase = comp["phases"][0]["id"]
            platform.call(participant, "POST", f"/competitions/{comp['id']}/register")
            procs = [platform.start_worker("docker") for _ in range(workers)]
            try:
                # warm-up (image, dataset cache, connections): one job per worker, not counted
                warm = [platform.submit(participant, phase, key=f"b5-{workers}-warm-{i}") for i in range(workers)]
                deadline = time.monotonic() + 120
                while _counts(factory, warm)[0] < len(warm) and time.monotonic() < deadline:
                    time.sleep(0.2)
                load_start = time.monotonic()
                results, ids = run_steps(platform, participant, phase, factory, floor_rate, steps, step_seconds,
                                         budget, f"{workers}")
                load_seconds = time.monotonic() - load_start
                # the queue drains when the load stops: a bounded wait
                stepped = [r for r in results if "fraction" in r]
                backlog = len(ids) - _counts(factory, ids)[0]
                slowest = min((r["scored_per_min"] for r in stepped if r["scored_per_min"] > 0), default=10.0)
                drain_limit = min(600.0, 30.0 + 2 * backlog / slowest * 60)
                drain_start = time.monotonic()
                while _counts(factory, ids)[0] < len(ids) and time.monotonic() - drain_start < drain_limit:
                    time.sleep(0.2)
                drain_seconds = time.monotonic() - drain_start
                drained = _counts(factory, ids)[0] == len(ids)
            finally:
                for p in procs:
                    platform.stop_process(p)
            check = _integrity(factory, ids)
            ladder = [r for r in stepped if not r["hold"]]
            held = [r for r in stepped if r["hold"]]
            saturated = bool(ladder and ladder[-1]["grew"])
            figure = max((r["scored_per_min"] for r in stepped), default=0.0)
            grew_at = ladder[-1]["offered_per_min"] if saturated else None
            kept_up = max((r["offered_per_min"] for r in ladder if not r["grew"]), default=None)
            clean = not check["lost"] and not check["scored_twice"] and drained
            met = figure >= 0.7 * floor_rate and clean
            what = (f"scored submissions/min sustained, {workers} Docker worker(s), "
                    + (f"queue grew at {grew_at:.0f}/min offered" if saturated else "never saturated: lower bound"))
            row("B5", what, round(figure, 1), round(floor_rate, 1), "per min",
                "≥ 70% of bare docker run rate; none lost or scored twice; drains", met,
                kept_up_per_min=round(kept_up, 1) if kept_up else None, grew_at_per_min=grew_at, submitted=len(ids),
                lost=len(check["lost"]), scored_twice=len(check["scored_twice"]), drained=drained,
                drain_s=round(drain_seconds, 1), steps=len(ladder),
                hold_per_min=round(held[0]["scored_per_min"], 1) if held else None)
            write_result(f"B5-{workers}", {"workers": workers, "floor": floor, "floor_rate_per_min": floor_rate,
                                           "steps": results, "load_seconds": load_seconds, "saturated": saturated,
                                           "scored_per_min": figure, "kept_up_per_min": kept_up, "grew_at_per_min": grew_at,
                                           "drained": drained, "drain_seconds": drain_seconds,
                                           "backlog_at_stop": backlog, "integrity": check})
    finally:
        engine.dispose()
