"""Where the service's time goes under a benchmark's load: py-spy, sampled from outside (with the processes it forked).

``bench/run.py --profile`` wraps each benchmark in ``profiled(pid, name)``: py-spy samples the
service process while it runs and writes the raw stacks and a summary of the hottest frames,
self and inclusive, to ``bench/results/profile-<name>.txt`` (the workers are separate
processes: profile one with ``py-spy record -p <worker pid>``). This is how the
causes written in the benchmark issue were found; the files let anyone check them.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ENABLED = {"on": False}


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


@contextmanager
def profiled(pid: int, name: str) -> Iterator[None]:
    """Sample ``pid`` while the body runs (nothing when profiling is off)."""
    exe = py_spy()
    if not ENABLED["on"] or exe is None:
        yield
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    raw = RESULTS / f"profile-{name}.raw"
    proc = subprocess.Popen([exe, "record", "-p", str(pid), "--subprocesses", "--gil", "-r", "100", "-f", "raw", "-o", str(raw)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        if raw.exists():
            (RESULTS / f"profile-{name}.txt").write_text(summarize(raw.read_text()))


def summarize(raw: str, top: int = 40) -> str:
    """The hottest frames of py-spy's raw output (``frame;frame;... count`` per line)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        return "no samples\n"
    lines = [f"{total} samples", "", "self:"]
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive:"]
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"
