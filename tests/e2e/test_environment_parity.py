"""Environment parity against the real service, a real `podium worker` and the real Docker engine:
a phase's image with its Python and packages, my kernel's differences for what a submission
imports, and `check` (widget and `podium check`) giving on this machine, with the public scoring
kit, the very scores the service gives when the public and the real reference data are the same."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import zipfile

import pytest
from conftest import competition_body, submit, unique_slug, upload_dataset, wait_for
from helpers import programs
from podium.widgets import parity
from podium.widgets.client import NotFound, PodiumClient
from podium.widgets.participant import Competition
from test_participant_cli import Terminal


def parity_competition(api, organizer, users, *, image: str, scoring: bytes, ingestion: bytes | None = None,
                       public_kit: bool = True):
    """A published competition whose task publishes its reference data as the public split too
    (the same file), and whose phase offers the input data as public data; (slug, phase id, participant)."""
    task = {"key": "main", "name": "Main",
            "scoring_program": upload_dataset(api, organizer, "scoring_program", "scoring.zip", scoring),
            "reference_data": upload_dataset(api, organizer, "reference_data", "ref.zip", programs.REFERENCE)}
    if public_kit:
        task["public_reference_data"] = upload_dataset(api, organizer, "public_reference_data", "public-ref.zip",
                                                       programs.REFERENCE)
    body = competition_body(unique_slug("parity"), tasks=[task], docker_image="codalab/codalab-legacy:py37")
    phase = body["phases"][0]
    phase.update(max_submissions_per_day=0, max_submissions=0, execution_time_limit=60, docker_image=image)
    if ingestion is not None:
        task["ingestion_program"] = upload_dataset(api, organizer, "ingestion_program", "ingestion.zip", ingestion)
        task["input_data"] = upload_dataset(api, organizer, "input_data", "input.zip", programs.INPUT_DATA)
        phase["public_data"] = upload_dataset(api, organizer, "public_data", "public.zip", programs.INPUT_DATA)
    comp = api(organizer, "POST", "/competitions", json=body, expect=201).json()
    api(organizer, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    participant = users.make("parity")
    api(participant, "POST", f"/competitions/{comp['id']}/register", expect=200)
    return comp["slug"], comp["phases"][0]["id"], participant


@pytest.fixture(scope="module")
def legacy(api, creator, users, service):
    return parity_competition(api, creator, users, image="codalab/codalab-legacy:py37",
                              scoring=programs.CODALAB_SCORING)


@pytest.fixture(scope="module")
def with_ingestion(api, creator, users, service):
    return parity_competition(api, creator, users, image="python:3", scoring=programs.V2_SCORING,
                              ingestion=programs.V2_INGESTION)


def test_the_phase_names_its_image_and_the_service_knows_its_python_and_packages(api, creator, legacy,
                                                                                  with_ingestion):
    _, phase_id, user = legacy
    phase = api(user, "GET", f"/phases/{phase_id}", expect=200).json()
    assert phase["docker_image"] == "codalab/codalab-legacy:py37" and phase["public_scoring"] is True
    env = api(user, "GET", f"/phases/{phase_id}/environment", expect=200).json()
    assert env["runtime_image"] == "podium/runtime:legacy"
    assert env["python"].startswith("3.9.")
    assert env["packages"]["numpy"].startswith("1.19")
    # the phase's own image overrides the competition's (which names the legacy one)
    _, other_phase, other_user = with_ingestion
    env = api(other_user, "GET", f"/phases/{other_phase}/environment", expect=200).json()
    assert (env["image"], env["runtime_image"]) == ("python:3", "podium/runtime:py3")
    assert env["python"].startswith("3.11.")
    # null gives the phase back the competition's image
    organizer_view = api(creator, "PATCH", f"/phases/{other_phase}", json={"docker_image": None}, expect=200).json()
    assert organizer_view["docker_image"] == "codalab/codalab-legacy:py37"
    assert api(creator, "PATCH", f"/phases/{other_phase}", json={"docker_image": "python:3"},
               expect=200).json()["docker_image"] == "python:3"


def test_environment_diff_shows_my_kernel_against_the_image_for_my_imports(service, legacy, tmp_path):
    _, phase_id, user = legacy
    source = tmp_path / "model.py"
    source.write_text("import os\nimport numpy as np\nfrom yaml import safe_load\nfrom . import helpers\n"
                      "import surely_not_installed_anywhere\n")
    comp = Competition(_slug(legacy), PodiumClient(service.url, user.token))
    rows = {r["module"]: r for r in comp.environment_diff(source)}
    assert set(rows) == {"python", "numpy", "yaml", "surely_not_installed_anywhere"}  # no stdlib, no relative
    assert rows["python"]["kernel"] == platform.python_version() and rows["python"]["image"].startswith("3.9.")
    assert rows["python"]["same"] is False
    assert rows["numpy"]["image"].startswith("1.19")
    assert rows["numpy"]["kernel"] == importlib.metadata.version("numpy")
    assert rows["yaml"]["package"] == "pyyaml" and rows["yaml"]["image"] is not None
    assert rows["surely_not_installed_anywhere"] == {
        "module": "surely_not_installed_anywhere", "package": "surely-not-installed-anywhere",
        "kernel": None, "image": None, "same": False}
    assert "podium-environment" in comp.environment_html.value and "differs" in comp.environment_html.value


def _slug(fixture) -> str:
    return fixture[0]


def test_check_in_the_widget_gives_the_services_scores_for_a_result_submission(api, worker, service, legacy,
                                                                             tmp_path):
    _, phase_id, user = legacy
    predictions = tmp_path / "predictions.txt"
    predictions.write_text("a\nb\nc\nx\n")
    local = Competition(_slug(legacy), PodiumClient(service.url, user.token)).check(predictions)
    assert local["state"] == "succeeded", local
    sid = submit(api, user, phase_id, programs.result_submission("a\nb\nc\nx\n"))
    remote = wait_for(api, user, sid)
    assert remote["status"] == "finished", remote["failure_reason"]
    assert local["scores"] == remote["scores"] == {"accuracy": 0.75, "runtime": 1.5}


def test_podium_check_gives_the_services_scores_for_code_run_by_an_ingestion_program(
        api, worker, service, with_ingestion, tmp_path):
    slug, phase_id, user = with_ingestion
    code = tmp_path / "code"
    code.mkdir()
    (code / "model.py").write_text('def predict(x):\n    return {"1": "a", "2": "b", "3": "c", "4": "x"}[x]\n')
    shell = Terminal(tmp_path, PODIUM_URL=service.url, PODIUM_TOKEN=user.token)
    local = shell.json("check", str(code), "--competition", slug, "--output", str(tmp_path / "out.zip"))
    assert local["state"] == "succeeded", local
    with zipfile.ZipFile(tmp_path / "out.zip") as kept:
        assert json.loads(kept.read("scores.json")) == local["scores"]
    sid = submit(api, user, phase_id, programs.GOOD_MODEL)
    remote = wait_for(api, user, sid)
    assert remote["status"] == "finished", remote["failure_reason"]
    assert local["scores"] == remote["scores"] == {"accuracy": 0.75, "runtime": 2.0}
    # a failing submission fails locally as on the worker, with the worker's reason
    (code / "model.py").write_text("raise SystemExit(3)\n")
    failed = shell.run("check", str(code), "--competition", slug, expect=4)
    assert "exited with code 3" in failed.stdout + failed.stderr


def test_the_kit_holds_only_what_the_organizer_made_public(api, creator, users, service, legacy):
    slug, phase_id, user = legacy
    kit = api(user, "GET", f"/phases/{phase_id}/scoring-kit", expect=200).json()
    assert set(kit["files"]) == {"scoring_program", "reference_data"}
    assert kit["image"] == "codalab/codalab-legacy:py37" and kit["score_keys"] == ["accuracy", "runtime"]
    # a participant still cannot read the real reference data, only its public split
    datasets = {d["kind"] for d in api(user, "GET", f"/competitions/{slug}/datasets", expect=200).json()["datasets"]}
    assert "public_reference_data" in datasets and "reference_data" not in datasets
    # a phase whose organizers published no public split has no kit, and check says so
    _, closed_phase, closed_user = parity_competition(api, creator, users, image="python:3",
                                                      scoring=programs.V2_SCORING, public_kit=False)
    api(closed_user, "GET", f"/phases/{closed_phase}/scoring-kit", expect=404)
    with pytest.raises(NotFound, match="publishes no public scoring kit"):
        parity.check(PodiumClient(service.url, closed_user.token), closed_phase, __file__)
    # someone not registered gets nothing
    stranger = users.make("stranger")
    api(stranger, "GET", f"/phases/{phase_id}/scoring-kit", expect=403)
    assert json.loads(json.dumps(kit))  # the answer is plain JSON for scripts
