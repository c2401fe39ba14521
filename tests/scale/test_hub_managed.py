"""JupyterHub manages a service of several processes: the hub starts `podium service
--processes 2` (configured through ``podium.hub.service.configure``'s ``extra_args``), users reach
it through the hub's proxy, and stopping the hub stops every one of its processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from conftest import create_pg_database, drop_pg_database, free_port
from helpers.hub_harness import HubHarness
from helpers.service_commands import alive, child_pids
from podium.server import db


def service_command(hub_pid: int) -> int | None:
    """The pid of the `podium service` command the hub started (a child of the hub)."""
    for pid in child_pids(hub_pid):
        if b"service" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
            return int(pid)
    return None


@pytest.fixture
def managed_hub(broker_url, tmp_path):
    url = create_pg_database()
    db.upgrade(url)
    port = free_port()
    harness = HubHarness(
        service_url=f"http://127.0.0.1:{port}", artifact_name="jupyterhub-managed.log", service_managed=True,
        service_wait=60,
        service_args=["--processes=2"],
        service_environment={"PODIUM_DB_URL": url, "PODIUM_BROKER_URL": broker_url,
                             "PODIUM_DATA_DIR": str(tmp_path / "podium"), "PODIUM_SECRET_KEY": "managed"},
    )
    try:
        harness.start()
        yield harness
    finally:
        harness.stop()
        drop_pg_database(url)


def test_the_hub_starts_and_stops_a_service_of_several_processes(managed_hub) -> None:
    hub = managed_hub
    hub.create_user("managed-user")
    token = hub.token_for("managed-user")
    api = f"{hub.public_url}/services/podium/api/v1/me"
    deadline = time.monotonic() + 60
    while True:
        try:
            answer = requests.get(api, headers={"Authorization": f"token {token}", "Connection": "close"}, timeout=5)
            if answer.status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "the managed service did not answer through the proxy"
        time.sleep(0.3)
    assert answer.json()["name"] == "managed-user"
    command = service_command(hub.process.pid)
    assert command is not None
    processes = child_pids(command)
    assert len(processes) == 2
    for _ in range(10):  # through the proxy, on fresh connections: any of the processes answers
        assert requests.get(api, headers={"Authorization": f"token {token}", "Connection": "close"},
                            timeout=10).status_code == 200
    hub.stop()
    for pid in [command, *processes]:
        deadline = time.monotonic() + 20
        while alive(pid):
            assert time.monotonic() < deadline, f"service process {pid} outlived the hub"
            time.sleep(0.2)
