"""``podium worker``: a Celery worker for one compute queue, given the service URL and the
queue's token.

Settings for long jobs: one job at a time (solo pool, prefetch 1), late acknowledgement so a
message whose worker died is redelivered, and no broker heartbeat (a long job blocks the solo
pool; TCP keepalive covers dead connections). RabbitMQ's ``consumer_timeout`` (30 minutes by
default) cannot lose or double-run a job: a redelivered message finds the attempt held under a
live lease and is dropped, and the first worker still reports its result over HTTP.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time

from celery import Celery
from kombu import Queue

from .cache import DatasetCache
from .client import ServiceClient
from .disk_caps import release_stale_runs
from .errors import ProtocolError, ProtocolMismatch
from .executors.base import Executor
from .protocol import TASK_NAME
from .runner import AttemptRunner, WorkerSettings

log = logging.getLogger("podium.worker")
RUNNER: AttemptRunner | None = None


def make_worker_app(broker_url: str, options: dict, celery_queue: str) -> Celery:
    app = Celery("podium-worker", broker=broker_url)
    app.conf.update(
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        broker_heartbeat=0,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(celery_queue, durable=True)],
        task_default_queue=celery_queue,
        accept_content=["json"],
        worker_hijack_root_logger=False,
        # task events (received, started, succeeded, failed) on the queue's broker, for Flower
        worker_send_task_events=True,
    )

    @app.task(name=TASK_NAME, bind=True, acks_late=True, max_retries=None)
    def run_attempt(self, submission_id: int, step: str, attempt_id: int) -> str:
        assert RUNNER is not None
        log.info("attempt %s (%s of submission %s)", attempt_id, step, submission_id)
        try:
            report = RUNNER.run(attempt_id)
        except ProtocolMismatch as e:
            # the message goes back to the queue for a worker that speaks the service's protocol
            log.error("attempt %s not claimed: %s", attempt_id, e)
            raise self.retry(countdown=60) from None
        except ProtocolError as e:
            log.warning("attempt %s: the service is unreachable (%s); retrying", attempt_id, e)
            raise self.retry(countdown=5) from None
        return "skipped" if report is None else report["state"]

    return app


def choose_executor(kind: str, name: str, allow_unsafe: bool) -> Executor:
    from .errors import DockerError
    from .executors.docker import DockerExecutor
    from .executors.local import LocalExecutor

    if kind in ("docker", "auto"):
        try:
            docker = DockerExecutor(name)
            if docker.available():
                return docker
            problem = "the Docker engine does not answer"
        except DockerError as e:
            problem = str(e)
        if kind == "docker":
            raise SystemExit(f"podium worker: {problem}.")
        if not allow_unsafe:
            raise SystemExit(f"podium worker: {problem}, and the local executor (which does not isolate "
                             "participant code) needs --allow-unsafe-local-executor.")
    return LocalExecutor(allow_unsafe=allow_unsafe)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``podium worker`` (also read by the docs' command reference)."""
    p = argparse.ArgumentParser(prog="podium worker", description="Run a compute worker for one queue.")
    p.add_argument("--service-url", default=os.environ.get("PODIUM_URL"),
                   help="The Podium service URL, e.g. https://hub.example.org/services/podium/ ($PODIUM_URL).")
    p.add_argument("--token", default=os.environ.get("PODIUM_QUEUE_TOKEN"),
                   help="The compute queue's worker token ($PODIUM_QUEUE_TOKEN).")
    p.add_argument("--name", default=f"{socket.gethostname()}-{os.getpid()}", help="This worker's name.")
    p.add_argument("--broker-url", help="Override the broker URL the service announces.")
    p.add_argument("--executor", choices=["auto", "docker", "local"], default="docker")
    p.add_argument("--allow-unsafe-local-executor", action="store_true",
                   help="Allow the local executor, which does NOT isolate participant code.")
    p.add_argument("--work-dir", default=os.path.join(os.getcwd(), "podium-worker"))
    p.add_argument("--cache-size-mb", type=int, default=10240, help="Dataset cache cap in MB.")
    p.add_argument("--memory-mb", type=int, default=2048, help="Memory limit per container in MB.")
    p.add_argument("--cpus", type=float, default=1.0, help="CPUs per container.")
    p.add_argument("--pids", type=int, default=256, help="Processes per container.")
    p.add_argument("--max-output-mb", type=int, default=256, help="Output and disk cap per container in MB.")
    p.add_argument("--log-level", default="INFO")
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    global RUNNER
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
    executor = choose_executor(args.executor, args.name, args.allow_unsafe_local_executor)
    removed = executor.cleanup_leftovers()
    if removed:
        log.warning("removed %d container(s) a previous run of this worker left behind", removed)
    os.makedirs(args.work_dir, exist_ok=True)
    release_stale_runs(args.work_dir)
    settings = WorkerSettings(name=args.name, work_dir=args.work_dir, memory_mb=args.memory_mb, cpus=args.cpus,
                              pids=args.pids, max_output_bytes=args.max_output_mb * 1024 * 1024)
    cache = DatasetCache(os.path.join(args.work_dir, "cache"), args.cache_size_mb * 1024 * 1024)
    RUNNER = AttemptRunner(client, executor, cache, settings)
    app = make_worker_app(args.broker_url or config["broker_url"], config.get("broker_transport_options") or {},
                          config["celery_queue"])
    log.info("worker %s serving queue '%s' (%s)", args.name, config["queue"], type(executor).__name__)
    worker = app.Worker(pool="solo", concurrency=1, hostname=f"{args.name}@podium", loglevel=args.log_level,
                        without_heartbeat=True, without_mingle=True, without_gossip=True, quiet=True)
    worker.start()
    return worker.exitcode or 0


if __name__ == "__main__":
    raise SystemExit(main())
