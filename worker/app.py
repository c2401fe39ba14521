"""``podium worker``: a compute worker for one queue, given the service URL and the queue's token.

It takes one job at a time from the broker (``consumer``: acknowledged on receipt, nothing held
while a job runs, so no ``consumer_timeout`` can close its channel; any broker error is met by
reconnecting) and runs it (``runner``), talking to the service over HTTP. A job is a claim on an
attempt: a second delivery of the same message is refused by the service, and an attempt whose
worker died is re-published or retried by the service's reaper.

Stopping: SIGTERM or SIGINT lets the running job finish and then exits; a second one exits at
once (the attempt's lease then expires and the service retries it).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

from .cache import DatasetCache
from .client import ServiceClient, package_version
from .consumer import JobConsumer, TaskMessage
from .disk_caps import release_stale_runs
from .disk_space import DiskGuard
from .errors import CannotWork, DockerError, ProtocolError, ProtocolMismatch, WorkerNameTaken
from .executors.base import Executor
from .protocol import STATUS_INTERVAL, TASK_NAME, WorkerConfig
from .readiness import Readiness, StatusReporter
from .runner import AttemptRunner, WorkerSettings
from .task_events import TaskEvents, supports_events

log = logging.getLogger("podium.worker")
#: pause before trying an attempt again while the service cannot be reached (seconds)
SERVICE_RETRY_SECONDS = 5.0
#: the neutral parent of run directories: what a container can learn of the host's paths
NEUTRAL_RUNS_DIR = "/var/lib/podium/runs"


def runs_dir(requested: str | None, work_dir: str, name: str) -> str:
    """The directory attempts run in: ``requested``, else one per worker name under the neutral
    ``NEUTRAL_RUNS_DIR`` (per name: a worker removes its stale runs at start-up, and only its
    own), else ``work_dir`` when that cannot be created (not root)."""
    if requested:
        return requested
    neutral = os.path.join(NEUTRAL_RUNS_DIR, hashlib.sha256(name.encode()).hexdigest()[:16])
    try:
        os.makedirs(neutral, exist_ok=True)
    except OSError:
        return work_dir
    return neutral


def run_task(runner: AttemptRunner, task: TaskMessage, stop: threading.Event) -> str:
    """Run the attempt a task message names; returns its end state, ``skipped`` (not ours),
    ``cannot work`` (left unclaimed: the disk is too full or the engine does not answer) or
    ``dropped`` (not a podium task). While the service cannot be reached the attempt is tried
    again every few seconds, until it ends or the worker stops."""
    args = task.args
    if task.task != TASK_NAME or len(args) != 3 or not (isinstance(args[0], int) and isinstance(args[1], str)
                                                        and isinstance(args[2], int)):
        log.warning("dropping task %s: not %s(submission, step, attempt): %r", task.task_id, TASK_NAME, args)
        return "dropped"
    submission_id, step, attempt_id = args
    log.info("attempt %s (%s of submission %s)", attempt_id, step, submission_id)
    while True:
        try:
            report = runner.run(attempt_id)
        except ProtocolMismatch as e:
            # the attempt stays queued on the service, which publishes it again for a worker that
            # speaks its protocol; this worker takes no job until it is upgraded
            log.error("attempt %s not claimed: %s", attempt_id, e)
            return "refused"
        except CannotWork as e:
            # unclaimed, the attempt stays queued on the service, which publishes it again
            log.warning("attempt %s not claimed, left to the service: %s", attempt_id, e)
            return "cannot work"
        except ProtocolError as e:
            log.warning("attempt %s: the service is unreachable (%s); retrying in %.0f s", attempt_id, e,
                        SERVICE_RETRY_SECONDS)
            if stop.wait(SERVICE_RETRY_SECONDS):
                return "stopped"
            continue
        return "skipped" if report is None else report["state"]


def engine_probe(executor: Executor) -> Callable[[], bool] | None:
    """How the worker sees that its engine answers (None: an executor without an engine)."""
    from .executors.docker import DockerExecutor

    return executor.available if isinstance(executor, DockerExecutor) else None


def status_interval(config: WorkerConfig) -> float:
    """Seconds between status reports: often enough that the service counts the worker live
    (it allows a few leases), at most ``STATUS_INTERVAL``."""
    return max(1.0, min(STATUS_INTERVAL, config["lease_seconds"] / 3))


def choose_executor(kind: str, name: str, allow_unsafe: bool, cpuset_cpus: str | None = None) -> Executor:
    from .executors.docker import DockerExecutor
    from .executors.local import LocalExecutor

    if kind in ("docker", "auto"):
        try:
            docker = DockerExecutor(name, cpuset_cpus=cpuset_cpus)
            if docker.available():
                docker.check_cpuset()
                return docker
            problem = docker.problem.rstrip(".")
        except DockerError as e:
            problem = str(e)
        if kind == "docker":
            raise SystemExit(f"podium worker: {problem}.")
        if not allow_unsafe:
            raise SystemExit(f"podium worker: {problem}, and the local executor (which does not isolate "
                             "participant code) needs --allow-unsafe-local-executor.")
    if cpuset_cpus:
        log.warning("--cpuset-cpus applies to Docker containers only; the local executor ignores it")
    return LocalExecutor(allow_unsafe=allow_unsafe)


def cpuset(value: str) -> str:
    """argparse type of ``--cpuset-cpus``: a CPU list such as ``0-1`` or ``0,2``."""
    from .executors.docker import cpuset_cores

    try:
        cpuset_cores(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``podium worker`` (also read by the docs' command reference)."""
    p = argparse.ArgumentParser(prog="podium worker", description="Run a compute worker for one queue.")
    p.add_argument("--service-url", default=os.environ.get("PODIUM_URL"),
                   help="The Podium service URL, e.g. https://hub.example.org/services/podium/ ($PODIUM_URL).")
    p.add_argument("--token", default=os.environ.get("PODIUM_QUEUE_TOKEN"),
                   help="The compute queue's worker token ($PODIUM_QUEUE_TOKEN).")
    p.add_argument("--name", default=f"{socket.gethostname()}-{os.getpid()}", help="This worker's name, unique among the live workers of a Docker engine "
                        "(a second live worker of the same name is refused).")
    p.add_argument("--broker-url", help="Override the broker URL the service announces.")
    p.add_argument("--executor", choices=["auto", "docker", "local"], default="docker")
    p.add_argument("--allow-unsafe-local-executor", action="store_true",
                   help="Allow the local executor, which does NOT isolate participant code.")
    p.add_argument("--work-dir", default=os.path.join(os.getcwd(), "podium-worker"),
                   help="The worker's own files (the dataset cache).")
    p.add_argument("--runs-dir", default=None,
                   help="Where attempts' run directories live. A container sees the host path of every "
                        "directory mounted into it (in /proc/self/mountinfo), so this should be a neutral path. "
                        f"Default: {NEUTRAL_RUNS_DIR}/<a hash of the worker's name> when it can be created "
                        "(as root), else --work-dir.")
    p.add_argument("--cache-size-mb", type=int, default=10240, help="Dataset cache cap in MB.")
    p.add_argument("--min-free-mb", type=int, default=1024, metavar="MB",
                   help="Free disk space in MB this worker keeps where it runs attempts and caches datasets. "
                        "Below it, the worker prunes its dataset cache and, if still below, takes no job (the "
                        "service gives the job to another worker or to this one once space is freed). "
                        "0 means no floor. Default: 1024.")
    p.add_argument("--memory-mb", type=int, default=2048, help="Memory limit per container in MB.")
    p.add_argument("--cpus", type=float, default=1.0, help="CPUs per container.")
    p.add_argument("--cpuset-cpus", type=cpuset, default=None, metavar="LIST",
                   help="Cores this worker's containers run on, e.g. 0-1 or 2,3 (Docker's --cpuset-cpus). "
                        "Give each worker of a host its own cores so that a busy neighbour does not slow its "
                        "runs; --cpus only caps CPU time. Default: any core.")
    p.add_argument("--pids", type=int, default=256, help="Processes per container.")
    p.add_argument("--max-output-mb", type=int, default=256, help="Output and disk cap per container in MB.")
    p.add_argument("--no-task-events", dest="task_events", action="store_false",
                   help="Send no Celery monitoring events (worker-heartbeat, task-received, ...). By default a "
                        "worker on an AMQP broker sends them on its queue's virtual host, for Flower.")
    p.add_argument("--log-level", default="INFO")
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def stop_on_signals(stop: threading.Event) -> None:
    """The first SIGTERM or SIGINT stops taking jobs (the running one finishes); a second exits."""

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)
        log.info("%s: stopping after the running job (send it again to stop at once)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="[%(asctime)s %(name)s %(levelname)s] %(message)s")
    if not args.service_url or not args.token:
        print("podium worker: --service-url and --token are required (or $PODIUM_URL, $PODIUM_QUEUE_TOKEN).",
              file=sys.stderr)
        return 2
    client = ServiceClient(args.service_url, args.token, args.name)
    deadline = time.monotonic() + 60
    while True:
        try:
            config = client.config()
            break
        except ProtocolMismatch as e:
            print(f"podium worker: {e}", file=sys.stderr)
            return 1
        except ProtocolError as e:
            if e.status in (401, 403) or time.monotonic() > deadline:
                print(f"podium worker: {e}", file=sys.stderr)
                return 1
            time.sleep(1)
        except Exception as e:  # connection refused while the service starts
            if time.monotonic() > deadline:
                print(f"podium worker: the service at {args.service_url} does not answer: {e}", file=sys.stderr)
                return 1
            time.sleep(1)
    try:
        executor = choose_executor(args.executor, args.name, args.allow_unsafe_local_executor, args.cpuset_cpus)
        removed = executor.cleanup_leftovers()
    except (WorkerNameTaken, DockerError) as e:
        print(f"podium worker: {e}", file=sys.stderr)
        return 1
    if removed:
        log.warning("removed %d container(s) a previous run of this worker left behind", removed)
    os.makedirs(args.work_dir, exist_ok=True)
    release_stale_runs(args.work_dir)
    runs = runs_dir(args.runs_dir, args.work_dir, args.name)
    os.makedirs(runs, exist_ok=True)
    release_stale_runs(runs)
    settings = WorkerSettings(name=args.name, work_dir=runs, memory_mb=args.memory_mb, cpus=args.cpus,
                              pids=args.pids, max_output_bytes=args.max_output_mb * 1024 * 1024)
    cache = DatasetCache(os.path.join(args.work_dir, "cache"), args.cache_size_mb * 1024 * 1024)
    disk = DiskGuard(sorted({args.work_dir, runs}), args.min_free_mb * 1024 * 1024, cache)
    readiness = Readiness(disk, engine_probe(executor))
    hostname = os.uname().nodename
    runner = AttemptRunner(client, executor, cache, settings, hostname=hostname, readiness=readiness)
    reporter = StatusReporter(client, readiness, hostname, status_interval(config))
    stop = threading.Event()
    stop_on_signals(stop)

    broker_url = args.broker_url or config["broker_url"]
    transport_options = config.get("broker_transport_options") or {}
    events = None
    if args.task_events and supports_events(broker_url):
        events = TaskEvents(broker_url, transport_options, f"podium@{args.name}")
        events.start()

    def handle(task: TaskMessage) -> None:
        if events is not None:
            events.received(task)
            events.started(task)
        outcome = run_task(runner, task, stop)
        if events is not None:
            events.finished(task, outcome)
        log.info("task %s: %s", task.task_id, outcome)

    consumer = JobConsumer(broker_url, transport_options, config["celery_queue"], handle,
                           before_next=readiness.wait_until_ready, ready=readiness.ready,
                           can_take=lambda: readiness.look() is None)
    log.info("worker %s (jupyter-podium %s) serving queue '%s' (%s, runs in %s)", args.name, package_version(),
             config["queue"], type(executor).__name__, runs)
    reporter.start()
    try:
        consumer.serve(stop)
    finally:
        reporter.stop()
        if events is not None:
            events.stop()
    if runs != args.work_dir:
        with contextlib.suppress(OSError):  # left in place if a run directory is still in it
            os.rmdir(runs)
    log.info("worker %s stopped", args.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
