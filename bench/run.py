"""Podium's benchmarks: each figure beside the floor of what it wraps, measured in the same run.

    .venv/bin/python bench/run.py [--only B1,B2] [--quick] [--profile] [--rebuild-in-child-above N]
                                  [--service-option NAME=VALUE ...]

Writes raw samples and a summary per benchmark to ``bench/results/<id>.json`` and prints a table.
Everything talks to 127.0.0.1 only; every loop is bounded in count and time. ``--quick`` shortens
the load phases (for a smoke run) and keeps B8 at 100,000 rows (the full run adds 1,000,000);
``--profile`` samples the service with py-spy during each benchmark (``bench/sampling.py``).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loop  # noqa: E402
import sampling  # noqa: E402
from podium.server.db import make_engine, make_session_factory  # noqa: E402
from podium.server.leaderboards import store as leaderboard_store
from podium.server.orm import (  # noqa: E402
    Phase,
    Submission,
    SubmissionStatus,
)
from sampling import profiled  # noqa: E402
from stack import CONSTANT_SCORER, Platform, pss_kb, scratch, summary, write_result  # noqa: E402

ROWS: list[dict[str, Any]] = []


def row(bench_id: str, what: str, value: float | None, floor: float | None, unit: str, target: str, met: bool | None,
        **extra: Any) -> None:
    ratio = (value / floor) if value is not None and floor else None
    ROWS.append({"id": bench_id, "what": what, "value": value, "floor": floor, "ratio": ratio, "unit": unit,
                 "target": target, "met": met, **extra})


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# --- helpers ---------------------------------------------------------------------------------


def wrk(url: str, connections: int, seconds: int, headers: dict[str, str] | None = None,
        script: str | None = None, env: dict[str, str] | None = None) -> dict[str, float]:
    """Closed-loop load from a second process (wrk): requests/s and latency percentiles in ms;
    ``script`` is a wrk Lua script (in bench/) that writes each request, reading ``env``."""
    argv = ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{seconds}s", "--latency",
            "--timeout", "5s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(Path(__file__).resolve().parent / script)]
    out = subprocess.run([*argv, url], capture_output=True, text=True, timeout=seconds + 30,
                         env={**os.environ, **(env or {})}).stdout

    def unit(value: str, suffix: str) -> float:
        factor = {"us": 0.001, "ms": 1.0, "s": 1000.0}[suffix]
        return float(value) * factor

    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for p in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        result[f"p{p}"] = unit(m.group(1), m.group(2)) if m else None
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result["non_2xx"] = int(errors.group(1)) if errors else 0
    result["raw"] = out
    return result


def seed_phase(platform: Platform, phase_id: int, submissions: int, participants: int, start_id: int = 0) -> None:
    """Finished submissions with scores, inserted in SQL (bench/history.py), then the leaderboard rebuilt."""
    import history

    history.seed_rows(platform.db_url, phase_id, submissions, participants, tag=str(start_id))
    engine = make_engine(platform.db_url)
    with make_session_factory(engine)() as session:
        leaderboard_store.rebuild(session, session.get(Phase, phase_id))
        session.commit()
    engine.dispose()


# --- the benchmarks ---------------------------------------------------------------------------


def b1(platform: Platform, organizer, participant, args) -> None:
    """Round trip from the create request to the score on the leaderboard, against a bare docker run."""
    count = 10 if args.quick else 30
    for executor in ("docker", "local"):
        comp = platform.competition(organizer)
        phase = comp["phases"][0]["id"]
        platform.call(participant, "POST", f"/competitions/{comp['id']}/register")
        worker = platform.start_worker(executor)
        samples = []
        for i in range(count + 1):  # the first run warms caches and is not counted
            t0 = time.perf_counter()
            sid = platform.submit(participant, phase, key=f"b1-{executor}-{i}")
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                board = platform.call(participant, "GET", f"/phases/{phase}/leaderboard", params={"limit": 5})
                if any(e["submission"] == sid for e in board["entries"]):
                    break
                time.sleep(0.005)
            else:
                raise RuntimeError(f"B1: submission {sid} never reached the leaderboard")
            if i:
                samples.append(time.perf_counter() - t0)
        platform.stop_process(worker)
        floor = docker_floor(count) if executor == "docker" else None
        s = summary(samples)
        if executor == "docker":
            row("B1", "round trip, Docker (p50)", ms(s["p50"]), ms(floor["p50"]), "ms", "≤ 2× floor",
                s["p50"] <= 2 * floor["p50"])
        else:
            row("B1", "round trip, local executor (p50)", ms(s["p50"]), None, "ms", "≤ 150 ms", s["p50"] <= 0.150)
        write_result(f"B1-{executor}", {"samples_s": samples, "summary": s, "floor": floor})


def docker_floor(count: int) -> dict[str, float]:
    """The same scoring program on the same image, with a bare docker run."""
    from podium.worker.images import resolve_image

    workdir = scratch()
    program = workdir / "program"
    program.mkdir()
    (workdir / "out").mkdir(mode=0o777)
    import io
    import zipfile

    zipfile.ZipFile(io.BytesIO(CONSTANT_SCORER)).extractall(program)
    image = resolve_image("codalab/codalab-legacy:py37")
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        subprocess.run(["docker", "run", "--rm", "--network", "none", "-v", f"{program}:/app/program:ro",
                        "-v", f"{workdir / 'out'}:/app/output", image, "python", "/app/program/score.py",
                        "/app/input", "/app/output"], check=True, capture_output=True)
        samples.append(time.perf_counter() - t0)
    shutil.rmtree(workdir, ignore_errors=True)
    return summary(samples)


def b2_b3(platform: Platform, organizer, participant, args, rows_count: int = 10_000, participants: int = 1_000,
          bench_id: str = "B2") -> None:
    comp = platform.competition(organizer)
    phase = comp["phases"][0]["id"]
    seed_phase(platform, phase, rows_count, participants)
    token = participant.headers["Authorization"]
    url = f"{platform.api}/phases/{phase}/leaderboard?limit=100"
    seconds = 5 if args.quick else 15
    requests.get(url, headers={"Authorization": token}, timeout=10).raise_for_status()
    for clients in (1, 10, 50):
        with loop.Measured(platform) as read:
            result = wrk(url, clients, seconds, {"Authorization": token})
        with loop.Measured(platform) as plain:
            floor = wrk(f"{platform.api}/", clients, seconds)
        met = None
        if clients == 50:
            met = (result["p99"] or 1e9) <= 100 and result["rps"] >= 0.7 * floor["rps"] and result["non_2xx"] == 0
        # where wrk and the service share 2 cores, the service's CPU per request is the figure
        # that does not depend on the generator
        cpu = {"cpu_ms_per_request": read.cpu_ms_per_request(result, seconds),
               "floor_cpu_ms_per_request": plain.cpu_ms_per_request(floor, seconds)}
        row(bench_id, f"leaderboard top 100 of {rows_count:,} rows, {clients} clients (req/s)", result["rps"],
            floor["rps"], "req/s", "≥ 0.7 of the floor and p99 ≤ 100 ms at 50", met, p50_ms=result["p50"],
            p99_ms=result["p99"], floor_p99_ms=floor["p99"], errors=result["non_2xx"], **cpu)
        if clients == 50 and bench_id == "B2":
            row("B2", "event-loop lag p99 under the leaderboard load at 50 clients", read.lag_p99_ms, None, "ms",
                "≤ 20 ms", read.lag_p99_ms is not None and read.lag_p99_ms <= 20, samples=read.lag_samples)
        write_result(f"{bench_id}-{clients}", {"leaderboard": result, "floor": floor, "lag_p99_ms": read.lag_p99_ms,
                                               **cpu})
    if bench_id != "B2":
        return
    # B3: freshness, a score committed → visible in the leaderboard answer
    engine = make_engine(platform.db_url)
    factory = make_session_factory(engine)
    samples = []
    with factory() as session:
        for i in range(10 if args.quick else 40):
            sub = Submission(phase_id=phase, owner=f"fresh-{i}", status=SubmissionStatus.submitted,
                             created_at=datetime(2020, 1, 1))
            session.add(sub)
            session.flush()
            from podium.server.submissions import lifecycle as subs

            subs.finish(session, sub, {"accuracy": 2.0 + i})  # the top score: it lands in the top 100
            session.commit()
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 10:
                board = requests.get(url, headers={"Authorization": token}, timeout=10).json()
                if board["entries"][0]["submission"] == sub.id:
                    break
            samples.append(time.perf_counter() - t0)
    engine.dispose()
    s = summary(samples)
    row("B3", "freshness, score commit → leaderboard (p95)", ms(s["p95"]), None, "ms", "≤ 100 ms",
        s["p95"] <= 0.100)
    write_result("B3", {"samples_s": samples, "summary": s})


def sink_competition(platform: Platform, organizer, name: str) -> dict:
    """A competition on a queue of its own that no worker serves: its submissions stay queued,
    so they do not delay the later benchmarks. The queue is an admin's, shared with the
    organizers' group (issue 16)."""
    admin = platform.user(f"bench-{name}-admin", admin=True)
    queue = f"{name}-sink-{random.randrange(10**6)}"
    platform.call(admin, "POST", "/queues", json={"name": queue})
    platform.call(admin, "PUT", f"/queues/{queue}/shares/groups/creators")
    comp = platform.competition(organizer)
    platform.call(organizer, "PATCH", f"/competitions/{comp['id']}", json={"queue": queue})
    return comp


def b4(platform: Platform, organizer, args) -> None:
    """create + upload + finalize under 50 concurrent users (on a queue no worker serves, so the
    thousands of submissions it makes do not delay the later benchmarks).

    Each user is a closed loop with no think time, so by Little's law p50 ≈ 50 / the service's
    submission rate. The generator shares the 2 cores: its own CPU (and the service's) is
    measured and reported beside the figure. The floor is the same 50 threads making as many
    round trips (three) to the plain JSON handler: what the generator and Tornado's HTTP stack
    allow on this machine before any work is done. Each user keeps its connections alive (one
    session for the API, one without the hub token for the signed storage PUTs)."""
    import hashlib

    from host import CpuShares
    from stack import RESULT

    comp = sink_competition(platform, organizer, "b4")
    phase = comp["phases"][0]["id"]
    users = [platform.user(f"b4-{i}-{random.randrange(10**6)}") for i in range(50)]
    for u in users:
        platform.call(u, "POST", f"/competitions/{comp['id']}/register")
    duration = 20 if args.quick else 120
    announce = {"size": len(RESULT), "sha256": hashlib.sha256(RESULT).hexdigest()}
    lock = threading.Lock()

    steps: dict[str, list[float]] = {"create": [], "upload": [], "finalize": []}

    def submit(u, storage: requests.Session, n: str) -> None:
        t0 = time.perf_counter()
        created = platform.call(u, "POST", f"/phases/{phase}/submissions",
                                headers={"Idempotency-Key": f"{u.username}-{n}"}, json=announce)
        t1 = time.perf_counter()
        storage.put(created["upload_url"], data=RESULT, timeout=60).raise_for_status()
        t2 = time.perf_counter()
        platform.call(u, "POST", f"/submissions/{created['id']}/uploaded")
        t3 = time.perf_counter()
        with lock:
            for step, seconds in (("create", t1 - t0), ("upload", t2 - t1), ("finalize", t3 - t2)):
                steps[step].append(seconds)

    def floor_calls(u, storage: requests.Session, n: str) -> None:
        for _ in range(3):  # as many round trips, to the plain JSON handler
            platform.call(u, "GET", "/")

    def closed_loop(action, seconds: float) -> tuple[list[float], list[str], float, CpuShares]:
        """50 users doing ``action`` back to back for ``seconds``: samples, errors, wall seconds,
        and where the host's CPU went meanwhile."""
        samples: list[float] = []
        errors: list[str] = []
        stop_at = time.monotonic() + seconds

        def loop(u) -> None:
            storage, n = requests.Session(), 0
            while time.monotonic() < stop_at and n < 10_000:
                n += 1
                t0 = time.perf_counter()
                try:
                    action(u, storage, str(n))
                    with lock:
                        samples.append(time.perf_counter() - t0)
                except Exception as e:  # counted, not hidden
                    with lock:
                        errors.append(str(e)[:200])

        with CpuShares(platform.service.pid) as cpu, ThreadPoolExecutor(max_workers=50) as pool:
            list(pool.map(loop, users))
        return samples, errors, cpu.wall, cpu

    # the floor first: the same 50 generator threads and as many round trips to a handler that
    # does nothing, i.e. what this machine's generator and HTTP stack allow at all
    floor_samples, floor_errors, floor_wall, floor_cpu = closed_loop(floor_calls, duration / 4)
    samples, errors, wall, cpu = closed_loop(submit, duration)
    saturated_steps = {step: list(seconds) for step, seconds in steps.items()}

    # the same 50 users, each submitting once every PACE seconds: the latency of one submission
    # when the service is not saturated (the closed loop above measures its saturation)
    pace, paced, paced_errors = 5.0, [], []
    paced_until = time.monotonic() + (10 if args.quick else 60)

    def paced_loop(u, offset: float) -> None:
        storage = requests.Session()
        n, due = 0, time.monotonic() + offset
        while due < paced_until:
            time.sleep(max(0.0, due - time.monotonic()))
            n, due = n + 1, due + pace
            t0 = time.perf_counter()
            try:
                submit(u, storage, f"paced-{n}")
                with lock:
                    paced.append(time.perf_counter() - t0)
            except Exception as e:
                with lock:
                    paced_errors.append(str(e)[:200])

    with ThreadPoolExecutor(max_workers=50) as pool:
        list(pool.map(paced_loop, users, [i * pace / len(users) for i in range(len(users))]))
    p = summary(paced)
    s = summary(samples)
    f = summary(floor_samples)
    rate, floor_rate = len(samples) / wall, len(floor_samples) / floor_wall
    row("B4", "submit (create + upload + finalize), 50 users back to back (submits/s)", round(rate, 1),
        round(floor_rate, 1), "submits/s", "≥ 0.5 of the floor, no errors", rate >= 0.5 * floor_rate and not errors,
        submissions=len(samples), errors=len(errors), p50_ms=ms(s["p50"]), p99_ms=ms(s["p99"]),
        step_p50_ms={step: ms(summary(v)["p50"]) for step, v in saturated_steps.items() if v},
        floor_is="3 GET /api/v1/ per submit, same 50 threads", floor_p99_ms=ms(f["p99"]),
        floor_errors=len(floor_errors), cores=cpu.cores(), floor_cores=floor_cpu.cores(),
        host_saturated=cpu.saturated(), busiest_commands_s=cpu.by_command)
    # where each submit's CPU went: with every core busy, the rate is the host's, and the
    # service's own CPU per submit is the figure that moves with the service (the fallback)
    per_submit = cpu.ms_per(len(samples))
    row("B4", "CPU per submit: the service's process tree (others in the extra fields)", per_submit.get("service"),
        None, "ms", "–", None, per_submit_ms=per_submit, floor_per_call_ms=floor_cpu.ms_per(3 * len(floor_samples)),
        host_busy_cores=cpu.cores()["host"], host_cores=os.cpu_count())
    # the floor's own limit: the generator (50 threads of one Python process) near one core means
    # the floor measures the generator, not the service
    row("B4", "the floor's generator: cores its one Python process used (1.0 is its limit)", floor_cpu.cores()["generator"],
        None, "cores", "–", None, floor_per_second=round(floor_rate, 1))
    row("B4", "submits/s this host allows with a service that costs nothing (cores / the other parts' CPU per submit)",
        cpu.ceiling_without_service(len(samples)), round(floor_rate, 1), "submits/s", "above 0.5 of the floor for the "
        "target to be reachable here", None)
    row("B4", "service CPU per submit this host leaves at the target's rate (0.5 of the floor)",
        cpu.service_budget_ms(len(samples), 0.5 * floor_rate), per_submit.get("service"), "ms", "–", None)
    row("B4", f"submit, 50 users each once every {pace:.0f} s (p99)", ms(p["p99"]) if paced else None, None, "ms",
        "≤ 100 ms", (p["p99"] <= 0.100 and not paced_errors) if paced else None,
        p50_ms=ms(p["p50"]) if paced else None, submissions=len(paced), errors=len(paced_errors))
    write_result("B4", {"samples_s": samples, "summary": s, "errors": errors[:50], "wall_s": wall,
                        "floor": {"samples_s": floor_samples, "summary": f, "errors": floor_errors[:50],
                                  "wall_s": floor_wall, "cpu_s": floor_cpu.seconds},
                        "cpu_s": cpu.seconds, "cpu_by_command_s": cpu.by_command,
                        "paced": {"pace_s": pace, "samples_s": paced, "summary": p, "errors": paced_errors[:50]}})


def b5_b6(platform: Platform, organizer, participant, args, chosen: set[str]) -> None:
    """B5 (bench/throughput.py) and B6 (bench/dispatch.py)."""
    import dispatch
    import throughput

    if "B5" in chosen:
        throughput.b5(platform, organizer, participant, args, row, summary, write_result, docker_floor)
    if "B6" in chosen:
        dispatch.b6(platform, organizer, participant, args, row, summary, write_result)


def b7(platform: Platform, organizer, participant) -> None:
    """PSS after 1,000 requests of the kinds a service answers most, 200 rounds of five: a
    submission's create, upload and finalize (on a queue no worker serves), its leaderboard and
    the participant's "my submissions" first page. Memory a process holds after real work
    (its modules in use, its caches, its collector's passes), not after a plain handler alone."""
    comp = sink_competition(platform, organizer, "b7")
    phase = comp["phases"][0]["id"]
    platform.call(participant, "POST", f"/competitions/{comp['id']}/register")
    for _ in range(200):
        platform.submit(participant, phase)
        platform.call(participant, "GET", f"/phases/{phase}/leaderboard?limit=100")
        platform.call(participant, "GET", "/me/submissions?limit=50")
    # `podium service --processes N` forks N serving processes under a supervisor: the figure is
    # the whole tree's PSS per serving process (the supervisor's share charged to them)
    serving = max(1, len(Path(f"/proc/{platform.service.pid}/task/{platform.service.pid}/children").read_text().split()))
    service_kb = pss_kb(platform.service.pid) // serving
    worker = platform.start_worker("docker")
    time.sleep(3)
    worker_kb = pss_kb(worker.pid)
    platform.stop_process(worker)
    row("B7", f"service PSS per process after 1,000 requests ({serving} processes)", round(service_kb / 1024, 1),
        None, "MB", "≤ 100 MB", service_kb <= 100 * 1024)
    row("B7", "idle worker PSS (all its processes)", round(worker_kb / 1024, 1), None, "MB", "≤ 100 MB",
        worker_kb <= 100 * 1024)
    write_result("B7", {"service_pss_kb": service_kb, "service_processes": serving, "worker_pss_kb": worker_kb})


def b8(platform: Platform, organizer, participant, args) -> None:
    """B8, history scale (bench/history.py): B2 and the list endpoints at 100,000 and 1,000,000 rows."""
    import history

    history.b8(platform, organizer, participant, args, row, wrk, write_result)


def print_table() -> None:
    print(f"\n{'id':<4} {'what':<68} {'value':>10} {'floor':>10} {'ratio':>7} {'unit':<6} met")
    for r in ROWS:
        value = "-" if r["value"] is None else f"{r['value']:.1f}"
        floor = "-" if r["floor"] is None else f"{r['floor']:.1f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        print(f"{r['id']:<4} {r['what'][:68]:<68} {value:>10} {floor:>10} {ratio:>7} {r['unit']:<6} {met}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="B1,B2,B4,B5,B6,B7,B8,B9", help="Comma-separated ids (B3 runs with B2; B5 and B6 are separate).")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="Sample the service with py-spy during each benchmark (bench/results/profile-*.txt).")
    parser.add_argument("--rebuild-in-child-above", type=int, default=None, metavar="N",
                        help="The service's rebuild_in_child_process_above (its default when not given): "
                        "0 ranks B9's rebuild in the service's thread, as before issue 18's child process.")
    parser.add_argument("--service-option", action="append", default=[], metavar="NAME=VALUE",
                        help="A PodiumService setting for the measured service (repeatable), e.g. "
                        "database_threads=4, to compare settings on the same host.")
    args = parser.parse_args()
    sampling.ENABLED["on"] = args.profile
    chosen = set(args.only.split(","))
    service_args = tuple(f"--PodiumService.{option}" for option in args.service_option) + (() if (
        args.rebuild_in_child_above is None) else (
        f"--PodiumService.rebuild_in_child_process_above={args.rebuild_in_child_above}",))
    platform = Platform(scratch(), extra_args=service_args).start()
    started = time.time()
    try:
        organizer = platform.user("bench-organizer", groups=("creators",))
        participant = platform.user("bench-participant")
        service = platform.service.pid
        if "B1" in chosen:
            with profiled(service, "B1"):
                b1(platform, organizer, participant, args)
        if "B2" in chosen or "B3" in chosen:
            with profiled(service, "B2"):
                b2_b3(platform, organizer, participant, args)
        if "B4" in chosen:
            with profiled(service, "B4"):
                b4(platform, organizer, args)
        if "B5" in chosen or "B6" in chosen:
            with profiled(service, "B5-B6"):
                b5_b6(platform, organizer, participant, args, chosen)
        if "B7" in chosen:
            b7(platform, organizer, participant)  # never profiled: py-spy would be part of what it measures
        if "B8" in chosen:
            with profiled(service, "B8"):
                b8(platform, organizer, participant, args)
        if "B9" in chosen:
            with profiled(service, "B9"):
                loop.b9(platform, organizer, participant, args, row, wrk, write_result, seed_phase)
    finally:
        platform.stop()
    print_table()
    import platform as host

    write_result("summary", {"date": datetime.now().isoformat(timespec="seconds"), "machine": host.node(),
                             "cpus": __import__("os").cpu_count(), "seconds": round(time.time() - started),
                             "quick": args.quick, "rows": ROWS})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


