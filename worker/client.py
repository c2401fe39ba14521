"""The worker's side of the job protocol, over HTTP with its queue's token.

Workers hold no database credentials: they claim attempts, renew leases, download inputs and
upload outputs through signed URLs, and report results, all through the service.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import requests

from .errors import DownloadError, LeaseLost, ProtocolError

CHUNK = 1024 * 1024


class ServiceClient:
    def __init__(self, service_url: str, token: str, worker_name: str, timeout: float = 30) -> None:
        self.api = service_url.rstrip("/") + "/api/v1"
        self.worker_name = worker_name
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.http.post(self.api + path, json=body, timeout=self.timeout)
        except requests.RequestException as e:
            raise ProtocolError(f"the service did not answer: {e}") from None
        if response.status_code == 409:
            raise LeaseLost(response.json()["error"]["message"], 409)
        if response.status_code >= 400:
            raise ProtocolError(f"POST {path} → {response.status_code}: {response.text[:300]}", response.status_code)
        return response.json()

    def config(self) -> dict[str, Any]:
        response = self.http.get(self.api + "/worker/config", timeout=self.timeout)
        if response.status_code != 200:
            raise ProtocolError(f"the service refused this worker's token ({response.status_code}): {response.text[:300]}",
                                response.status_code)
        return response.json()

    def claim(self, attempt_id: int, hostname: str) -> dict[str, Any]:
        return self._post(f"/worker/attempts/{attempt_id}/claim", {"worker": self.worker_name, "hostname": hostname})

    def heartbeat(self, attempt_id: int) -> dict[str, Any]:
        return self._post(f"/worker/attempts/{attempt_id}/heartbeat", {"worker": self.worker_name})

    def finish(self, attempt_id: int, report: dict[str, Any]) -> dict[str, Any]:
        return self._post(f"/worker/attempts/{attempt_id}/finish", {"worker": self.worker_name, **report})

    def download(self, spec: dict[str, Any], dest: str) -> None:
        """Fetch a signed GET URL into ``dest`` and verify its sha256 and size."""
        digest = hashlib.sha256()
        size = 0
        try:
            with self.http.get(spec["url"], stream=True, timeout=self.timeout, headers={"Authorization": ""}) as r:
                if r.status_code != 200:
                    raise DownloadError(f"download refused ({r.status_code})", r.status_code)
                with open(dest, "wb") as out:
                    for chunk in r.iter_content(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
        except requests.RequestException as e:
            raise DownloadError(f"download failed: {e}") from None
        if digest.hexdigest() != spec.get("sha256") or (spec.get("size") is not None and size != spec["size"]):
            os.remove(dest)
            raise DownloadError("a downloaded input does not match its checksum")

    def upload(self, spec: dict[str, Any], path: str) -> None:
        size = os.path.getsize(path)
        if size > spec.get("max_size", size):
            raise ProtocolError(f"{os.path.basename(path)} is {size} bytes, over the {spec['max_size']} allowed")
        with open(path, "rb") as f:
            try:
                r = self.http.put(spec["url"], data=f, timeout=max(self.timeout, 300), headers={"Authorization": ""})
            except requests.RequestException as e:
                raise ProtocolError(f"upload failed: {e}") from None
        if r.status_code != 200:
            raise ProtocolError(f"upload refused ({r.status_code}): {r.text[:200]}", r.status_code)
