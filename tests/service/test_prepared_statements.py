"""The service's hot lookups are prepared on its PostgreSQL connections (psycopg 3's
``prepare_threshold``, ``PodiumService.db_prepare_threshold``): a worker's heartbeats for one
attempt, each a separate request and transaction, end up answered from a lookup that PostgreSQL
planned once per connection."""

from __future__ import annotations

import re
import threading

import pytest
import sqlalchemy as sa
from conftest import submit
from helpers.web_session import create_queue, make, registered
from podium.server import db
from podium.worker.protocol import PROTOCOL_VERSION

pytestmark = [pytest.mark.one_backend, pytest.mark.in_process]


def as_sent(statement: str) -> str:
    """``statement`` (SQLAlchemy's, with ``%(name)s`` placeholders) as psycopg sends it to the
    server, and as ``pg_prepared_statements`` shows it: ``$1, $2, ...`` by first appearance."""
    numbers: dict[str, int] = {}
    numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${numbers.setdefault(m.group(1), len(numbers) + 1)}", statement)
    return numbered.replace("%%", "%")


def idle_connections(engine: sa.Engine) -> list[tuple[int | None, set[str]]]:
    """(prepare_threshold, prepared statements) of each connection waiting in ``engine``'s pool."""
    held = []
    try:
        for _ in range(engine.pool.checkedin()):
            held.append(engine.raw_connection())
        return [(proxy.dbapi_connection.prepare_threshold,
                 {row[0] for row in proxy.dbapi_connection.execute("SELECT statement FROM pg_prepared_statements")})
                for proxy in held]
    finally:
        for proxy in held:
            proxy.close()


def test_a_workers_repeated_lookup_is_prepared_on_the_service_connections(api, users, creator, service, dbsession) -> None:
    from podium.server.orm import Attempt

    app = service.app
    assert app.db_prepare_threshold == db.PREPARE_THRESHOLD
    queue = create_queue(api, users)
    comp = make(api, creator, queue)
    sid = submit(api, registered(api, users, comp, "beats"), comp["phases"][0]["id"], b"x")
    dbsession.expire_all()
    attempt = dbsession.scalar(sa.select(Attempt.id).where(Attempt.submission_id == sid))
    worker = {"Authorization": f"token {queue['token']}"}
    path = f"/worker/attempts/{attempt}"
    api(None, "POST", f"{path}/claim", headers=worker, expect=200,
        json={"worker": "beats", "hostname": "box", "protocol": PROTOCOL_VERSION})

    # the statement a heartbeat looks its attempt up with, as the service sends it
    sent: list[str] = []

    def record(_conn, _cursor, statement: str, *_args) -> None:
        if threading.current_thread() is not threading.main_thread() and statement.startswith("SELECT attempts.") \
                and "WHERE attempts.id = %(" in statement:
            sent.append(statement)

    sa.event.listen(app.engine, "before_cursor_execute", record)
    try:
        api(None, "POST", f"{path}/heartbeat", headers=worker, json={"worker": "beats"}, expect=200)
    finally:
        sa.event.remove(app.engine, "before_cursor_execute", record)
    assert len(set(sent)) == 1, sent
    lookup = as_sent(sent[0])
    assert "JOIN submissions" in lookup and "JOIN phases" in lookup and "$1" in lookup

    # the pool hands its connections out in turn: enough beats reach every one's threshold
    prepared_on = 0
    for _ in range(200):
        api(None, "POST", f"{path}/heartbeat", headers=worker, json={"worker": "beats"}, expect=200)
        connections = idle_connections(app.engine)
        assert {threshold for threshold, _ in connections} <= {db.PREPARE_THRESHOLD}
        prepared_on = sum(lookup in statements for _, statements in connections)
        if prepared_on:
            break
    assert prepared_on, "no connection of the service's pool holds the heartbeat's lookup prepared"
