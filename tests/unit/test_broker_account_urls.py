"""Which broker URL each side gets for a compute queue (pure logic; the accounts themselves are
made against the real management API in tests/service/test_broker_isolation.py)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from podium.server.compute.broker_accounts import ManagementAPI, QueueBrokers, with_vhost
from podium.server.errors import BrokerAccountError

SERVICE = "amqp://podium:service-secret@rabbit.internal:5672/"


def isolated(**kw) -> QueueBrokers:
    return QueueBrokers(SERVICE, ManagementAPI("http://rabbit.internal:15672", "admin", "x"), **kw)


def test_the_service_publishes_to_the_queues_vhost_with_its_own_credentials() -> None:
    url = urlsplit(isolated().publish_url("gpu"))
    assert (url.username, url.password, url.hostname, url.port, url.path) == (
        "podium", "service-secret", "rabbit.internal", 5672, "/podium-gpu")


def test_a_worker_gets_its_queues_account_on_the_host_and_port_workers_use() -> None:
    brokers = isolated(prefix="site-", worker_host="mq.example.org", worker_port=5671)
    url = urlsplit(brokers.worker_url("gpu", "p@ss/w:rd"))
    assert (url.username, unquote(url.password), url.hostname, url.port, url.path) == (
        "site-gpu", "p@ss/w:rd", "mq.example.org", 5671, "/site-gpu")
    assert "service-secret" not in brokers.worker_url("gpu", "p")


def test_without_a_password_yet_a_worker_is_told_so() -> None:
    with pytest.raises(BrokerAccountError, match="no broker account yet"):
        isolated().worker_url("gpu", None)


def test_without_a_management_api_everything_stays_as_configured() -> None:
    shared = QueueBrokers(SERVICE, worker_broker_url="amqp://podium:service-secret@mq.example.org:5672/")
    assert not shared.isolated
    assert shared.publish_url("gpu") == SERVICE
    assert shared.worker_url("gpu", None) == "amqp://podium:service-secret@mq.example.org:5672/"


def test_with_vhost_quotes_names_and_keeps_the_scheme() -> None:
    assert with_vhost("amqps://u:p@[::1]:5671/old", "a/b", user="x") == "amqps://x:p@[::1]:5671/a%2Fb"
    assert with_vhost("amqp://h", "v") == "amqp://h/v"
