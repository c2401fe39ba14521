"""The worker's side of the job protocol, over HTTP with its queue's token.

Workers hold no database credentials: they claim attempts, renew leases, download inputs and
upload outputs through signed URLs, and report results, all through the service. The messages
are ``protocol``'s; every claim carries the worker's protocol version.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from importlib import metadata
from typing import Any

import requests
import urllib3

from .errors import DownloadError, LeaseLost, ProtocolError, ProtocolMismatch
from .protocol import (
    LIVE_LOG_CHARS,
    PROTOCOL_VERSION,
    AttemptReport,
    ClaimRequest,
    FinishAnswer,
    FinishRequest,
    HeartbeatAnswer,
    HeartbeatRequest,
    JobInput,
    JobSpec,
    OutputSlot,
    WorkerConfig,
    WorkerStatus,
    WorkerStatusAnswer,
    mismatch_message,
)
from .redaction import without_urls

CHUNK = 1024 * 1024


@cache
def package_version() -> str:
    """The installed jupyter-podium's version, which the worker tells the service."""
    try:
        return metadata.version("jupyter-podium")
    except metadata.PackageNotFoundError:
        return "unknown"


class ServiceConnection:
    """The job protocol's calls to the service: JSON over kept-alive connections to one URL.

    ``requests`` decides once how to reach the service, as it would for each call (a proxy from
    ``HTTPS_PROXY``/``NO_PROXY``, the CA bundle from ``REQUESTS_CA_BUNDLE``); each call then
    goes to that urllib3 pool directly, with requests' own settings (no retry once a request is
    sent, no redirect). Its per-call work (merging the environment's settings, cookies, hooks,
    the response object) was 1.4 ms of the 2.3 a claim spent in the worker before reaching the
    service, on the path from a job's publish to its claim (bench B6)."""

    def __init__(self, session: requests.Session, base_url: str, token: str, timeout: float) -> None:
        probe = session.prepare_request(requests.Request("POST", base_url))
        settings = session.merge_environment_settings(probe.url, {}, None, None, None)
        adapter = session.get_adapter(probe.url)
        assert isinstance(adapter, requests.adapters.HTTPAdapter)
        self.pool = adapter.get_connection_with_tls_context(probe, settings["verify"], settings["proxies"],
                                                           settings["cert"])
        adapter.cert_verify(self.pool, probe.url, settings["verify"], settings["cert"])
        self.prefix = adapter.request_url(probe, settings["proxies"]).rstrip("/")
        self.headers = {**probe.headers, "Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        self.headers.pop("Content-Length", None)
        self.retries = adapter.max_retries
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """The status and body of ``method path`` (a JSON ``body`` when given); ``ProtocolError``
        when the service cannot be reached or does not answer in time."""
        try:
            response = self.pool.urlopen(method, self.prefix + path, body=None if body is None else json.dumps(body).encode(),
                                         headers=self.headers, redirect=False, assert_same_host=False,
                                         retries=self.retries, timeout=self.timeout)
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise ProtocolError(f"the service did not answer: {e}") from None
        return response.status, response.data


def _excerpt(data: bytes) -> str:
    """The start of an answer's body, for an error message."""
    return data[:300].decode(errors="replace")


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise ProtocolError(f"the service answered something else than JSON: {data[:300]!r}") from None


class ServiceClient:
    def __init__(self, service_url: str, token: str, worker_name: str, timeout: float = 30,
                 protocol_version: int = PROTOCOL_VERSION) -> None:
        self.api = service_url.rstrip("/") + "/api/v1"
        self.worker_name = worker_name
        self.timeout = timeout
        self.protocol_version = protocol_version
        # downloads and uploads (signed storage URLs, streamed), which never carry the queue's
        # token; the service's calls, which do, go through ``service``
        self.http = requests.Session()
        self.service = ServiceConnection(self.http, self.api, token, timeout)

    def _post(self, path: str, body: Any) -> Any:
        status, data = self.service.call("POST", path, body)
        if status == 409:
            raise LeaseLost(_json(data)["error"]["message"], 409)
        if status == 426:
            try:
                message = json.loads(data)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = f"the service refused this worker's job protocol {self.protocol_version}: {_excerpt(data)}"
            raise ProtocolMismatch(message)
        if status >= 400:
            raise ProtocolError(f"POST {path} → {status}: {_excerpt(data)}", status)
        return _json(data)

    def config(self) -> WorkerConfig:
        """The queue's settings; ``ProtocolMismatch`` when the service announces job protocols this
        worker does not speak (a service from before versions announces none)."""
        status, data = self.service.call("GET", "/worker/config")
        if status != 200:
            raise ProtocolError(f"the service refused this worker's token ({status}): {_excerpt(data)}", status)
        config: WorkerConfig = _json(data)
        if "protocol" in config:
            problem = mismatch_message(self.protocol_version, config.get("oldest_protocol", config["protocol"]),
                                       config["protocol"])
            if problem is not None:
                raise ProtocolMismatch(problem)
        return config

    def claim(self, attempt_id: int, hostname: str) -> JobSpec:
        body = ClaimRequest(worker=self.worker_name, hostname=hostname, protocol=self.protocol_version,
                            version=package_version())
        return self._post(f"/worker/attempts/{attempt_id}/claim", body)  # type: ignore[return-value]

    def status(self, hostname: str, cannot_work: str | None) -> WorkerStatusAnswer | None:
        """Tell the service this worker is alive, its version, and why it takes no job (None: it
        does); None when the service predates this message (404)."""
        body = WorkerStatus(worker=self.worker_name, hostname=hostname, protocol=self.protocol_version,
                            version=package_version(), cannot_work=cannot_work)
        try:
            return self._post("/worker/status", body)  # type: ignore[no-any-return]
        except ProtocolError as e:
            if e.status == 404:
                return None
            raise

    def heartbeat(self, attempt_id: int, log_tail: str | None = None) -> HeartbeatAnswer:
        body = HeartbeatRequest(worker=self.worker_name)
        if log_tail is not None:
            body["log_tail"] = log_tail[-LIVE_LOG_CHARS:]
        return self._post(f"/worker/attempts/{attempt_id}/heartbeat", body)  # type: ignore[return-value]

    def finish(self, attempt_id: int, report: AttemptReport) -> FinishAnswer:
        body = FinishRequest(worker=self.worker_name, **report)  # type: ignore[typeddict-item]
        return self._post(f"/worker/attempts/{attempt_id}/finish", body)  # type: ignore[return-value]

    def download(self, spec: JobInput, dest: str) -> None:
        """Fetch a signed GET URL into ``dest`` and verify its sha256 and size."""
        digest = hashlib.sha256()
        size = 0
        try:
            with self.http.get(spec["url"], stream=True, timeout=self.timeout, headers=spec.get("headers", {})) as r:
                if r.status_code != 200:
                    raise DownloadError(f"download refused ({r.status_code})", r.status_code)
                with open(dest, "wb") as out:
                    for chunk in r.iter_content(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
        except requests.RequestException as e:
            raise DownloadError(f"download failed: {without_urls(str(e))}") from None
        if digest.hexdigest() != spec.get("sha256") or (spec.get("size") is not None and size != spec["size"]):
            os.remove(dest)
            raise DownloadError("a downloaded input does not match its checksum")

    def upload(self, spec: OutputSlot, path: str) -> None:
        size = os.path.getsize(path)
        if size > spec.get("max_size", size):
            raise ProtocolError(f"{os.path.basename(path)} is {size} bytes, over the {spec['max_size']} allowed")
        with open(path, "rb") as f:
            try:
                r = self.http.put(spec["url"], data=f, timeout=max(self.timeout, 300), headers=spec.get("headers", {}))
            except requests.RequestException as e:
                raise ProtocolError(f"upload failed: {without_urls(str(e))}") from None
        if r.status_code not in (200, 201):  # Azure answers a stored blob with 201
            raise ProtocolError(f"upload refused ({r.status_code}): {without_urls(r.text[:200])}", r.status_code)
