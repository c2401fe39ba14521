"""Several service processes on one port: forked children share the listening sockets, and the
parent supervises them (starts another when one dies, passes SIGTERM and SIGINT on, returns when
every child has ended).

Why not ``tornado.process.fork_processes``: its parent keeps the children to itself and dies of
SIGTERM, so stopping a managed service (JupyterHub signals the command it started) would orphan
the children, still holding the port. Everything that opens a connection (database engines,
the broker, the hub's HTTP client, storage clients) is created again in each child after the
fork: a socket shared by two processes interleaves their bytes.

The children share the parent's memory (copy on write) for as long as nothing writes to it.
Python's cyclic garbage collector writes to every object it tracks on each full pass, so within
minutes of traffic each child had its own copy of every module the parent imported (bench B7:
76 MB per process after B4's submits, 62 MB with the parent's objects frozen first). The parent
therefore freezes what it holds just before forking (``gc.freeze``, as Python's documentation
advises for fork without exec): the collector leaves those objects alone in the children.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import sys

FORWARDED = (signal.SIGTERM, signal.SIGINT)


def cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to this child if the supervisor is killed outright
    (SIGKILL leaves it no chance to pass anything on), so no child outlives it on the port."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def share_with_children() -> None:
    """Keep the parent's objects shared with the children it forks: collect the garbage there
    is (its pages would otherwise be copied to be freed), then move every object left out of the
    collector's reach, so that no child's collector writes to it."""
    gc.collect()
    gc.freeze()


def fork_children(count: int, log: logging.Logger, max_restarts: int = 100) -> int | None:
    """Fork ``count`` children. In a child, returns its index (0 to count-1) at once; in the
    parent, supervises them and returns None once all have ended. A child that ends with an
    error (not on a signal the parent passed on) is replaced, up to ``max_restarts`` times."""
    children: dict[int, int] = {}
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def start(index: int) -> bool:
        pid = os.fork()
        if pid == 0:
            for signum in FORWARDED:
                signal.signal(signum, signal.SIG_DFL)
            _die_with_parent()
            return True
        children[pid] = index
        return False

    for signum in FORWARDED:
        signal.signal(signum, forward)
    share_with_children()
    for index in range(count):
        if start(index):
            return index
    restarts = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        index = children.pop(pid, None)
        if index is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        if stopping or code == 0:
            continue
        restarts += 1
        if restarts > max_restarts:
            log.critical("Service processes keep dying (%d restarts); stopping the others", max_restarts)
            forward(signal.SIGTERM, None)
            continue
        log.warning("Service process %d (pid %d) ended with %s; starting another", index, pid,
                    f"signal {-code}" if code < 0 else f"exit code {code}")
        if start(index):
            return index
    return None
