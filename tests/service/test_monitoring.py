"""Metrics and health over real HTTP: the Prometheus text parsed with prometheus-client's own
parser moves when a submission is made and finished, only hub admins or the metrics token may
read it, and ``health`` names a part that does not answer (a broker vhost that does not exist)."""

from __future__ import annotations

import uuid

import pytest
import requests
from conftest import ServiceThread, free_port, submit
from helpers.metrics import scrape, value
from helpers.web_session import create_queue, make, play_worker, registered


@pytest.fixture(scope="module")
def metrics_queue(api, users) -> dict[str, str]:
    return create_queue(api, users)


@pytest.fixture(scope="module")
def admin(users):
    return users.make("madmin", admin=True)


def test_metrics_refuse_anonymous_and_non_admins(service, users, admin):
    url = service.url + "metrics"
    anonymous = requests.get(url, timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["status"] == 401
    participant = requests.get(url, headers=users.make("nosy").headers, timeout=30)
    assert participant.status_code == 403
    assert "podium_" not in participant.text
    wrong = requests.get(url, headers={"Authorization": "Bearer not-the-metrics-token"}, timeout=30)
    assert wrong.status_code in (401, 403)
    assert requests.get(url, headers=admin.headers, timeout=30).status_code == 200


@pytest.mark.in_process  # it reconfigures the service thread's app
def test_the_configured_metrics_token_reads_the_metrics(service):
    token = uuid.uuid4().hex
    service.app.metrics_token = token
    try:
        samples = scrape(service, {"Authorization": f"Bearer {token}"})
    finally:
        service.app.metrics_token = ""
    assert ("podium_submissions_recorded", (("status", "finished"),)) in samples
    refused = requests.get(service.url + "metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert refused.status_code in (401, 403)  # the token was unset again


def test_metrics_move_when_a_submission_waits_and_finishes(api, creator, users, admin, service,
                                                           metrics_queue, dbsession):
    comp = make(api, creator, metrics_queue)
    phase = comp["phases"][0]["id"]
    queue = metrics_queue["name"]
    before = scrape(service, admin.headers)
    assert value(before, "podium_queue_attempts_waiting", queue=queue) == 0

    waiting = submit(api, registered(api, users, comp, "mia"), phase, b"predictions")
    during = scrape(service, admin.headers)
    assert value(during, "podium_queue_attempts_waiting", queue=queue) == 1
    assert value(during, "podium_queue_oldest_waited_seconds", queue=queue) >= 0
    assert value(during, "podium_submissions_recorded", status="submitted") == \
        value(before, "podium_submissions_recorded", status="submitted") + 1
    assert value(during, "podium_attempts_recorded", state="queued", step="score") == \
        value(before, "podium_attempts_recorded", state="queued", step="score") + 1

    play_worker(service, dbsession, metrics_queue["token"], waiting, scores={"accuracy": 0.5, "runtime": 1.0})
    after = scrape(service, admin.headers)
    assert value(after, "podium_queue_attempts_waiting", queue=queue) == 0
    assert value(after, "podium_queue_oldest_waited_seconds", queue=queue) == 0
    assert value(after, "podium_submissions_recorded", status="finished") == \
        value(before, "podium_submissions_recorded", status="finished") + 1
    assert value(after, "podium_attempts_recorded", state="succeeded", step="score") == \
        value(before, "podium_attempts_recorded", state="succeeded", step="score") + 1
    # a competition without an ingestion program has a scoring step only; the worker reported
    # 0.5 s: one more observation, in the 1 s bucket and above
    for sample, labels in (("podium_attempt_ran_seconds_count", {}), ("podium_attempt_ran_seconds_bucket", {"le": "1.0"}),
                           ("podium_attempt_ran_seconds_bucket", {"le": "+Inf"})):
        assert value(after, sample, step="score", **labels) == value(before, sample, step="score", **labels) + 1
    assert value(after, "podium_attempt_ran_seconds_sum", step="score") == \
        pytest.approx(value(before, "podium_attempt_ran_seconds_sum", step="score") + 0.5)
    seen = value(after, "podium_worker_seen_timestamp_seconds", queue=queue, worker="web-test", hostname="")
    assert seen > 1.7e9

    # this process's own: request latency by route template (never the raw path), and loop lag
    # (with several processes on the port, the request and the scrape may reach different ones)
    assert not any(f"/submissions/{waiting}/" in dict(labels).get("route", "") for _, labels in after)
    assert value(after, "podium_event_loop_lagged_seconds_count") > 0
    # the database pool keeps every statement off the loop (the tests' guard would have raised)
    assert value(after, "podium_database_statements_on_loop_total") == 0
    if service.siblings is None:
        route = "/services/podium/api/v1/submissions/{submission}/uploaded"
        assert value(after, "podium_http_request_served_seconds_count", method="POST", route=route, code="200") >= 1


def test_a_failure_shows_in_the_submissions_by_status(api, creator, users, admin, service, metrics_queue, dbsession):
    comp = make(api, creator, metrics_queue)
    before = scrape(service, admin.headers)
    failing = submit(api, registered(api, users, comp, "ned"), comp["phases"][0]["id"], b"bad")
    play_worker(service, dbsession, metrics_queue["token"], failing, scores={}, failure="scores.txt is missing")
    after = scrape(service, admin.headers)
    assert value(after, "podium_submissions_recorded", status="failed") == \
        value(before, "podium_submissions_recorded", status="failed") + 1


def test_health_answers_200_when_every_part_answers(service):
    response = requests.get(service.url + "health", timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "checks": {"database": {"ok": True}, "broker": {"ok": True},
                                                          "storage": {"ok": True}}}
    assert requests.head(service.url + "health", timeout=30).status_code == 200


def test_health_names_a_broker_that_does_not_answer(hub, db_url, tmp_path):
    """A second service whose broker URL names a vhost RabbitMQ does not have."""
    broken = ServiceThread(
        db_url=db_url, data_dir=str(tmp_path), ip="127.0.0.1", port=free_port(), base_url="/services/podium/",
        hub_api_url=hub.hub_api_url, hub_api_token=hub.service_api_token, service_name=hub.service_name,
        secret_key="test-secret-key", broker_url=f"amqp://guest:guest@127.0.0.1:5672/no-such-vhost-{uuid.uuid4().hex[:6]}",
        default_queue_token="test-queue-token",
    )
    broken.start()
    try:
        response = requests.get(broken.url + "health", timeout=30)
        head = requests.head(broken.url + "health", timeout=30)
    finally:
        broken.stop()
    assert response.status_code == 503 and head.status_code == 503
    answer = response.json()
    assert answer["status"] == "unavailable"
    assert answer["checks"]["broker"]["ok"] is False and answer["checks"]["broker"]["error"]
    assert answer["checks"]["database"] == {"ok": True} and answer["checks"]["storage"] == {"ok": True}
    assert "guest" not in response.text and "vhost" not in response.text  # no user, password or URL
