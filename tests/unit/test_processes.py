"""The supervisor of several service processes (``podium.server.processes``), forking for real
in a child Python (never in pytest's own process), and the rule that SQLite serves from one."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from helpers.service_commands import alive

SCRIPT = textwrap.dedent("""
    import logging, os, sys, time
    from podium.server.processes import fork_children

    folder = sys.argv[1]
    index = fork_children(2, logging.getLogger("test"))
    if index is None:
        open(os.path.join(folder, "supervisor-ended"), "w").close()
        sys.exit(0)
    marker = os.path.join(folder, f"crashed-{index}")
    with open(os.path.join(folder, "started"), "a") as f:
        f.write(f"{index} {os.getpid()}\\n")
    if index == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        sys.exit(3)  # the first child 1 dies with an error: the supervisor starts another
    time.sleep(120)
""")


def started(folder: Path) -> list[tuple[int, int]]:
    path = folder / "started"
    lines = path.read_text().split("\n") if path.exists() else []
    return [(int(a), int(b)) for a, b in (line.split() for line in lines if line)]


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_dead_child_is_replaced_and_sigterm_reaches_every_child(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path)], start_new_session=True)
    try:
        wait_for(lambda: len(started(tmp_path)) == 3)  # 0, 1 (crashed), 1 again
        indexes = sorted(index for index, _ in started(tmp_path))
        assert indexes == [0, 1, 1]
        survivors = [pid for _, pid in started(tmp_path)]
        proc.send_signal(signal.SIGTERM)  # to the supervisor only, as JupyterHub stops a service
        assert proc.wait(20) == 0
        assert (tmp_path / "supervisor-ended").exists()
        for pid in survivors:
            assert not alive(pid), f"child {pid} outlived the supervisor"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_children_end_when_the_supervisor_is_killed_outright(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path)], start_new_session=True)
    try:
        wait_for(lambda: len(started(tmp_path)) == 3)
        proc.kill()
        proc.wait(10)
        children = [pid for _, pid in started(tmp_path)]
        wait_for(lambda: not any(alive(pid) for pid in children))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_sqlite_serves_from_one_process_and_says_so(tmp_path: Path, caplog) -> None:
    from podium.server.app import PodiumService

    app = PodiumService(data_dir=str(tmp_path), db_url=f"sqlite:///{tmp_path / 'p.sqlite'}", upgrade_db=True,
                        processes=4)
    app.init_db()
    app.log.propagate = True
    with caplog.at_level(logging.WARNING):
        assert app.process_count() == 1
    assert "serving from 1 process, not 4" in caplog.text
    app.processes = 1
    assert app.process_count() == 1
    app.engine.dispose()
    app.reads.dispose()


SHARING = textwrap.dedent("""
    import gc, logging, os, sys
    from podium.server.processes import fork_children

    def private_dirty_kb():
        for line in open("/proc/self/smaps_rollup"):
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1])

    held = [[n] for n in range(600_000)]  # what a service holds after its imports, tracked by the collector
    if fork_children(1, logging.getLogger("test")) is None:
        sys.exit(0)
    before = private_dirty_kb()
    gc.collect()  # a full pass, as the collector makes on its own under traffic
    with open(sys.argv[1], "w") as f:
        f.write(f"{private_dirty_kb() - before} {len(held) * sys.getsizeof(held[0]) // 1024} {gc.is_tracked(held[0])}")
""")


def test_a_childs_collector_leaves_what_it_shares_with_the_parent_unwritten(tmp_path: Path) -> None:
    """The objects the parent held before forking stay shared (copy on write) after a full pass
    of the child's garbage collector, which would otherwise write to each of them (bench B7)."""
    result = tmp_path / "result"
    subprocess.run([sys.executable, "-c", SHARING, str(result)], timeout=120, check=True)
    copied, held, tracked = result.read_text().split()
    copied_kb, held_kb = int(copied), int(held)
    assert tracked == "True" and held_kb > 30_000
    assert copied_kb < held_kb // 10, f"the child copied {copied_kb} kB of the parent's {held_kb} kB"
