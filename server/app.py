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
import socket
import sys
import threading
from urllib.parse import urlparse

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web
from traitlets import Bool, Dict, Float, Integer, Unicode, default
from traitlets.config import Application

from . import db, run_once, upload_gate, web
from .auth.hubclient import HubClient
from .auth.identity import HubTokenAuthenticator
from .compute.broker_accounts import ManagementAPI, QueueBrokers
from .compute.queues import RememberedTokens
from .errors import BrokerAccountError, StorageMisconfigured, UploadClosed
from .leaderboards.changes import ChangeFeed
from .leaderboards.ranking_process import RankingProcess
from .leaderboards.reads import RememberedAccess
from .leaderboards.store import PAGES as leaderboard_pages
from .leaderboards.store import RANKING_PROCESS
from .offloop import DatabasePool, LoopGuard, tune_collector
from .processes import cores, fork_children
from .secret_files import read_or_create
from .storage import LocalStorage, Storage, UrlSigner
from .storage.azure import AzureConfig
from .storage.factory import STORAGE_ALIASES, StorageType, make_storage
from .storage.s3 import S3Config
from .submissions.listing_cache import SubmissionPages


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
        "(postgresql://user@host/db), served by psycopg 3 whichever driver the URL names: "
        "postgresql+psycopg2:// URLs from earlier configurations keep working. Default: "
        "$PODIUM_DB_URL or a SQLite file in data_dir."
    ).tag(config=True)

    @default("db_url")
    def _db_url_default(self) -> str:
        return _env("PODIUM_DB_URL", f"sqlite:///{os.path.join(self.data_dir, 'podium.sqlite')}")

    db_prepare_threshold = Integer(
        allow_none=True,
        help="PostgreSQL: executions of the same statement on one database connection after which "
        "it is prepared on the server, so that PostgreSQL plans it once per connection instead of "
        "on every request (psycopg's prepare_threshold). 0 or None never prepares: set it so behind "
        "PgBouncer in transaction mode when it does not track prepared statements (before 1.21, "
        "or max_prepared_statements = 0), where the next statement may run on another server "
        "connection. Default: $PODIUM_DB_PREPARE_THRESHOLD, else 5.",
    ).tag(config=True)

    @default("db_prepare_threshold")
    def _db_prepare_threshold_default(self) -> int:
        return int(_env("PODIUM_DB_PREPARE_THRESHOLD", str(db.PREPARE_THRESHOLD)))

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
        return read_or_create(os.path.join(self.data_dir, "secret_key"), lambda: secrets.token_hex(32))

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

    database_threads = Integer(
        10,
        help="Threads that run the API's database work off the event loop (one request's work at "
        "a time each); a slow query holds one of them, not the service. Keep it at or below the "
        "database connection pool (10 connections plus 20 overflow per process).",
    ).tag(config=True)

    gil_switch_interval = Float(
        0.0005,
        help="Seconds a thread runs Python before the interpreter lets another take a turn "
        "(sys.setswitchinterval; Python's default is 0.005). The event loop's thread waits up to "
        "this long for each turn while a database thread ranks a large leaderboard, several times "
        "per request: shorter keeps reads quick during a rebuild (bench B9).",
    ).tag(config=True)

    rebuild_in_child_process_above = Integer(
        20_000,
        help="A leaderboard ranked again from scratch after its definition or its phase's rule "
        "changed is read and ranked in a child process when the phase has more finished "
        "submissions than this, so the service's threads keep the Python interpreter for other "
        "requests meanwhile (bench B9); the child returns about one entry per participant or team, "
        "which the service stores in the request's own transaction. The child is started for "
        "the rebuild (about a second), runs at a lower CPU priority (nice 10) and exits after it, "
        "so no memory stays behind. PostgreSQL only, and not for the 'all' rule (an entry per submission): those rank in "
        "the service's database thread, as do smaller phases. 0 ranks every leaderboard in the "
        "service's own threads.",
    ).tag(config=True)

    leaderboard_page_cache = Integer(
        256,
        min=0,
        help="Leaderboard pages each service process keeps in memory, as their JSON text (about "
        "20 KB for a page of 100 entries), the least recently read out first: a kept page is "
        "answered without a database round trip until a score or a setting changes it (bench B2). "
        "Each process holds its own, so this bounds memory per process (bench B7). 0 keeps none.",
    ).tag(config=True)

    my_submissions_cache_bytes = Integer(
        8 * 1024 * 1024,
        min=0,
        help="Bytes of 'my submissions' pages each service process keeps in memory (PostgreSQL "
        "only), the least recently read out first; a page is answered from memory until one of "
        "the user's submissions changes (bench B8). A page larger than an eighth of this is never "
        "kept. 0 keeps none.",
    ).tag(config=True)

    remembered_leaderboard_readers = Integer(
        20_000,
        min=0,
        help="Readers of a leaderboard (a user and a phase) whose access each service process "
        "remembers (a row of the database's facts: registration, team, the phase's visibility), "
        "so that reading a kept page costs no database round trip; the least recently seen out "
        "first, and every one forgotten at any change to those facts. 0 remembers none.",
    ).tag(config=True)

    refuse_database_on_loop = Bool(
        False,
        help="Raise instead of logging when a database statement runs on the event loop's thread "
        "(a path that skipped the database pool). The tests turn it on so such a path fails loudly.",
    ).tag(config=True)

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

    upload_part_size = Integer(
        16 * 1024 * 1024,
        help="Preferred size in bytes of each part of an upload in parts (large and resumable "
        "uploads). Raised to 5 MiB (S3's floor) and to what keeps a file within 10,000 parts. "
        "Changing it makes uploads in progress send their parts again.",
    ).tag(config=True)

    abandoned_part_upload_age = Integer(
        2 * 24 * 3600,
        help="Seconds after its start an upload in parts that was never completed is abandoned: "
        "its parts are dropped (S3: the multipart upload aborted; Azure: its uncommitted blocks "
        "discarded; local: its chunks deleted). Long enough for the slowest large upload to finish.",
    ).tag(config=True)

    part_upload_cleanup_interval = Float(
        3600.0, help="Seconds between two passes of the cleanup of abandoned uploads in parts."
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
        "from the service (e.g. another host name). Default: broker_url. With a management API "
        "(broker_management_url) workers get their queue's own user and virtual host instead, on "
        "worker_broker_host and worker_broker_port."
    ).tag(config=True)

    broker_management_url = Unicode(
        help="URL of RabbitMQ's management HTTP API, e.g. http://127.0.0.1:15672 (the "
        "rabbitmq_management plugin). When set, each compute queue gets its own virtual host and "
        "broker user, made and removed through it: a queue's workers receive only their queue's "
        "credentials and the broker refuses them every other queue. Empty (the default, unless "
        "$PODIUM_BROKER_MANAGEMENT_URL is set): every queue shares broker_url's virtual host and "
        "workers are handed broker_url (or worker_broker_url) itself."
    ).tag(config=True)

    @default("broker_management_url")
    def _broker_management_url_default(self) -> str:
        return os.environ.get("PODIUM_BROKER_MANAGEMENT_URL", "")

    broker_management_user = Unicode(
        help="User of the management API (needs the 'administrator' tag). Default: "
        "$PODIUM_BROKER_MANAGEMENT_USER, else broker_url's user."
    ).tag(config=True)

    @default("broker_management_user")
    def _broker_management_user_default(self) -> str:
        return os.environ.get("PODIUM_BROKER_MANAGEMENT_USER") or urlparse(self.broker_url).username or "guest"

    broker_management_password = Unicode(
        help="Password of broker_management_user. Default: $PODIUM_BROKER_MANAGEMENT_PASSWORD, else "
        "broker_url's password."
    ).tag(config=True)

    @default("broker_management_password")
    def _broker_management_password_default(self) -> str:
        return os.environ.get("PODIUM_BROKER_MANAGEMENT_PASSWORD") or urlparse(self.broker_url).password or "guest"

    broker_vhost_prefix = Unicode(
        "podium-",
        help="Prefix of each compute queue's virtual host and broker user name (queue 'gpu' → "
        "'podium-gpu'), with a management API. Changing it gives every queue a new account at the "
        "next start; remove the old ones by hand.",
    ).tag(config=True)

    worker_broker_host = Unicode(
        help="Broker host name workers are told to connect to, with a management API (a worker on "
        "another machine cannot use 127.0.0.1). Default: $PODIUM_WORKER_BROKER_HOST, else the host of "
        "worker_broker_url, else of broker_url."
    ).tag(config=True)

    @default("worker_broker_host")
    def _worker_broker_host_default(self) -> str:
        return os.environ.get("PODIUM_WORKER_BROKER_HOST", "")

    worker_broker_port = Integer(
        0,
        help="Broker port workers are told to connect to, with a management API. 0 (the default): "
        "the port of worker_broker_url, else of broker_url.",
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
        2.0, help="Seconds between retries of publishing pending outbox messages to the broker. A "
        "message is left to the process that wrote it for this long (it publishes it right after "
        "its commit) before any process's retry takes it."
    ).tag(config=True)

    metrics_token = Unicode(
        help="Bearer token a Prometheus server sends to read <base_url>metrics "
        "('Authorization: Bearer <token>'); hub admins' own tokens are always accepted. An empty "
        "string (the default, unless $PODIUM_METRICS_TOKEN is set) accepts only hub admins."
    ).tag(config=True)

    @default("metrics_token")
    def _metrics_token_default(self) -> str:
        return os.environ.get("PODIUM_METRICS_TOKEN", "")

    processes = Integer(
        0,
        help="Service processes serving the port, forked after the configuration is checked and "
        "sharing its socket; each opens its own database and broker connections. 0 (the default) "
        "starts one per core; 1 keeps everything in one process. With SQLite (the embedded "
        "default) the service always runs one process, and says so in its log.",
    ).tag(config=True)

    reuse_port = Bool(
        False,
        help="Listen with SO_REUSEPORT, so that other service commands on this host (started "
        "with the same option, by the same user) can serve the same port; the kernel spreads "
        "new connections among them.",
    ).tag(config=True)

    lti_platforms = Dict(
        help="LTI 1.3 platforms (LMSs) this tool is registered with, by issuer: {issuer: {'client_id', "
        "'auth_login_url' (the OIDC authorization endpoint), 'auth_token_url', 'key_set_url' (the "
        "platform's JWKS), 'deployment_ids': [...]}}, the values the LMS shows when the tool is "
        "registered. Empty (the default): LTI is off."
    ).tag(config=True)

    lti_private_key_file = Unicode(
        help="PEM file of the tool's RSA private key, which signs its messages to the LMS; its public "
        "half is served at <base_url>lti/jwks. Made on first use if missing. Every replica must share "
        "it. Default: data_dir/lti-private-key.pem."
    ).tag(config=True)

    @default("lti_private_key_file")
    def _lti_private_key_file_default(self) -> str:
        return os.path.join(self.data_dir, "lti-private-key.pem")

    lti_username_claim = Unicode(
        "email",
        help="The id_token claim that names the hub user of an LTI launch (lowercased). Set it to the "
        "same claim as the hub's LTI13Authenticator.username_key, so that the student who launches "
        "from the course is the hub user who submitted. Default: email.",
    ).tag(config=True)

    aliases = {
        "config": "PodiumService.config_file",
        "processes": "PodiumService.processes",
        "db-url": "PodiumService.db_url",
        "port": "PodiumService.port",
        "ip": "PodiumService.ip",
        "data-dir": "PodiumService.data_dir",
        "public-url": "PodiumService.public_url",
        "log-level": "Application.log_level",
    }
    flags = {
        "upgrade-db": ({"PodiumService": {"upgrade_db": True}}, "Run migrations at startup."),
        "reuse-port": ({"PodiumService": {"reuse_port": True}}, "Listen with SO_REUSEPORT."),
    }

    def initialize(self, argv: list[str] | None = None) -> None:
        super().initialize(argv)
        if self.config_file and os.path.exists(self.config_file):
            self.load_config_file(self.config_file)
            # the command line wins over the file
            if argv:
                self.parse_command_line(argv)
        self.init_logging()
        self.init_connected()

    def init_connected(self) -> None:
        """Every part that opens connections: once in the command's process (which checks the
        configuration, the schema and the storage), and again in each forked process."""
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
        self.engine = db.make_engine(self.db_url, prepare_threshold=self.db_prepare_threshold)
        self.reads = db.ReadConnections(db.make_read_engine(self.db_url, prepare_threshold=self.db_prepare_threshold))
        if self.upgrade_db:
            db.upgrade(self.db_url)
        db.check_schema(self.engine)
        self.ranking_process = RankingProcess(self.rebuild_in_child_process_above)
        self.session_factory = db.make_session_factory(self.engine, info={RANKING_PROCESS: self.ranking_process})
        self.database_pool = DatabasePool(self.database_threads)
        self.loop_guard = LoopGuard(strict=self.refuse_database_on_loop)
        for engine in (self.engine, self.reads.engine):
            self.loop_guard.watch(engine)
        self.changes = ChangeFeed()
        self.changes.watch(self.engine)
        # the page cache is the module's (its readers have no service at hand): one service per process
        leaderboard_pages.resize(self.leaderboard_page_cache)
        self.leaderboard_access = RememberedAccess(self.reads, self.changes, size=self.remembered_leaderboard_readers)
        self.worker_tokens = RememberedTokens(self.changes)
        self.submission_pages = SubmissionPages(self.changes, enabled=self.engine.dialect.name == "postgresql",
                                                max_bytes=self.my_submissions_cache_bytes)
        self.submission_pages.track(self.session_factory)
        self.changes.on_submissions = self.submission_pages.notified

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

        self.brokers = self.make_queue_brokers()
        with self.session_factory() as session:
            self.queue_token = queues.ensure_default_queue(session, self.data_dir, self.default_queue_token)
            if self.brokers.isolated:
                try:
                    queues.ensure_broker_accounts(session, self.brokers)
                except BrokerAccountError as e:
                    self.log.critical("%s", e.message)
                    self.exit(1)
        self.job_limits = Limits(
            lease_seconds=self.lease_seconds,
            max_attempts=self.max_attempts,
            unclaimed_timeout=self.unclaimed_timeout,
            url_expiry=self.upload_url_expiry,
            abandoned_upload_timeout=self.upload_url_expiry + 300,
        )
        self.dispatcher = Dispatcher(self.broker_url, self.data_dir, self.session_factory,
                                     route=self.brokers.publish_url, fresh_for=self.dispatch_interval)

    def make_queue_brokers(self) -> QueueBrokers:
        """Where each queue's messages go: its own virtual host when a management API is set."""
        management = None
        if self.broker_management_url:
            management = ManagementAPI(self.broker_management_url, self.broker_management_user,
                                       self.broker_management_password)
        return QueueBrokers(self.broker_url, management, prefix=self.broker_vhost_prefix,
                            worker_host=self.worker_broker_host, worker_port=self.worker_broker_port,
                            worker_broker_url=self.worker_broker_url)

    def init_monitoring(self) -> None:
        """The metrics registry (database state read at scrape time, this process's own timings)
        and the health checks of the parts the service needs."""
        from .monitoring.database_metrics import DatabaseCollector
        from .monitoring.health import HealthChecks, check_broker, check_database, check_storage
        from .monitoring.process_metrics import (
            LeaderboardRebuilds,
            ProcessMetrics,
            StatementsOnLoop,
        )

        self.metrics = ProcessMetrics()
        self.metrics.registry.register(DatabaseCollector(self.session_factory))
        self.metrics.registry.register(StatementsOnLoop(self.loop_guard))
        self.metrics.registry.register(LeaderboardRebuilds(self.ranking_process))
        self.health = HealthChecks({
            "database": lambda: check_database(self.engine),
            "broker": lambda: check_broker(self.dispatcher.celery.connection_for_write),
            "storage": lambda: check_storage(self.storage),
        })

    def reap(self) -> None:
        """One reaper pass (in a thread: it touches the database)."""
        from .classroom import reveal
        from .clock import utcnow
        from .competitions import phase_migration as migration
        from .compute import reaper
        from .lti.grades import send_grades_at_reveal_logged

        with self.session_factory() as session:
            if not run_once.hold(session, "reaper"):
                return  # another process or replica is running this pass
            migrated = migration.migrate_due_phases(session)
            result = reaper.reap(session, self.job_limits)
            revealed = reveal.record_due_reveals(session, utcnow())
            session.commit()
        for phase_id in revealed:  # a reveal by date sends the grades as the organizer's button does
            send_grades_at_reveal_logged(self, phase_id)
        if migrated:
            self.log.info("Auto-migration queued %d submission(s)", len(migrated))
        if result.expired or result.republished or result.abandoned:
            self.log.warning("Reaper: %s", result)
        self.dispatcher.kick()

    def clean_abandoned_part_uploads(self) -> list[str]:
        """One pass of the cleanup of abandoned uploads in parts (in a thread: it calls the storage)."""
        from .part_uploads import clean_abandoned

        return clean_abandoned(self.storage, self.abandoned_part_upload_age, self.log)

    def start_background(self) -> None:
        """Timers on the current IOLoop: publish the outbox, run the reaper."""
        loop = tornado.ioloop.IOLoop.current()
        self.loop_guard.loop_thread = threading.get_ident()
        self.changes.start(self.engine)

        def in_thread(fn):
            return lambda: loop.run_in_executor(self.dispatcher.pool, fn)

        self.timers = [
            tornado.ioloop.PeriodicCallback(self.dispatcher.kick, self.dispatch_interval * 1000),
            tornado.ioloop.PeriodicCallback(in_thread(self.reap), self.reaper_interval * 1000),
            tornado.ioloop.PeriodicCallback(
                in_thread(self.clean_abandoned_part_uploads), self.part_upload_cleanup_interval * 1000
            ),
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

    async def check_upload_purpose(self, key: str) -> None:
        """Raise UploadClosed when a signed upload link to ``key`` has outlived its purpose (the
        lookup in the database pool, off the event loop)."""

        def refusal_of_key() -> UploadClosed | None:
            with self.session_factory() as session:
                return upload_gate.upload_refusal(session, key)

        refusal = await self.database_pool.run(refusal_of_key)
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

    def listen(self, sockets: list[socket.socket] | None = None) -> tornado.httpserver.HTTPServer:
        """Serve on ``sockets`` (bound before a fork), else bind the port. No request body may be
        larger than ``max_request_body``, except an upload to a signed storage URL, whose handler
        raises the cap for its own request once the signature is checked (and counts the bytes
        against the link's own cap)."""
        server = tornado.httpserver.HTTPServer(
            self.tornado_app, max_body_size=self.max_request_body, xheaders=True
        )
        if sockets is None:
            sockets = tornado.netutil.bind_sockets(self.port, self.ip, reuse_port=self.reuse_port)
        server.add_sockets(sockets)
        return server

    def process_count(self) -> int:
        """How many processes serve the port: ``processes`` (0: one per core), but one on SQLite."""
        wanted = self.processes or cores()
        if wanted > 1 and self.engine.dialect.name == "sqlite":
            self.log.warning("SQLite takes one writer at a time: serving from 1 process, not %d "
                             "(several processes and replicas need PostgreSQL)", wanted)
            return 1
        return max(1, wanted)

    def close_connections(self) -> None:
        """Close everything that holds a connection, before forking (each child opens its own)."""
        self.dispatcher.close()
        self.database_pool.shutdown()
        self.ranking_process.stop()
        self.engine.dispose()
        self.reads.dispose()
        self.hub.close()
        self.health.close()

    def start(self) -> None:
        sys.setswitchinterval(self.gil_switch_interval)
        tune_collector()
        count = self.process_count()
        sockets = tornado.netutil.bind_sockets(self.port, self.ip, reuse_port=self.reuse_port)
        if count > 1:
            self.close_connections()
            index = fork_children(count, self.log)
            if index is None:
                self.log.info("Every service process has ended")
                return
            self.upgrade_db = False  # the command's process migrated, if asked
            self.init_connected()
            self.log.info("Service process %d of %d (pid %d)", index + 1, count, os.getpid())
        self.http_server = self.listen(sockets)
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
        self.database_pool.shutdown()
        self.ranking_process.stop()
        self.changes.stop()
        self.engine.dispose()
        self.reads.dispose()
        self.hub.close()
        self.health.close()


main = PodiumService.launch_instance
