"""A RabbitMQ virtual host and broker user per compute queue, made through the management HTTP API.

With a management API configured (``PodiumService.broker_management_url``), each compute queue
``q`` has a virtual host and a user both named ``<prefix>q``. The queue's user may configure,
write and read that virtual host only, and has no management tag, so a worker holding its
queue's credentials can neither consume nor publish on another queue's virtual host: RabbitMQ
itself answers ACCESS_REFUSED. The service publishes into every queue's virtual host with its own
broker account (the user of ``broker_url``), which is granted each virtual host and whose password
never leaves the service. Re-keying a queue gives its user a new password and closes the user's
open connections, so a worker with the old credentials is refused by the broker at once.

Without a management API (the embedded default, or a broker without the plugin) every queue
shares ``broker_url``'s virtual host and workers are handed that URL, as before.

Errors: every refusal or unreachable API is a ``BrokerAccountError`` naming what was asked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from ..errors import BrokerAccountError

#: seconds one call to the management API may take
MANAGEMENT_TIMEOUT = 10.0
#: the permissions a queue's user (and the service's) has on the queue's virtual host
FULL = {"configure": ".*", "write": ".*", "read": ".*"}


def new_password() -> str:
    return secrets.token_urlsafe(32)


def with_vhost(url: str, vhost: str, user: str | None = None, password: str | None = None,
               host: str | None = None, port: int | None = None) -> str:
    """``url`` pointed at ``vhost``, with its user, password, host or port replaced when given."""
    parts = urlsplit(url)
    user = parts.username if user is None else user
    password = parts.password if password is None else password
    host = host or parts.hostname or "127.0.0.1"
    port = port or parts.port
    auth = ""
    if user is not None:
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password is not None else "") + "@"
    netloc = auth + (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, "/" + quote(vhost, safe=""), parts.query, ""))


class ManagementAPI:
    """The few calls of RabbitMQ's management HTTP API this module needs, as its administrator."""

    def __init__(self, url: str, user: str, password: str, timeout: float = MANAGEMENT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.auth = (user, password)
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None, missing_ok: bool = False,
             what: str = "") -> Any:
        """One call; the JSON answer (None when empty). A 404 is fine when ``missing_ok``."""
        try:
            response = self.http.request(method, self.url + path, json=body, timeout=self.timeout,
                                         headers={"X-Reason": "podium"})
        except requests.RequestException as e:
            where = urlsplit(self.url).netloc.rpartition("@")[2]  # never a password in the message
            raise BrokerAccountError(f"RabbitMQ's management API at {where} cannot be reached to {what}: "
                                     f"{type(e).__name__}.") from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            try:
                reason = response.json().get("reason", "")
            except ValueError:
                reason = response.text[:200]
            raise BrokerAccountError(f"RabbitMQ's management API refused to {what}: {response.status_code} "
                                     f"{reason}".rstrip())
        return response.json() if response.content else None


@dataclass(frozen=True)
class QueueBrokers:
    """Where each compute queue's messages go and what its workers are told.

    ``management`` None means no isolation: one shared virtual host (``broker_url``'s)."""

    broker_url: str
    management: ManagementAPI | None = None
    prefix: str = "podium-"
    worker_host: str = ""
    worker_port: int = 0
    worker_broker_url: str = ""

    @property
    def isolated(self) -> bool:
        return self.management is not None

    def account(self, queue: str) -> str:
        """The virtual host and the user name of a queue (one name for both)."""
        return self.prefix + queue

    @property
    def service_user(self) -> str:
        return urlsplit(self.broker_url).username or "guest"

    # --- URLs ---------------------------------------------------------------------------------

    def publish_url(self, queue: str) -> str:
        """The URL the service publishes a queue's messages to, with its own credentials."""
        return with_vhost(self.broker_url, self.account(queue)) if self.isolated else self.broker_url

    def worker_url(self, queue: str, password: str | None) -> str:
        """The URL a worker of ``queue`` is handed: its queue's own account when isolated."""
        if not self.isolated:
            return self.worker_broker_url or self.broker_url
        if not password:
            raise BrokerAccountError(f"Compute queue '{queue}' has no broker account yet; restart the service "
                                     "or re-key the queue to make one.")
        name = self.account(queue)
        return with_vhost(self.worker_broker_url or self.broker_url, name, user=name, password=password,
                          host=self.worker_host or None, port=self.worker_port or None)

    # --- accounts -----------------------------------------------------------------------------

    def _api(self) -> ManagementAPI:
        assert self.management is not None, "no management API: queues share one virtual host"
        return self.management

    def ensure(self, queue: str, password: str) -> None:
        """Make (or make again, idempotently) a queue's virtual host and user with ``password``,
        and grant the service's own user that virtual host."""
        api, name = self._api(), self.account(queue)
        vhost = quote(name, safe="")
        api.call("PUT", f"/api/vhosts/{vhost}", {}, what=f"create the virtual host '{name}'")
        api.call("PUT", f"/api/users/{quote(name, safe='')}", {"password": password, "tags": ""},
                 what=f"create the broker user '{name}'")
        api.call("PUT", f"/api/permissions/{vhost}/{quote(name, safe='')}", FULL,
                 what=f"grant '{name}' its virtual host")
        service = self.service_user
        if service != name:
            api.call("PUT", f"/api/permissions/{vhost}/{quote(service, safe='')}", FULL,
                     what=f"grant the service's broker user the virtual host '{name}'")

    def rekey(self, queue: str, password: str) -> None:
        """Give a queue's user a new password, then close its open connections (a connection
        outlives a password change otherwise)."""
        api, name = self._api(), self.account(queue)
        api.call("PUT", f"/api/users/{quote(name, safe='')}", {"password": password, "tags": ""},
                 what=f"replace the password of the broker user '{name}'")
        self.close_connections(name)

    def close_connections(self, user: str) -> None:
        """Close every connection of ``user``: by user name (the broker's connection tracking,
        immediate), then any the statistics list still shows (brokers without that endpoint)."""
        api, who = self._api(), quote(user, safe="")
        api.call("DELETE", f"/api/connections/username/{who}", missing_ok=True,
                 what=f"close the connections of '{user}'")
        rows = api.call("GET", "/api/connections?columns=name,user", what="list the broker's connections") or []
        for row in rows:
            if row.get("user") == user:
                api.call("DELETE", f"/api/connections/{quote(row['name'], safe='')}", missing_ok=True,
                         what=f"close a connection of '{user}'")

    def remove(self, queue: str) -> None:
        """Delete a queue's virtual host (and every message in it) and its user; gone is fine."""
        api, name = self._api(), self.account(queue)
        api.call("DELETE", f"/api/vhosts/{quote(name, safe='')}", missing_ok=True,
                 what=f"delete the virtual host '{name}'")
        api.call("DELETE", f"/api/users/{quote(name, safe='')}", missing_ok=True,
                 what=f"delete the broker user '{name}'")
