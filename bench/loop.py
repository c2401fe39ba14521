"""The event loop under load: its lag (the service's own probe, read from ``/metrics``), the
service's CPU per request, and B9, leaderboard reads while the same service rebuilds a
1,000,000-row leaderboard in its database pool.

The lag probe is ``podium_event_loop_lagged_seconds`` (a timer every 0.1 s recording how late it
ran); a p99 is read from the histogram's buckets between two scrapes, so it is the upper bound of
the bucket it falls in. B9's floor is the same reads, same clients, same phase, without the rebuild.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

METRICS_TOKEN = "bench-metrics"
_BUCKET = re.compile(r'^podium_event_loop_lagged_seconds_bucket\{le="([^"]+)"\} ([\d.e+]+)$', re.M)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of process ``pid`` and of its running children, which
    ``--processes N`` serves from (a running child's time is not in its parent's until it exits)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except FileNotFoundError:  # it ended meanwhile: its time is in its parent's now
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in children)


def lag_buckets(platform: Any) -> dict[float, float]:
    """The loop-lag histogram's cumulative buckets, from one scrape of the service's metrics."""
    text = requests.get(platform.url + "metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                        timeout=30).text
    return {float(le): float(n) for le, n in _BUCKET.findall(text)}


def lag_p99_ms(before: dict[float, float], after: dict[float, float]) -> tuple[float | None, int]:
    """The p99 of the lag observed between two scrapes (a bucket's upper bound, ms) and how many
    observations it rests on."""
    total = after.get(float("inf"), 0) - before.get(float("inf"), 0)
    if total <= 0:
        return None, 0
    for le in sorted(after):
        if after[le] - before.get(le, 0) >= 0.99 * total:
            return le * 1000, int(total)
    return None, int(total)


class Measured:
    """Around a load phase: the loop lag and the service's CPU seconds it used."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform

    def __enter__(self) -> Measured:
        self.lag_before = lag_buckets(self.platform)
        self.cpu_before = cpu_seconds(self.platform.service.pid)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cpu = cpu_seconds(self.platform.service.pid) - self.cpu_before
        self.lag_p99_ms, self.lag_samples = lag_p99_ms(self.lag_before, lag_buckets(self.platform))

    def cpu_ms_per_request(self, result: dict[str, Any], seconds: float) -> float | None:
        requests_made = result["rps"] * seconds
        return round(1000 * self.cpu / requests_made, 3) if requests_made else None


def ranked_where(platform: Any, wait: float = 10.0) -> str:
    """Where the service ranks the rebuild under way: "child process" when the child's database
    connection shows in ``pg_stat_activity`` within ``wait`` seconds (it starts on first use),
    else "database thread"."""
    import sqlalchemy as sa
    from podium.server.leaderboards.ranking_process import APPLICATION_NAME

    engine = sa.create_engine(platform.db_url, isolation_level="AUTOCOMMIT")
    try:
        deadline = time.monotonic() + wait
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                if conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE :name"),
                                {"name": APPLICATION_NAME + "%"}).scalar():
                    return "child process"
                time.sleep(0.2)
    finally:
        engine.dispose()
    return "database thread"


def b9(platform: Any, organizer: Any, participant: Any, args: Any, row: Callable, wrk: Callable,
       write_result: Callable, seed_phase: Callable) -> None:
    """Leaderboard reads (10 clients) while an organizer's change re-ranks the phase's whole
    leaderboard in the service (``PUT /leaderboards/{id}``: every finished submission re-read),
    against the same reads without it."""
    size = 100_000 if args.quick else 1_000_000
    comp = platform.competition(organizer)
    phase = comp["phases"][0]["id"]
    t0 = time.perf_counter()
    seed_phase(platform, phase, size, max(1_000, size // 100))
    print(f"B9: seeded {size:,} rows in {time.perf_counter() - t0:.1f} s", flush=True)
    token = participant.headers["Authorization"]
    url = f"{platform.api}/phases/{phase}/leaderboard?limit=100"
    requests.get(url, headers={"Authorization": token}, timeout=30).raise_for_status()
    seconds = 5 if args.quick else 15
    with Measured(platform) as quiet:
        without = wrk(url, 10, seconds, {"Authorization": token})

    board = platform.call(organizer, "GET", f"/competitions/{comp['id']}/leaderboards")["leaderboards"][0]
    body = {k: board[k] for k in ("key", "title", "index", "primary_column", "hidden")}
    body["columns"] = [{k: v for k, v in c.items() if v is not None} for c in board["columns"]]
    rebuilds: list[float] = []
    reading = threading.Event()

    def rebuild() -> None:
        """One rebuild after another until the reads end, so every read meets one in progress."""
        while True:
            started = time.perf_counter()
            platform.call(organizer, "PUT", f"/leaderboards/{board['id']}", json=body, timeout=1800)
            rebuilds.append(time.perf_counter() - started)
            if not reading.is_set():
                return

    reading.set()
    thread = threading.Thread(target=rebuild)
    thread.start()
    time.sleep(0.5)  # the rebuild is under way in the service
    where = ranked_where(platform)
    with Measured(platform) as busy:
        during = wrk(url, 10, seconds, {"Authorization": token})
    reading.clear()
    thread.join(1800)
    covered = sum(rebuilds) >= seconds  # rebuilding through the whole measurement (gaps of a request)
    rebuilt = {"seconds": rebuilds[0] if rebuilds else 0.0}
    ratio = (during["p99"] / without["p99"]) if during["p99"] and without["p99"] else None
    row("B9", f"leaderboard read p99 during a {size:,}-row rebuild ranked in a {where}, 10 clients", during["p99"],
        without["p99"], "ms",
        "≤ 1.5× the p99 without it", ratio is not None and ratio <= 1.5 and during["non_2xx"] == 0,
        rps=during["rps"], floor_rps=without["rps"], rebuild_s=round(rebuilt["seconds"], 1), rebuilds=len(rebuilds),
        rebuild_covered_the_reads=covered, lag_p99_ms=busy.lag_p99_ms, floor_lag_p99_ms=quiet.lag_p99_ms,
        errors=during["non_2xx"], ranked_in=where)
    write_result("B9", {"rows": size, "ranked_in": where, "with_rebuild": during, "without": without, "rebuilds_s": rebuilds,
                        "covered": covered, "lag_p99_ms": busy.lag_p99_ms, "floor_lag_p99_ms": quiet.lag_p99_ms})
