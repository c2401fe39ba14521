"""B8, history scale: the leaderboard read (B2) and the list endpoints at 100,000 and 1,000,000
submission rows, each beside the floor (``GET /api/v1/``, a plain JSON handler of the same
service) measured in the same run.

Seeding is SQL on PostgreSQL: participants, submissions and scores each in one
``INSERT ... SELECT FROM generate_series`` statement, then ``VACUUM ANALYZE`` and a
``CHECKPOINT`` (what autovacuum and the checkpointer do to a table that has lived a while) and
one ``leaderboard_store.rebuild`` — timed, with its peak memory, in a subprocess of its own so
the figure is the rebuild's alone. That full rebuild is
then the floor of what a new score costs: finishing one more submission with a new best score
(``submissions.finish``: its scores, its status and the re-rank from the standing entries) is
timed the same way for an ordinary participant and for the heavy one.

Who owns the rows: ``participants`` ordinary participants share 90% of them round-robin, and one
heavy participant owns every tenth row (10,000 at 100k, 100,000 at 1M): their "my submissions"
is the list endpoint at its worst. The list endpoints are read three ways: the heavy user's first
page, a page deep in their history through the ``before`` cursor, and the organizer's listing of
the whole phase (``?all=true``).

    .venv/bin/python bench/history.py rebuild <db_url> <phase_id> [owner]   # used by b8, prints JSON
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests
import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
HEAVY_EVERY = 10  # the heavy participant owns every tenth row


def seed_rows(db_url: str, phase_id: int, submissions: int, participants: int, tag: str,
              heavy: str | None = None, seed: float = 0.7) -> dict[str, float]:
    """Finished, scored submissions of ``participants`` users (``seed-<tag>-<i>``) and, when
    ``heavy`` is given, one more user owning every tenth row. Returns the seconds per step."""
    engine = sa.create_engine(db_url)
    timings: dict[str, float] = {}
    owner = f"'seed-{tag}-' || (g % {participants})"
    if heavy:  # every tenth row is the heavy user's; the others go round-robin over everyone else
        owner = (f"CASE WHEN g % {HEAVY_EVERY} = 0 THEN :heavy "
                 f"ELSE 'seed-{tag}-' || ((g - g / {HEAVY_EVERY} - 1) % {participants}) END")
    with engine.begin() as conn:
        competition = conn.execute(sa.text("SELECT competition_id FROM phases WHERE id = :p"),
                                   {"p": phase_id}).scalar_one()
        t0 = time.perf_counter()
        conn.execute(sa.text(
            "INSERT INTO participants (competition_id, username, status, created_at) "
            "SELECT :c, 'seed-' || :tag || '-' || g, 'approved', TIMESTAMP '2024-01-01' "
            "FROM generate_series(0, :n - 1) g"), {"c": competition, "tag": tag, "n": participants})
        if heavy:
            conn.execute(sa.text(
                "INSERT INTO participants (competition_id, username, status, created_at) "
                "VALUES (:c, :heavy, 'approved', TIMESTAMP '2024-01-01')"), {"c": competition, "heavy": heavy})
        timings["participants_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute(sa.text(
            "INSERT INTO submissions (phase_id, owner, status, description, created_at, submitted_at, "
            "finished_at, is_public, selected, counts_toward_quota, log_tail, fact_sheet_answers, is_dry_run) "
            f"SELECT :p, {owner}, 'finished', '', TIMESTAMP '2024-01-01' + g * INTERVAL '1 second', "
            "TIMESTAMP '2024-01-01' + g * INTERVAL '1 second', TIMESTAMP '2024-01-01' + g * INTERVAL '1 second', "
            "false, false, true, '', '{}', false FROM generate_series(0, :n - 1) g ORDER BY g"),
            {"p": phase_id, "tag": tag, "n": submissions, "heavy": heavy})
        timings["submissions_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute(sa.text("SELECT setseed(:s)"), {"s": seed})
        conn.execute(sa.text(
            "INSERT INTO scores (submission_id, column_key, value) "
            "SELECT s.id, 'accuracy', random() FROM submissions s "
            "WHERE s.phase_id = :p AND NOT EXISTS (SELECT 1 FROM scores x WHERE x.submission_id = s.id) "
            "ORDER BY s.id"), {"p": phase_id})
        timings["scores_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("submissions", "scores", "participants"):
            conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
        # and write the seeded pages out now, as a database that has lived a while has: otherwise
        # the checkpoint that a million new rows trigger competes with the reads measured next
        conn.execute(sa.text("CHECKPOINT"))
    timings["vacuum_analyze_s"] = time.perf_counter() - t0
    engine.dispose()
    return timings


def rebuild_in_subprocess(db_url: str, phase_id: int, owner: str | None = None) -> dict[str, Any]:
    """In a process of its own: ``leaderboard_store.rebuild`` of the whole phase or, with
    ``owner``, a new scored submission of theirs finished as the worker's report does
    (``submissions.finish``: scores, status, re-rank); seconds, rows, peak RSS."""
    out = subprocess.run([sys.executable, str(HERE / "history.py"), "rebuild", db_url, str(phase_id)]
                         + ([owner] if owner else []),
                         capture_output=True, text=True, timeout=1800, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _rebuild_main(db_url: str, phase_id: int, owner: str | None) -> None:
    from podium.server.clock import utcnow
    from podium.server.db import make_engine, make_session_factory
    from podium.server.leaderboards import store as leaderboard_store
    from podium.server.orm import LeaderboardEntry, Phase, Submission, SubmissionStatus
    from podium.server.submissions import lifecycle as subs

    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        phase = session.get(Phase, phase_id)
        if owner is None:
            t0 = time.perf_counter()
            rows = leaderboard_store.rebuild(session, phase)
            session.commit()
            seconds = time.perf_counter() - t0
        else:  # a new best score: it moves a block of ranks, the common case's worst
            submission = Submission(phase_id=phase_id, owner=owner, status=SubmissionStatus.running,
                                    created_at=utcnow())
            session.add(submission)
            session.commit()
            t0 = time.perf_counter()
            subs.finish(session, submission, {"accuracy": 0.99995})
            session.commit()
            seconds = time.perf_counter() - t0
            rows = session.scalar(sa.select(sa.func.count()).where(LeaderboardEntry.phase_id == phase_id))
    engine.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "entries": rows, "peak_rss_mb": round(peak_mb, 1)}))


def b8(platform, organizer, participant, args, row: Callable, wrk: Callable, write_result: Callable) -> None:
    sizes = [100_000] if args.quick else [100_000, 1_000_000]  # 1M seeds in about a minute
    seconds = 5 if args.quick else 15
    for size in sizes:
        label = f"{size // 1000:,}k" if size < 1_000_000 else f"{size // 1_000_000}M"
        comp = platform.competition(organizer)
        phase = comp["phases"][0]["id"]
        heavy_name = f"b8-heavy-{label.replace(',', '')}"
        heavy = platform.user(heavy_name)
        t0 = time.perf_counter()
        seeding = seed_rows(platform.db_url, phase, size, 1_000, tag=f"b8-{size}", heavy=heavy_name)
        rebuild = rebuild_in_subprocess(platform.db_url, phase)
        seeding["rebuild"] = rebuild
        seeding["total_s"] = time.perf_counter() - t0
        print(f"B8 {label}: seeded in {seeding['total_s']:.1f} s ({json.dumps(seeding)})", flush=True)
        row("B8", f"seed {size:,} rows (SQL) + leaderboard rebuild", round(seeding["total_s"], 1), None, "s",
            "1M rows in the default run if ≤ ~5 min", None, rebuild_s=round(rebuild["seconds"], 1),
            rebuild_peak_rss_mb=rebuild["peak_rss_mb"])
        for who, owner in (("an ordinary participant", f"seed-b8-{size}-0"), ("the heavy participant", heavy_name)):
            rerank = rebuild_in_subprocess(platform.db_url, phase, owner)
            seeding[f"rerank {owner}"] = rerank
            row("B8", f"a new best score of {who} finished and ranked, {size:,} rows", round(rerank["seconds"] * 1000, 1),
                round(rebuild["seconds"] * 1000, 1), "ms", "– (floor: the full rebuild)", None,
                entries=rerank["entries"], peak_rss_mb=rerank["peak_rss_mb"],
                owner_rows=size // HEAVY_EVERY if owner == heavy_name else None)

        token = participant.headers["Authorization"]
        board_url = f"{platform.api}/phases/{phase}/leaderboard?limit=100"
        requests.get(board_url, headers={"Authorization": token}, timeout=30).raise_for_status()
        floor_url = f"{platform.api}/"
        floors: dict[int, dict] = {}
        for clients in (1, 10, 50):
            result = wrk(board_url, clients, seconds, {"Authorization": token})
            floor = floors[clients] = wrk(floor_url, clients, seconds)
            met = None
            if clients == 50:
                met = (result["p99"] or 1e9) <= 100 and result["rps"] >= 0.7 * floor["rps"] and result["non_2xx"] == 0
            row("B8", f"leaderboard top 100 of {size:,} rows, {clients} clients (req/s)", result["rps"],
                floor["rps"], "req/s", "≥ 0.7 of the floor and p99 ≤ 100 ms at 50", met, p50_ms=result["p50"],
                p99_ms=result["p99"], floor_p99_ms=floor["p99"], errors=result["non_2xx"])
            write_result(f"B8-{label}-leaderboard-{clients}", {"rows": size, "leaderboard": result, "floor": floor,
                                                              "seeding": seeding})

        # the list endpoints: first page, a page deep in the history (cursor), the organizer's view
        mine = requests.get(f"{platform.api}/me/submissions?limit=50", headers=heavy.headers, timeout=60)
        mine.raise_for_status()
        first = mine.json()
        deep_cursor = _deep_cursor(platform, phase, heavy_name)
        lists = {
            "my submissions, first page of 50": f"{platform.api}/me/submissions?limit=50",
            "my submissions, a page of 50 halfway down (cursor)":
                f"{platform.api}/me/submissions?limit=50&before={deep_cursor}" if "next" in first else None,
            "my submissions in the phase, first page of 50": f"{platform.api}/phases/{phase}/submissions?limit=50",
            "organizer: all submissions of the phase, first page of 50":
                f"{platform.api}/phases/{phase}/submissions?all=true&limit=50",
        }
        for what, url in lists.items():
            if url is None:
                continue
            user = organizer if what.startswith("organizer") else heavy
            answer = requests.get(url, headers=user.headers, timeout=60)
            answer.raise_for_status()
            listed = answer.json()
            result = wrk(url, 10, seconds, {"Authorization": user.headers["Authorization"]})
            floor = floors[10]
            row("B8", f"{what}, {size:,} rows, 10 clients (req/s)", result["rps"], floor["rps"], "req/s",
                "≥ 0.5 of the floor; the same at 100k and 1M rows", result["rps"] >= 0.5 * floor["rps"], p50_ms=result["p50"], p99_ms=result["p99"],
                floor_p99_ms=floor["p99"], errors=result["non_2xx"], heavy_rows=size // HEAVY_EVERY,
                total=listed.get("total"), total_is_lower_bound=listed.get("total_is_lower_bound"))
            slug = what.split(",")[0].replace(" ", "-").replace(":", "")
            write_result(f"B8-{label}-{slug}{'-deep' if 'cursor' in what else ''}",
                         {"rows": size, "url": url, "result": result, "floor": floor})

        # the same list with a different cursor at each request: no page is remembered, every read
        # is the database path (what a rush of changing submissions costs)
        low, high = _cursor_range(platform, heavy_name)
        result = wrk(f"{platform.api}/me/submissions?limit=50", 10, seconds,
                     {"Authorization": heavy.headers["Authorization"]}, script="random_cursor.lua",
                     env={"WRK_PATH": f"{urlparse(platform.api).path}/me/submissions?limit=50",
                          "WRK_CURSOR_LOW": str(low), "WRK_CURSOR_HIGH": str(high)})
        row("B8", f"my submissions, pages at random cursors (the database path), {size:,} rows, 10 clients (req/s)",
            result["rps"], floors[10]["rps"], "req/s", "– (no page remembered)", None, p50_ms=result["p50"],
            p99_ms=result["p99"], errors=result["non_2xx"])
        write_result(f"B8-{label}-my-submissions-random-cursor", {"rows": size, "result": result, "floor": floors[10]})


def _cursor_range(platform, owner: str) -> tuple[int, int]:
    """The owner's first and last submission ids."""
    engine = sa.create_engine(platform.db_url)
    with engine.connect() as conn:
        low, high = conn.execute(sa.text("SELECT min(id), max(id) FROM submissions WHERE owner = :o"),
                                 {"o": owner}).one()
    engine.dispose()
    return low, high


def _deep_cursor(platform, phase_id: int, owner: str) -> int:
    """An id halfway down the owner's history: ``?before=`` it reads a page from the middle."""
    engine = sa.create_engine(platform.db_url)
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT count(*), min(id), max(id) FROM submissions WHERE owner = :o"),
                           {"o": owner}).one()
    engine.dispose()
    return (ids[1] + ids[2]) // 2


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "rebuild":
        _rebuild_main(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) == 5 else None)
    else:
        raise SystemExit(__doc__)
