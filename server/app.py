"""The Podium service application: configuration (traitlets), wiring, and ``start()``.

Configuration comes from ``podium_config.py`` (``c.PodiumService.<option> = ...``), then from
environment variables for the usual deployment knobs (``PODIUM_DB_URL``, ``PODIUM_STORAGE_ROOT``,
``PODIUM_BROKER_URL``, ``PODIUM_PUBLIC_URL``, ``PODIUM_SECRET_KEY``), then from the command line.
When JupyterHub manages the service it sets ``JUPYTERHUB_SERVICE_URL``,
``JUPYTERHUB_SERVICE_PREFIX``, ``JUPYTERHUB_API_URL`` and ``JUPYTERHUB_API_TOKEN``, which are
read here too.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
from urllib.parse import urlparse

import tornado.httpserver
import tornado.ioloop
import tornado.web
from traitlets import Bool, Dict, Float, Integer, Unicode, default
from traitlets.config import Application

from . import db, upload_gate, web
from .auth.hubclient import HubClient
from .auth.identity import HubTokenAuthenticator
from .errors import StorageMisconfigured
from .storage import LocalStorage, Storage, UrlSigner
from .storage.azure import AzureConfig
from .storage.factory import STORAGE_ALIASES, StorageType, make_storage
from .storage.s3 import S3Config


def _env(name: str, fallback: str) -> str:
    return os.environ.get(name) or fallback


class PodiumService(Application):
    """The Podium service: REST API, signed storage URLs and (later) HTML pages."""

    name = "podium-service"
    classes = [S3Config, AzureConfig]
    description = "Podium: competitions inside JupyterHub."

    config_file = Unicode(
        "podium_config.py",
        help="Python configuration file to load (``c.PodiumService.x = ...``); missing is fine.",
    ).tag(config=True)

    data_dir = Unicode(
        help="Directory for the embedded defaults: the SQLite database, local storage and the "
        "generated secret key. Default: $PODIUM_DATA_DIR or ./podium-data."
    ).tag(config=True)

    @default("data_dir")
    def _data_dir_default(self) -> str:
        return os.path.abspath(_env("PODIUM_DATA_DIR", "podium-data"))

    db_url = Unicode(
        help="SQLAlchemy database URL. PostgreSQL in production "
        "(postgresql+psycopg2://user@host/db); default: $PODIUM_DB_URL or a SQLite file in "
        "data_dir."
    ).tag(config=True)

    @default("db_url")
    def _db_url_default(self) -> str:
        return _env("PODIUM_DB_URL", f"sqlite:///{os.path.join(self.data_dir, 'podium.sqlite')}")

    upgrade_db = Bool(
        False,
        help="Run the schema migrations at startup instead of refusing an out-of-date database.",
    ).tag(config=True)

    storage_class = StorageType(
        LocalStorage,
        klass=Storage,
        help="Storage backend: local, s3 or azure, or a Storage class. local (the default) keeps "
        "objects in storage_root and serves HMAC-signed URLs from this service; s3 (configured by "
        "c.S3Config) and azure (c.AzureConfig) hand out the object store's own signed URLs, so the "
        "bytes never pass through the service. Default: $PODIUM_STORAGE, else local.",
    ).tag(config=True)

    @default("storage_class")
    def _storage_class_default(self) -> type:
        return STORAGE_ALIASES[os.environ.get("PODIUM_STORAGE") or "local"]()

    storage_root = Unicode(
        help="Directory of the local storage backend. Default: $PODIUM_STORAGE_ROOT or "
        "data_dir/storage."
    ).tag(config=True)

    @default("storage_root")
    def _storage_root_default(self) -> str:
        return _env("PODIUM_STORAGE_ROOT", os.path.join(self.data_dir, "storage"))

    broker_url = Unicode(
        help="Celery broker URL used to dispatch submissions, e.g. amqp://guest:guest@host:5672//. "
        "Default: $PODIUM_BROKER_URL or a server-free transport in data_dir."
    ).tag(config=True)

    @default("broker_url")
    def _broker_url_default(self) -> str:
        return _env("PODIUM_BROKER_URL", "filesystem://")

    ip = Unicode(
        help="Address to listen on. Default: from JUPYTERHUB_SERVICE_URL, else 127.0.0.1."
    ).tag(config=True)

    @default("ip")
    def _ip_default(self) -> str:
        url = os.environ.get("JUPYTERHUB_SERVICE_URL")
        return (urlparse(url).hostname if url else None) or "127.0.0.1"

    port = Integer(
        help="Port to listen on. Default: from JUPYTERHUB_SERVICE_URL, else 10101."
    ).tag(config=True)

    @default("port")
    def _port_default(self) -> int:
        url = os.environ.get("JUPYTERHUB_SERVICE_URL")
        return (urlparse(url).port if url else None) or 10101

    base_url = Unicode(
        help="URL prefix the service is mounted at. Default: JUPYTERHUB_SERVICE_PREFIX, "
        "else /services/podium/."
    ).tag(config=True)

    @default("base_url")
    def _base_url_default(self) -> str:
        return _env("JUPYTERHUB_SERVICE_PREFIX", "/services/podium/")

    public_url = Unicode(
        help="The URL notebooks and workers use to reach this service, ending in the base URL "
        "(e.g. https://hub.example.org/services/podium/). Signed storage URLs start with it. "
        "Default: $PODIUM_PUBLIC_URL, else http://ip:port + base_url."
    ).tag(config=True)

    @default("public_url")
    def _public_url_default(self) -> str:
        return _env("PODIUM_PUBLIC_URL", f"http://{self.ip}:{self.port}{self.base_url}")

    secret_key = Unicode(
        help="Secret for signing storage URLs (and later cookies). Every replica of the service "
        "must share it. Default: $PODIUM_SECRET_KEY, else a random key kept in "
        "data_dir/secret_key."
    ).tag(config=True)

    @default("secret_key")
    def _secret_key_default(self) -> str:
        if os.environ.get("PODIUM_SECRET_KEY"):
            return os.environ["PODIUM_SECRET_KEY"]
        path = os.path.join(self.data_dir, "secret_key")
        os.makedirs(self.data_dir, exist_ok=True)
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        with open(path) as f:
            return f.read().strip()

    hub_api_url = Unicode(
        help="JupyterHub's REST API URL. Default: $JUPYTERHUB_API_URL."
    ).tag(config=True)

    @default("hub_api_url")
    def _hub_api_url_default(self) -> str:
        return _env("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")

    hub_api_token = Unicode(
        help="This service's token on the hub. Default: $JUPYTERHUB_API_TOKEN."
    ).tag(config=True)

    @default("hub_api_token")
    def _hub_api_token_default(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    service_name = Unicode(
        help="The service's name on the hub; tokens need access:services!service=<name>. "
        "Default: $JUPYTERHUB_SERVICE_NAME, else podium."
    ).tag(config=True)

    @default("service_name")
    def _service_name_default(self) -> str:
        return _env("JUPYTERHUB_SERVICE_NAME", "podium")

    auth_cache_max_age = Integer(
        10,
        help="Seconds a token's owner and groups are cached before asking the hub again; a hub "
        "group change takes effect within this time. 0 asks the hub on every request.",
    ).tag(config=True)

    creator_group = Unicode(
        help="Hub group whose members may create competitions (hub admins always may). "
        "An empty string lets every hub user create competitions. "
        "Default: $PODIUM_CREATOR_GROUP (set by podium.hub.configure), else podium-creators.",
    ).tag(config=True)

    @default("creator_group")
    def _creator_group_default(self) -> str:
        return os.environ.get("PODIUM_CREATOR_GROUP", "podium-creators")

    queue_organizer_group = Unicode(
        help="Hub group whose members may create compute queues and attach their own workers, "
        "besides hub admins and everyone who may create competitions (creator_group). "
        "An empty string adds nobody. Default: $PODIUM_QUEUE_ORGANIZER_GROUP, else empty.",
    ).tag(config=True)

    @default("queue_organizer_group")
    def _queue_organizer_group_default(self) -> str:
        return os.environ.get("PODIUM_QUEUE_ORGANIZER_GROUP", "")

    default_quotas = Dict(
        {"max_submissions_per_day": 5, "max_submissions": 100, "execution_time_limit": 600},
        help="Defaults for new phases: submissions per UTC day (0: no limit), total submissions "
        "(0: no limit), execution time limit in seconds.",
    ).tag(config=True)

    upload_url_expiry = Integer(
        3600, help="Seconds a signed upload (PUT) URL stays valid."
    ).tag(config=True)

    download_url_expiry = Integer(
        600, help="Seconds a signed download (GET) URL stays valid."
    ).tag(config=True)

    max_upload_size = Integer(
        1024 * 1024 * 1024,
        help="Largest object in bytes anyone may upload (datasets, programs); a phase's "
        "max_submission_size caps submissions further.",
    ).tag(config=True)

    max_request_body = Integer(
        8 * 1024 * 1024,
        help="Largest request body in bytes the API and the pages accept (JSON and forms; files go "
        "to signed upload URLs, capped by max_upload_size). A larger body is refused (413) by its "
        "announced length before the caller is authenticated, or as soon as more arrives.",
    ).tag(config=True)

    default_queue_token = Unicode(
        help="Token of the 'default' compute queue, which workers present to claim jobs. "
        "Default: $PODIUM_QUEUE_TOKEN, else a random token kept in data_dir/default_queue_token."
    ).tag(config=True)

    @default("default_queue_token")
    def _default_queue_token_default(self) -> str:
        return os.environ.get("PODIUM_QUEUE_TOKEN", "")

    worker_broker_url = Unicode(
        help="The broker URL workers are told to use, when it differs from broker_url as seen "
        "from the service (e.g. another host name). Default: broker_url."
    ).tag(config=True)

    lease_seconds = Integer(
        60,
        help="Seconds a worker holds an attempt without a heartbeat; after that the reaper "
        "expires it and queues another attempt. Workers heartbeat every third of it.",
    ).tag(config=True)

    max_attempts = Integer(
        3,
        help="Attempts per step when the platform fails (lost worker, engine error) before the "
        "submission fails as a platform failure, which costs no quota.",
    ).tag(config=True)

    unclaimed_timeout = Integer(
        600,
        help="Seconds a published attempt may wait unclaimed before it is published again. It is "
        "failed (as a platform failure, which costs no quota) only once published max_attempts "
        "times while no worker of its queue claimed or heartbeat for max_attempts times this long: "
        "submissions wait behind busy workers as long as a rush lasts.",
    ).tag(config=True)

    reaper_interval = Float(
        10.0, help="Seconds between reaper runs (expired leases, unclaimed attempts, abandoned uploads)."
    ).tag(config=True)

    dispatch_interval = Float(
        2.0, help="Seconds between retries of publishing pending outbox messages to the broker."
    ).tag(config=True)

    metrics_token = Unicode(
        help="Bearer token a Prometheus server sends to read <base_url>metrics "
        "('Authorization: Bearer <token>'); hub admins' own tokens are always accepted. An empty "
        "string (the default, unless $PODIUM_METRICS_TOKEN is set) accepts only hub admins."
    ).tag(config=True)

    @default("metrics_token")
    def _metrics_token_default(self) -> str:
        return os.environ.get("PODIUM_METRICS_TOKEN", "")

    aliases = {
        "config": "PodiumService.config_file",
        "db-url": "PodiumService.db_url",
        "port": "PodiumService.port",
        "ip": "PodiumService.ip",
        "data-dir": "PodiumService.data_dir",
        "public-url": "PodiumService.public_url",
        "log-level": "Application.log_level",
    }
    flags = {
        "upgrade-db": ({"PodiumService": {"upgrade_db": True}}, "Run migrations at startup."),
    }

    def initialize(self, argv: list[str] | None = None) -> None:
        super().initialize(argv)
        if self.config_file and os.path.exists(self.config_file):
            self.load_config_file(self.config_file)
            # the command line wins over the file
            if argv:
                self.parse_command_line(argv)
        self.init_logging()
        self.init_db()
        try:
            self.init_storage()
        except StorageMisconfigured as e:
            self.log.critical("%s", e.message)  # one sentence naming the setting, no traceback
            self.exit(1)
        self.init_auth()
        self.init_jobs()
        self.init_monitoring()
        self.init_tornado()

    def init_logging(self) -> None:
        self.log.setLevel(self.log_level)
        logging.getLogger("tornado.access").setLevel(self.log_level)

    def init_db(self) -> None:
        if self.db_url.startswith("sqlite"):
            os.makedirs(self.data_dir, exist_ok=True)
        self.engine = db.make_engine(self.db_url)
        self.reads = db.ReadConnections(db.make_read_engine(self.db_url))
        if self.upgrade_db:
            db.upgrade(self.db_url)
        db.check_schema(self.engine)
        self.session_factory = db.make_session_factory(self.engine)

    def init_storage(self) -> None:
        """The storage backend, checked: a bucket or container that cannot be used stops the start
        with StorageMisconfigured, whose message names the setting."""
        self.signer = UrlSigner(self.secret_key.encode())
        self.storage = make_storage(self)

    def init_auth(self) -> None:
        self.hub = HubClient(self.hub_api_url, self.hub_api_token, cache_max_age=self.auth_cache_max_age)
        self.authenticator = HubTokenAuthenticator(self.hub, {f"access:services!service={self.service_name}"})
        self.hub_login = web.HubLogin.from_app(self, self.hub)  # browser logins for the web pages

    def init_jobs(self) -> None:
        from .compute import queues as queues
        from .compute.dispatch import Dispatcher
        from .compute.limits import Limits

        with self.session_factory() as session:
            self.queue_token = queues.ensure_default_queue(session, self.data_dir, self.default_queue_token)
        self.job_limits = Limits(
            lease_seconds=self.lease_seconds,
            max_attempts=self.max_attempts,
            unclaimed_timeout=self.unclaimed_timeout,
            url_expiry=self.upload_url_expiry,
            abandoned_upload_timeout=self.upload_url_expiry + 300,
        )
        self.dispatcher = Dispatcher(self.broker_url, self.data_dir, self.session_factory)

    def init_monitoring(self) -> None:
        """The metrics registry (database state read at scrape time, this process's own timings)
        and the health checks of the parts the service needs."""
        from .monitoring.database_metrics import DatabaseCollector
        from .monitoring.health import HealthChecks, check_broker, check_database, check_storage
        from .monitoring.process_metrics import ProcessMetrics

        self.metrics = ProcessMetrics()
        self.metrics.registry.register(DatabaseCollector(self.session_factory))
        self.health = HealthChecks({
            "database": lambda: check_database(self.engine),
            "broker": lambda: check_broker(self.dispatcher.celery.connection_for_write),
            "storage": lambda: check_storage(self.storage),
        })

    def reap(self) -> None:
        """One reaper pass (in a thread: it touches the database)."""
        from .competitions import phase_migration as migration
        from .compute import reaper

        with self.session_factory() as session:
            migrated = migration.migrate_due_phases(session)
            result = reaper.reap(session, self.job_limits)
            session.commit()
        if migrated:
            self.log.info("Auto-migration queued %d submission(s)", len(migrated))
        if result.expired or result.republished or result.abandoned:
            self.log.warning("Reaper: %s", result)
        self.dispatcher.kick()

    def start_background(self) -> None:
        """Timers on the current IOLoop: publish the outbox, run the reaper."""
        loop = tornado.ioloop.IOLoop.current()

        def in_thread(fn):
            return lambda: loop.run_in_executor(self.dispatcher.pool, fn)

        self.timers = [
            tornado.ioloop.PeriodicCallback(self.dispatcher.kick, self.dispatch_interval * 1000),
            tornado.ioloop.PeriodicCallback(in_thread(self.reap), self.reaper_interval * 1000),
        ]
        self.timers.append(self.metrics.lag_monitor)
        for timer in self.timers:
            timer.start()
        self.dispatcher.kick()

    def init_tornado(self) -> None:
        from .routes import build_handlers

        self.tornado_settings = {
            "podium": self,
            "podium_storage": self.storage,
            "podium_upload_gate": self.check_upload_purpose,
            "log_function": self._log_request,
            "xsrf_cookies": False,  # the web pages' forms check their login's XSRF token themselves
            "cookie_secret": web.cookie_secret(self.secret_key),
            "serve_traceback": False,
        }
        handlers = build_handlers(self.base_url)
        self.metrics.name_routes(handlers)
        self.tornado_app = tornado.web.Application(handlers, **self.tornado_settings)

    def check_upload_purpose(self, key: str) -> None:
        """Raise UploadClosed when a signed upload link to ``key`` has outlived its purpose."""
        with self.session_factory() as session:
            refusal = upload_gate.upload_refusal(session, key)
        if refusal is not None:
            raise refusal

    def _log_request(self, handler: tornado.web.RequestHandler) -> None:
        self.metrics.observe_request(handler)
        status = handler.get_status()
        level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
        self.log.log(
            level,
            "%d %s %s %.1fms",
            status,
            handler.request.method,
            handler.request.uri.split("?")[0],
            1000.0 * handler.request.request_time(),
        )

    def listen(self) -> tornado.httpserver.HTTPServer:
        """Bind the HTTP server. No request body may be larger than ``max_request_body``, except
        an upload to a signed storage URL, whose handler raises the cap for its own request once
        the signature is checked (and counts the bytes against the link's own cap)."""
        server = tornado.httpserver.HTTPServer(
            self.tornado_app, max_body_size=self.max_request_body, xheaders=True
        )
        server.listen(self.port, self.ip)
        return server

    def start(self) -> None:
        self.http_server = self.listen()
        self.start_background()
        self.log.info("Podium service listening on http://%s:%d%s", self.ip, self.port, self.base_url)
        loop = tornado.ioloop.IOLoop.current()

        def _stop(signum, _frame) -> None:
            self.log.info("Stopping on signal %d", signum)
            loop.add_callback_from_signal(self.stop)

        # stop promptly on SIGINT/SIGTERM, so hub restarts don't collide on ports
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        loop.start()

    def stop(self) -> None:
        for timer in getattr(self, "timers", []):
            timer.stop()
        self.http_server.stop()
        tornado.ioloop.IOLoop.current().stop()
        self.engine.dispose()
        self.reads.dispose()
        self.hub.close()
        self.health.close()


main = PodiumService.launch_instance
