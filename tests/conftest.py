"""Shared fixtures: a real JupyterHub, the Podium service over real HTTP, users, competitions and workers.

Fixtures
--------
hub            one real JupyterHub (with configurable-http-proxy) for the whole session
db_backend     "sqlite" or "postgresql": every service test runs on both
db_url         a fresh, migrated database of that backend
service        the Podium service on a random 127.0.0.1 port, in a background thread of this
               process (so ``clock`` can move its time), authenticating through ``hub``; each
               compute queue has its own RabbitMQ vhost and user (``broker_isolation``)
clock          moves the service's time: ``clock.set(datetime)``, ``clock.advance(hours=1)``
users          ``users.make(admin=False, groups=())`` → a hub user with a service-scoped token
api            ``api(user, "POST", "/competitions", json=..., expect=201)``: real HTTP, checks
               the invariants of every answer (content type, security headers, JSON errors)
make_competition  a published competition with one task, one leaderboard and one open phase
worker         a real `podium worker` process (Docker executor) serving the service's default queue
dbsession      a SQLAlchemy session on the service's database, to look behind the API
browser        headless Chromium (Debian's, driven by Playwright), one per test module
page           a fresh browser page (1200×900) per test
s3_server, azurite  LocalStack's S3 (verifying SigV4) and Azurite on loopback, started on first use
azurite_oauth  Azurite over HTTPS with --oauth basic (Azure AD tokens, user-delegation SAS); its
               certificate is trusted through $REQUESTS_CA_BUNDLE while the session runs

PostgreSQL comes from ``PODIUM_TEST_PG_URL`` (default: the machine's server on 127.0.0.1:5432);
each session creates and drops its own database there.

``PODIUM_TEST_PROCESSES=N`` (N > 1) serves the ``service`` fixture, on PostgreSQL, from N
processes on one port: the service thread of this process and a `podium service --processes N-1`
command beside it, all listening with SO_REUSEPORT (the kernel spreads connections over them, and
``api`` opens a connection per request so that it does). The command's timers are idle (only the
thread's run, so ``clock`` still pauses them), and its time follows ``clock`` through a clock file.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from helpers import rabbit_management
from helpers.emulators import Emulator, start_azurite, start_azurite_oauth, start_s3
from helpers.hub_harness import HubHarness
from helpers.service_commands import FileClock, ServiceCommand
from podium.server import clock as podium_clock
from podium.server import db
from podium.worker.images import build_all

# served by psycopg 3 like the service's own URL, whichever driver PODIUM_TEST_PG_URL names
PG_ADMIN_URL = db.engine_url(os.environ.get("PODIUM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
SECURITY_HEADERS = ("X-Content-Type-Options", "Content-Security-Policy", "Cache-Control")
TEST_PROCESSES = int(os.environ.get("PODIUM_TEST_PROCESSES") or 1)
_names = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def service_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def hub(service_port: int) -> Iterator[HubHarness]:
    harness = HubHarness(service_url=f"http://127.0.0.1:{service_port}")
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


def create_pg_database() -> str:
    name = f"podium_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked ``one_backend`` (slow browser runs, where the database is not what is
    tested, and what only PostgreSQL does, such as several processes' notifications) are
    collected once, on PostgreSQL: their SQLite variant is deselected, not skipped.
    Tests marked ``in_process`` watch what the service thread itself does, or change its options
    or routes (which the other processes do not see), so they are deselected when several
    processes serve the port (``PODIUM_TEST_PROCESSES``)."""
    keep, drop = [], []
    for item in items:
        backend = getattr(item, "callspec", None) and item.callspec.params.get("db_backend")
        one_backend = item.get_closest_marker("one_backend") and backend == "sqlite"
        in_process = item.get_closest_marker("in_process") and TEST_PROCESSES > 1 and backend == "postgresql"
        (drop if one_backend or in_process else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def db_url(db_backend: str, tmp_path_factory) -> Iterator[str]:
    if db_backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'podium.sqlite'}"
        db.upgrade(url)
        yield url
    else:
        url = create_pg_database()
        db.upgrade(url)
        try:
            yield url
        finally:
            drop_pg_database(url)


class ServiceThread:
    """The real service app, listening on a port, run by an event loop in a thread."""

    def __init__(self, **config: Any) -> None:
        from podium.server.app import PodiumService

        self.app = PodiumService(**config)
        self.app.init_logging()
        self.app.init_db()
        self.app.init_storage()
        self.app.init_auth()
        self.app.init_jobs()
        self.app.init_monitoring()
        self.app.init_tornado()
        self.loop = asyncio.new_event_loop()
        self.siblings: ServiceCommand | None = None  # the other processes on the port, if any
        self.clock_file: FileClock | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def listen() -> None:
            self.server = self.app.listen()
            self.app.start_background()
            self._ready.set()

        self.loop.run_until_complete(listen())
        self.loop.run_forever()

    def start(self) -> None:
        self.thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("The Podium service did not start listening within 30 s")

    def stop(self) -> None:
        if self.siblings is not None:
            self.siblings.stop()

        async def shutdown() -> None:
            for timer in self.app.timers:
                timer.stop()
            self.server.stop()
            await self.server.close_all_connections()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.app.dispatcher.close()
        self.app.database_pool.shutdown()
        self.app.ranking_process.stop()
        self.app.changes.stop()
        self.app.engine.dispose()
        self.app.reads.dispose()

    @property
    def url(self) -> str:
        return f"http://{self.app.ip}:{self.app.port}{self.app.base_url}"

    @property
    def api_url(self) -> str:
        return self.url + "api/v1"


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    """A RabbitMQ virtual host of this test session's own, so no stale message crosses runs."""
    vhost = f"podium-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True)
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)


def service_config(hub: HubHarness, db_url: str, port: int, broker_url: str, data_dir: Path) -> dict[str, Any]:
    """The test service's configuration: authenticating through ``hub``, short leases and timers."""
    return dict(
        db_url=db_url,
        data_dir=str(data_dir),
        ip="127.0.0.1",
        port=port,
        base_url="/services/podium/",
        hub_api_url=hub.hub_api_url,
        hub_api_token=hub.service_api_token,
        service_name=hub.service_name,
        secret_key="test-secret-key",
        auth_cache_max_age=0,
        creator_group="creators",
        broker_url=broker_url,
        default_queue_token="test-queue-token",
        lease_seconds=6,
        reaper_interval=1.0,
        dispatch_interval=0.5,
        refuse_database_on_loop=True,  # a database call on the event loop fails the test that made it
    )


@pytest.fixture(scope="session")
def broker_isolation(db_url: str) -> Iterator[dict[str, Any]]:
    """The service's settings for a virtual host and broker user per compute queue, made through
    RabbitMQ's management API under a prefix of this service's own (removed at the end)."""
    prefix = f"podium-test-{uuid.uuid4().hex[:8]}-"
    try:
        yield dict(broker_management_url=rabbit_management.MANAGEMENT_URL, broker_vhost_prefix=prefix)
    finally:
        rabbit_management.remove_accounts(prefix)


@pytest.fixture(scope="session")
def service(
    hub: HubHarness, db_url: str, service_port: int, broker_url: str, broker_isolation: dict[str, Any],
    tmp_path_factory
) -> Iterator[ServiceThread]:
    """The service with its queues isolated on the broker, as in production."""
    data_dir = tmp_path_factory.mktemp("podium-data")
    config = service_config(hub, db_url, service_port, broker_url, data_dir)
    several = TEST_PROCESSES > 1 and db_url.startswith("postgresql")
    svc = ServiceThread(**config, reuse_port=several, **broker_isolation)
    svc.start()
    if several:
        svc.clock_file = FileClock(data_dir / "clock")
        idle = {key: 3600 for key in ("reaper_interval", "dispatch_interval")}
        svc.siblings = ServiceCommand(
            "siblings", hub=hub, db_url=db_url, broker_url=broker_url, port=service_port, data_dir=data_dir / "siblings",
            storage_root=Path(svc.app.storage_root), clock_file=svc.clock_file.path, processes=TEST_PROCESSES - 1,
            reuse_port=True, options={**idle, **broker_isolation},
        ).start()
    try:
        yield svc
    finally:
        svc.stop()


@dataclass
class User:
    name: str
    token: str
    admin: bool = False

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


class Users:
    def __init__(self, hub: HubHarness) -> None:
        self.hub = hub

    def make(self, prefix: str = "user", admin: bool = False, groups: tuple[str, ...] = ()) -> User:
        name = f"{prefix}{next(_names)}-{uuid.uuid4().hex[:6]}"
        self.hub.create_user(name, admin=admin, groups=list(groups))
        return User(name=name, token=self.hub.token_for(name), admin=admin)


@pytest.fixture(scope="session")
def users(hub: HubHarness) -> Users:
    return Users(hub)


@pytest.fixture(scope="session")
def creator(users: Users) -> User:
    return users.make("creator", groups=("creators",))


class Api:
    """Real HTTP calls to the service that also check every answer's invariants."""

    def __init__(self, service: ServiceThread) -> None:
        self.service = service
        self.http = requests.Session()
        # several processes on the port: a connection per request, so the kernel spreads them
        self.fresh_connections = getattr(service, "siblings", None) is not None

    def __call__(
        self,
        user: User | None,
        method: str,
        path: str,
        expect: int | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if user is not None:
            headers.update(user.headers)
        if self.fresh_connections:
            headers.setdefault("Connection", "close")
        response = self.http.request(method, self.service.api_url + path, headers=headers, timeout=60, **kwargs)
        self.check_invariants(response)
        if expect is not None:
            assert response.status_code == expect, (
                f"{method} {path} → {response.status_code}, expected {expect}: {response.text[:2000]}"
            )
        return response

    @staticmethod
    def check_invariants(response: requests.Response) -> None:
        for header in SECURITY_HEADERS:
            assert header in response.headers, f"missing {header} on {response.request.method} {response.url}"
        if response.status_code == 204:
            return
        content_type = response.headers.get("Content-Type", "")
        if content_type.startswith(("text/csv", "application/zip")):
            return
        assert content_type.startswith("application/json"), content_type
        body = response.json()
        if response.status_code >= 400:
            assert set(body) == {"error"}, body
            assert body["error"]["status"] == response.status_code
            assert body["error"]["message"]

    def upload(self, url: str, data: bytes, expect: int = 200) -> requests.Response:
        headers = {"Connection": "close"} if self.fresh_connections else {}
        response = self.http.put(url, data=data, headers=headers, timeout=60)
        assert response.status_code == expect, response.text
        return response


@pytest.fixture(scope="session")
def api(service: ServiceThread) -> Api:
    return Api(service)


def drain_dispatcher(service: ServiceThread, timeout: float = 60) -> None:
    """Wait until everything already handed to the dispatcher's thread (a commit's publish, a
    timer's sweep or reaper pass) has ended: its pool has one thread, so a no-op handed to it now
    ends after all of them."""
    service.app.dispatcher.pool.submit(lambda: None).result(timeout=timeout)


class Clock:
    """Moves the service's time. While a test holds the clock, the service's timers (reaper,
    dispatcher) are paused, so a jump of hours does not make everything look stale; tests of the
    reaper call it themselves. Pausing also waits for a tick already handed to the dispatcher's
    thread to end, so that no timer's statement runs after ``set`` returns (a test counting a
    request's statements once counted a sweep that was still on its way)."""

    def __init__(self, service: ServiceThread) -> None:
        self.now: datetime | None = None
        self.service = service
        self.paused = False

    def set(self, moment: datetime) -> None:
        if not self.paused:
            self._timers("stop")
            drain_dispatcher(self.service)
            self.paused = True
        self.now = moment
        podium_clock.set_clock(lambda: self.now)
        if self.service.clock_file is not None:
            self.service.clock_file.set(moment)

    def _timers(self, action: str) -> None:
        done = threading.Event()

        def toggle() -> None:
            for timer in self.service.app.timers:
                getattr(timer, action)()
            done.set()

        self.service.loop.call_soon_threadsafe(toggle)
        done.wait(10)

    def advance(self, **delta: float) -> None:
        if self.now is None:
            self.set(podium_clock.utcnow())
        self.set(self.now + timedelta(**delta))

    def reset(self) -> None:
        self.now = None
        podium_clock.set_clock(None)
        if self.service.clock_file is not None:
            self.service.clock_file.reset()
        if self.paused:
            self._timers("start")
            self.paused = False


@pytest.fixture
def clock(service: ServiceThread) -> Iterator[Clock]:
    c = Clock(service)
    try:
        yield c
    finally:
        c.reset()


@pytest.fixture
def dbsession(service: ServiceThread):
    session = service.app.session_factory()
    try:
        yield session
    finally:
        session.close()


ROOT = Path(__file__).resolve().parent.parent


def upload_dataset(api: Api, user: User, kind: str, name: str, data: bytes) -> int:
    """Announce, upload and confirm a dataset or program; returns its id."""
    import hashlib

    announced = api(user, "POST", "/datasets", json={"kind": kind, "name": name, "size": len(data),
                                                   "sha256": hashlib.sha256(data).hexdigest()}, expect=201).json()
    api.upload(announced["upload_url"], data)
    api(user, "POST", f"/datasets/{announced['id']}/uploaded", expect=200)
    return announced["id"]


def competition_body(slug: str, **overrides: Any) -> dict[str, Any]:
    """A valid competition: one task, one leaderboard (accuracy desc), one phase open now."""
    start = (podium_clock.utcnow() - timedelta(days=1)).replace(microsecond=0)
    body: dict[str, Any] = {
        "slug": slug,
        "title": f"Competition {slug}",
        "description": "A test competition.",
        "pages": [{"key": "overview", "title": "Overview", "content": "# Hello"}],
        "tasks": [{"key": "main", "name": "Main task"}],
        "leaderboards": [
            {
                "key": "main",
                "title": "Results",
                "columns": [
                    {"key": "accuracy", "title": "Accuracy", "sorting": "desc", "precision": 3},
                    {"key": "runtime", "title": "Runtime", "sorting": "asc"},
                ],
            }
        ],
        "phases": [
            {
                "name": "Development",
                "start": start.isoformat() + "Z",
                "end": (start + timedelta(days=30)).isoformat() + "Z",
                "tasks": ["main"],
                "leaderboard": "main",
                "max_submissions_per_day": 5,
                "max_submissions": 20,
            }
        ],
    }
    body.update(overrides)
    return body


def unique_slug(prefix: str = "comp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_competition(api: Api, creator: User):
    def make(organizer: User | None = None, publish: bool = True, **overrides: Any) -> dict[str, Any]:
        owner = organizer or creator
        comp = api(owner, "POST", "/competitions", json=competition_body(unique_slug(), **overrides), expect=201).json()
        if publish:
            comp = api(owner, "POST", f"/competitions/{comp['id']}/publish", expect=200).json()
        return comp

    return make


# --- the compute pipeline: a real `podium worker`, runtime images, submitting and waiting ---

TERMINAL = {"finished", "failed", "cancelled"}


class WorkerProcess:
    """`podium worker` as a child process, as an admin would run it."""

    def __init__(self, service, workdir: Path, name: str | None = None, extra_args: tuple[str, ...] = (), *,
                 podium: Path | None = None, token: str = "test-queue-token", env: dict[str, str] | None = None,
                 prefix: tuple[str, ...] = ()) -> None:
        self.service = service
        self.name = name or f"w-{uuid.uuid4().hex[:6]}"
        self.workdir = workdir
        self.podium = podium or Path(sys.executable).parent / "podium"  # another install's command
        self.token = token
        self.extra_args = extra_args
        self.env = env  # added to this process's environment (e.g. DOCKER_HOST)
        self.prefix = prefix  # e.g. `ip netns exec NAME`: run it on another "host"
        self.proc: subprocess.Popen | None = None
        self.log = ROOT / "test-artifacts" / f"worker-{self.name}.log"

    def start(self) -> None:
        self.log.parent.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [*self.prefix, str(self.podium), "worker", "--service-url", self.service.url, "--token", self.token,
             "--name", self.name, "--executor", "docker", "--work-dir", str(self.workdir),
             "--memory-mb", "256", "--max-output-mb", "20", "--pids", "64", *self.extra_args],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **self.env} if self.env else None,
        )
        time.sleep(1.5)
        assert self.proc.poll() is None, self.log.read_text()[-3000:]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="session")
def runtime_images() -> None:
    build_all()


@pytest.fixture(scope="session")
def worker(service, runtime_images, tmp_path_factory):
    process = WorkerProcess(service, tmp_path_factory.mktemp("worker"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


def make_pipeline_competition(api, organizer, users, *, image: str, scoring: bytes, ingestion: bytes | None = None,
                              input_data: bytes | None = None, time_limit: int = 60,
                              phase: dict[str, Any] | None = None, **overrides: Any):
    """A published competition whose phase runs the given programs, with no submission limits
    (``phase``: more of the phase's settings; ``overrides`` for the competition's body); returns
    (its phase id, a registered participant)."""
    from helpers import programs

    task = {"key": "main", "name": "Main",
            "scoring_program": upload_dataset(api, organizer, "scoring_program", "scoring.zip", scoring),
            "reference_data": upload_dataset(api, organizer, "reference_data", "ref.zip", programs.REFERENCE)}
    if ingestion is not None:
        task["ingestion_program"] = upload_dataset(api, organizer, "ingestion_program", "ingestion.zip", ingestion)
    if input_data is not None:
        task["input_data"] = upload_dataset(api, organizer, "input_data", "input.zip", input_data)
    body = competition_body(unique_slug("pipe"), tasks=[task], docker_image=image, **overrides)
    body["phases"][0].update(max_submissions_per_day=0, max_submissions=0, execution_time_limit=time_limit,
                             **(phase or {}))
    comp = api(organizer, "POST", "/competitions", json=body, expect=201).json()
    api(organizer, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    participant = users.make("runner")
    api(participant, "POST", f"/competitions/{comp['id']}/register", expect=200)
    return comp["phases"][0]["id"], participant


def submit(api, user, phase_id: int, data: bytes) -> int:
    created = api(user, "POST", f"/phases/{phase_id}/submissions",
                  json={"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}, expect=201).json()
    api.upload(created["upload_url"], data)
    api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=200)
    return created["id"]


def wait_for(api, user, submission_id: int, statuses=TERMINAL, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sub = api(user, "GET", f"/submissions/{submission_id}", expect=200).json()
        if sub["status"] in statuses:
            return sub
        time.sleep(0.3)
    raise AssertionError(f"submission {submission_id} stayed {sub['status']}: {sub}")


# --- object-storage emulators (tests/helpers/emulators.py) ---


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emulator = start_s3(tmp_path_factory.mktemp("s3"))
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emulator = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def azurite_oauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    import certifi

    workdir = tmp_path_factory.mktemp("azurite-oauth")
    emulator = start_azurite_oauth(workdir)
    bundle = workdir / "ca-bundle.pem"  # the usual roots plus Azurite's own certificate
    bundle.write_text(Path(os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where()).read_text()
                      + Path(emulator.settings["ca_file"]).read_text())
    before = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)
    try:
        yield emulator
    finally:
        emulator.stop()
        if before is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = before


# --- browsers: one headless Chromium per module and a fresh page per test ---


@pytest.fixture(scope="module")
def browser():
    from helpers.web_session import chromium

    with chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()
