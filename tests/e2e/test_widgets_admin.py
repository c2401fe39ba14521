"""The admin dashboard against the real service: queues with their real worker and a real
failure, creating a queue and re-keying it by clicks, and the printed command's token checked
against the service's worker endpoint (the old token refused after a re-key); an organizer's own
queue shared by clicks and picked in a colleague's organizer panel."""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from conftest import competition_body, unique_slug
from helpers import programs
from podium.widgets import AdminDashboard, OrganizerPanel, PodiumClient
from podium.widgets.admin import worker_command
from test_widgets_participant import iris_competition


def token_works(service, token: str) -> int:
    """The status the service answers a worker holding ``token``."""
    return requests.get(service.api_url + "/worker/config", headers={"Authorization": f"token {token}"},
                        timeout=10).status_code


@pytest.fixture(scope="module")
def admin(users):
    return users.make("admin", admin=True)


def test_queues_show_the_worker_and_recent_failures(api, admin, creator, users, service, worker, tmp_path) -> None:
    comp = iris_competition(api, creator)
    participant = users.make("failing")
    client = PodiumClient(service.url, participant.token)
    client.register(comp["slug"])
    failed = client.wait(client.submit(comp["phases"][0]["id"], programs.make_zip({"notes.txt": "x"}))["id"],
                         timeout=180)
    assert failed["status"] == "failed"

    dash = AdminDashboard(PodiumClient(service.url, admin.token))
    default = next(q for q in dash.queues if q["name"] == "default")
    assert any(w["name"] == worker.name for w in default["workers"])
    rows = re.findall(r"<tr>(.*?)</tr>", dash.queues_html.value)
    worker_row = next(r for r in rows if f">{worker.name} (" in r)
    assert worker_row.startswith('<td style="padding:3px 8px;border-bottom:1px solid #ddd;text-align:left">default</td>')
    assert re.search(r"UTC \((less than a minute|\d+ min) ago\)", worker_row), worker_row
    assert "<h4>Recent failures</h4>" in dash.queues_html.value
    assert f">{failed['id']}</td>" in dash.queues_html.value
    assert dash.queue_dropdown.options[0] == "default"


def test_create_and_rekey_by_clicks_give_a_working_command(admin, service) -> None:
    dash = AdminDashboard(PodiumClient(service.url, admin.token))
    dash.create_button.click()
    assert "Type a queue name first" in dash.message_html.value

    name = f"lab-{uuid.uuid4().hex[:6]}"
    dash.queue_name_text.value = name
    dash.create_button.click()
    command = dash.command_text.value
    assert command == (f"podium worker --service-url {service.url} --token {dash.last_token} "
                       f"--name {name}-worker-1 --executor docker --work-dir ~/podium-worker")
    assert f"Queue '{name}' created." in dash.message_html.value
    assert name in dash.queue_dropdown.options and f">{name}</td>" in dash.queues_html.value
    assert "no worker attached" in dash.queues_html.value
    first = dash.last_token
    assert token_works(service, first) == 200

    dash.queue_dropdown.value = name
    dash.rekey_button.click()
    assert dash.last_token != first and dash.last_token in dash.command_text.value
    assert token_works(service, dash.last_token) == 200
    assert token_works(service, first) in (401, 403)

    dash.queue_name_text.value = name
    dash.create_button.click()
    assert dash.message_html.value.startswith('<p style="color:#a00">'), dash.message_html.value


def test_attach_worker_creates_or_rekeys(admin, service) -> None:
    dash = AdminDashboard(PodiumClient(service.url, admin.token))
    name = f"box-{uuid.uuid4().hex[:6]}"
    created = dash.attach_worker(name)
    assert f"Queue '{name}' created." in dash.message_html.value and dash.last_token in created
    again = dash.attach_worker(name)
    assert "has a new token" in dash.message_html.value and again != created
    assert token_works(service, dash.last_token) == 200


def test_organizers_share_their_queue_by_clicks_and_colleagues_pick_it_in_their_panel(api, users, service) -> None:
    owner = users.make("wowner", groups=("creators",))
    colleague = users.make("wcolleague", groups=("creators",))
    dash = AdminDashboard(PodiumClient(service.url, owner.token))
    name = f"own-{uuid.uuid4().hex[:6]}"
    dash.queue_name_text.value = name
    dash.create_button.click()
    assert f"Queue '{name}' created." in dash.message_html.value and token_works(service, dash.last_token) == 200
    assert f"owner {owner.name}" in dash.queues_html.value

    comp = api(colleague, "POST", "/competitions", json=competition_body(unique_slug("w")), expect=201).json()
    panel = OrganizerPanel(comp["slug"], client=PodiumClient(service.url, colleague.token))
    assert name not in panel.queue_picker.options and panel.queue_picker.value == "default"
    panel._guard(lambda: panel.use_queue(name))
    assert f"You may not use the compute queue '{name}'" in panel.message

    dash.queue_dropdown.value = name
    dash.share_kind.value = "user"
    dash.share_name_text.value = colleague.name
    dash.share_button.click()
    assert f"Queue '{name}' is shared with the user '{colleague.name}'." in dash.message_html.value
    assert f"owner {owner.name}, shared with {colleague.name}" in dash.queues_html.value

    panel.refresh()
    assert name in panel.queue_picker.options
    panel.queue_picker.value = name
    panel.queue_button.click()
    assert panel.competition["queue"] == name and f"now run on the compute queue '{name}'" in panel.message

    dash.delete_button.click()  # refused while the colleague's competition uses it, naming it
    assert dash.message_html.value.startswith('<p style="color:#a00">') and comp["slug"] in dash.message_html.value
    dash.unshare_button.click()
    assert f"no longer shared with the user '{colleague.name}'" in dash.message_html.value
    panel.refresh()
    assert panel.queue_picker.value == name  # the competition keeps it, though it is no longer offered anew


def test_a_user_who_may_not_create_queues_is_told_so(users, service) -> None:
    dash = AdminDashboard(PodiumClient(service.url, users.make("nobody").token))
    assert "default" in dash.queue_dropdown.options and all(q["owner"] is None for q in dash.queues)
    dash.queue_name_text.value = f"mine-{uuid.uuid4().hex[:6]}"
    dash.create_button.click()
    assert "create compute queues" in dash.message_html.value and not dash.last_token


def test_worker_command_quotes_what_a_shell_would_split() -> None:
    command = worker_command("http://hub:8000/services/podium/", "a b$c", name="w1")
    assert command == ("podium worker --service-url http://hub:8000/services/podium/ --token 'a b$c' "
                       "--name w1 --executor docker --work-dir ~/podium-worker")
