"""Each compute queue on its own RabbitMQ virtual host with its own broker user, made by the
service through the real management API: a worker gets only its queue's credentials (never the
service's), RabbitMQ itself refuses them on another queue's vhost, re-keying closes the old
credentials' connections and the broker refuses them, and deleting a queue removes its account."""

from __future__ import annotations

import uuid
from urllib.parse import unquote, urlsplit

import pytest
import requests
from amqp.exceptions import AccessRefused, ConnectionForced, NotAllowed
from helpers import rabbit_management
from kombu import Connection, Producer
from podium.worker.consumer import broker_queue

SERVICE_SECRETS = ("guest",)  # the service's broker user and password (and the management admin's)


@pytest.fixture
def admin(users):
    return users.make("broker-admin", admin=True)


def new_queue(api, admin) -> dict:
    name = f"iso-{uuid.uuid4().hex[:8]}"
    return api(admin, "POST", "/queues", json={"name": name}, expect=201)


def worker_config(service, token: str) -> requests.Response:
    response = requests.get(service.api_url + "/worker/config", headers={"Authorization": f"token {token}"},
                            timeout=30)
    assert response.status_code == 200, response.text
    return response


def assert_no_service_secret(*responses: requests.Response) -> None:
    for response in responses:
        for secret in SERVICE_SECRETS:
            assert secret not in response.text, f"{response.request.method} {response.url} shows '{secret}'"


def account(service, queue: str) -> str:
    return service.app.broker_vhost_prefix + queue


def other_vhost(url: str, vhost: str) -> str:
    """``url`` (a queue's own credentials) pointed at another virtual host."""
    return url.rsplit("/", 1)[0] + "/" + vhost


def test_a_queue_gets_its_own_vhost_and_user_with_rights_there_only(api, admin, service):
    created = new_queue(api, admin).json()
    name = account(service, created["name"])
    assert name in rabbit_management.vhosts(name) and name in rabbit_management.users(name)
    user = rabbit_management.get(f"/api/users/{name}")
    assert user["tags"] in ("", [])  # no management access
    permissions = rabbit_management.get(f"/api/users/{name}/permissions")
    assert [p["vhost"] for p in permissions] == [name]


def test_a_worker_gets_only_its_queues_credentials_never_the_services(api, admin, service):
    created = new_queue(api, admin)
    queue = created.json()
    config = worker_config(service, queue["token"])
    url = urlsplit(config.json()["broker_url"])
    name = account(service, queue["name"])
    assert (url.username, unquote(url.path[1:])) == (name, name)
    assert url.password and url.password not in SERVICE_SECRETS
    listing = api(admin, "GET", "/queues")
    rekeyed = api(admin, "POST", f"/queues/{queue['name']}/token", expect=200)
    after = worker_config(service, rekeyed.json()["token"])
    assert_no_service_secret(created, config, listing, rekeyed, after)
    # the credentials work: a worker's connection declares and reads its queue
    with Connection(after.json()["broker_url"]) as conn:
        broker_queue(after.json()["celery_queue"])(conn.default_channel).declare()


def test_rabbitmq_refuses_a_queues_credentials_on_another_queues_vhost(api, admin, service):
    mine, theirs = new_queue(api, admin).json(), new_queue(api, admin).json()
    url = worker_config(service, mine["token"]).json()["broker_url"]
    target = other_vhost(url, account(service, theirs["name"]))
    their_queue = broker_queue(worker_config(service, theirs["token"]).json()["celery_queue"])

    with pytest.raises(NotAllowed, match="access to vhost .* refused") as consuming, Connection(target) as conn:
        conn.default_channel.basic_consume(their_queue.name, callback=lambda _m: None)
    with pytest.raises(NotAllowed, match="access to vhost .* refused") as publishing, Connection(target) as conn:
        Producer(conn.default_channel).publish({"stolen": True}, exchange=their_queue.exchange.name,
                                               routing_key=their_queue.routing_key)
    assert consuming.value.code == publishing.value.code == 530  # the broker's own refusal
    # nor the broker's default vhost '/'
    with pytest.raises(NotAllowed), Connection(other_vhost(url, "")) as conn:
        conn.connect()


def test_rekeying_closes_the_old_credentials_connection_and_the_broker_refuses_them(api, admin, service):
    queue = new_queue(api, admin).json()
    old = worker_config(service, queue["token"]).json()
    conn = Connection(old["broker_url"], heartbeat=0)
    conn.connect()
    broker_queue(old["celery_queue"])(conn.default_channel).declare()

    new_token = api(admin, "POST", f"/queues/{queue['name']}/token", expect=200).json()["token"]

    with pytest.raises(ConnectionForced, match="CONNECTION_FORCED"):
        conn.drain_events(timeout=10)
    assert rabbit_management.connections_of(account(service, queue["name"])) == []
    with pytest.raises(AccessRefused, match="ACCESS_REFUSED"), Connection(old["broker_url"]) as again:
        again.connect()
    # the service refuses the old token; the new one gets working credentials
    old_token = requests.get(service.api_url + "/worker/config",
                             headers={"Authorization": f"token {queue['token']}"}, timeout=30)
    assert old_token.status_code == 401
    new = worker_config(service, new_token).json()
    assert new["broker_url"] != old["broker_url"]
    with Connection(new["broker_url"]) as fresh:
        broker_queue(new["celery_queue"])(fresh.default_channel).declare()


def test_deleting_a_queue_removes_its_vhost_and_user(api, admin, creator, service):
    queue = new_queue(api, admin).json()
    name = account(service, queue["name"])
    api(admin, "DELETE", f"/queues/{queue['name']}", expect=204)
    assert name not in rabbit_management.vhosts(name) and name not in rabbit_management.users(name)
    api(admin, "DELETE", f"/queues/{queue['name']}", expect=404)


def test_a_queue_in_use_or_the_default_one_is_not_deleted(api, admin, creator, service, make_competition):
    queue = new_queue(api, admin).json()
    api(admin, "PUT", f"/queues/{queue['name']}/shares/users/{creator.name}", expect=200)  # the organizer may use it
    comp = make_competition(queue=queue["name"])
    refusal = api(admin, "DELETE", f"/queues/{queue['name']}", expect=409).json()["error"]
    assert comp["slug"] in refusal["message"]
    assert account(service, queue["name"]) in rabbit_management.vhosts(account(service, queue["name"]))
    api(admin, "DELETE", "/queues/default", expect=409)
    api(creator, "DELETE", f"/queues/{queue['name']}", expect=403)


@pytest.mark.in_process  # it points the service thread's own broker accounts elsewhere
def test_an_unreachable_management_api_is_a_clear_error_and_changes_nothing(api, admin, service):
    queue = new_queue(api, admin).json()
    brokers = service.app.brokers
    reachable = brokers.management.url
    brokers.management.url = "http://127.0.0.1:9"  # nothing listens on the discard port
    try:
        refusal = api(admin, "POST", f"/queues/{queue['name']}/token", expect=502).json()["error"]
        assert "management API" in refusal["message"] and "cannot be reached" in refusal["message"]
        lost = f"iso-{uuid.uuid4().hex[:8]}"
        api(admin, "POST", "/queues", json={"name": lost}, expect=502)
    finally:
        brokers.management.url = reachable
    assert lost not in [q["name"] for q in api(admin, "GET", "/queues").json()["queues"]]
    worker_config(service, queue["token"])  # the old token still works: nothing changed
