"""The organizer's side of the notebook: the authoring API (save, dry run through the real worker,
publish, update), the packaged scoring function, the server's dry-run rules (no quota, never on a
leaderboard, organizers only) and the OrganizerPanel's buttons, against the real service, hub,
RabbitMQ and a real Docker worker."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from io import BytesIO

import pandas as pd
import pytest
from conftest import submit, unique_slug, wait_for
from podium.widgets import Column, CompetitionDraft, DryRunFailed, OrganizerPanel, scoring_program
from podium.widgets.client import PermissionDenied, PodiumClient

TRUTH = pd.DataFrame({"id": [1, 2, 3, 4], "label": ["a", "b", "c", "d"]})
SAMPLE = pd.DataFrame({"id": [1, 2, 3, 4], "label": ["a", "b", "c", "x"]})


def score(reference_dir, prediction_dir):
    """Accuracy; a prediction folder with a file named `slow` takes 30 s (to test cancelling)."""
    import os
    import time

    if os.path.exists(os.path.join(prediction_dir, "slow")):
        time.sleep(30)
    truth = pd.read_csv(os.path.join(reference_dir, "reference.csv"))
    pred = pd.read_csv(os.path.join(prediction_dir, "predictions.csv"))
    merged = truth.merge(pred, on="id", how="left", suffixes=("", "_pred"))
    return {"accuracy": float((merged["label"] == merged["label_pred"]).mean())}


def client_for(service, user) -> PodiumClient:
    return PodiumClient(url=service.url, token=user.token)


def draft(service, user, **settings) -> CompetitionDraft:
    comp = CompetitionDraft(unique_slug("nb"), "Notebook competition", "Defined in Python.",
                            client=client_for(service, user), **settings)
    comp.add_page("overview", "Overview", "# Predict the labels")
    comp.add_task("main", "Labels", scoring=score, reference_data=TRUTH)
    comp.add_leaderboard("main", "Results", [Column("accuracy", sorting="desc", precision=4)])
    start = datetime.now(UTC) - timedelta(hours=1)
    comp.add_phase("Development", start, start + timedelta(days=7), max_per_day=2, max_total=3)
    return comp


def test_scoring_function_becomes_a_codalab_program(tmp_path) -> None:
    program = zipfile.ZipFile(BytesIO(scoring_program(score)))
    assert program.read("metadata").decode().startswith("command: python $program/score.py $input $output")
    (tmp_path / "program").mkdir()
    program.extractall(tmp_path / "program")
    for name, frame, filename in (("ref", TRUTH, "reference.csv"), ("res", SAMPLE, "predictions.csv")):
        (tmp_path / "input" / name).mkdir(parents=True)
        frame.to_csv(tmp_path / "input" / name / filename, index=False)
    out = subprocess.run([sys.executable, str(tmp_path / "program" / "score.py"), str(tmp_path / "input"),
                          str(tmp_path / "output")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "output" / "scores.json").read_text()) == {"accuracy": 0.75}
    assert "import pandas as pd" in program.read("score.py").decode()


def test_dry_run_scores_exactly_costs_no_quota_and_never_ranks(service, worker, api, creator, users) -> None:
    comp = draft(service, creator)
    model = comp.save()
    assert model["published"] is False
    result = comp.dry_run(SAMPLE)
    assert result["status"] == "finished" and result["scores"] == {"accuracy": 0.75}
    assert result["dry_run"] is True and result["counts_toward_quota"] is False
    for _ in range(3):  # more than the daily quota of 2 and the total of 3: dry runs use none
        comp.dry_run({"predictions.csv": TRUTH.to_csv(index=False)}, quiet=True)
    comp.publish()
    assert comp.model["published"] is True

    student = users.make("student")
    student_client = client_for(service, student)
    student_client.register(comp.slug)
    phase_id = comp.model["phases"][0]["id"]
    with pytest.raises(PermissionDenied, match="organizers"):
        student_client.request("POST", f"phases/{phase_id}/submissions",
                               json={"size": 10, "sha256": "0" * 64, "dry_run": True})
    sid = submit(api, student, phase_id, zipfile_of(SAMPLE))
    assert student_client.wait(sid, timeout=180)["scores"] == {"accuracy": 0.75}
    board = student_client.leaderboard(phase_id)
    assert [(e["owner"], e["display"]["accuracy"]) for e in board["entries"]] == [(student.name, "0.7500")]
    organizer = client_for(service, creator)
    mine = organizer.my_submissions(phase_id)["submissions"]
    assert len(mine) == 4 and all(s["dry_run"] and not s["counts_toward_quota"] for s in mine)
    rerun = organizer.rerun(mine[0]["id"])
    assert rerun["dry_run"] is True
    organizer.wait(rerun["id"], timeout=180)
    assert [e["owner"] for e in student_client.leaderboard(phase_id)["entries"]] == [student.name]


def zipfile_of(frame: pd.DataFrame) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("predictions.csv", frame.to_csv(index=False))
    return buffer.getvalue()


def test_failing_dry_run_shows_its_reason_and_log(service, worker, creator) -> None:
    comp = draft(service, creator)
    comp.save()
    with pytest.raises(DryRunFailed) as failed:
        comp.dry_run({"wrong-name.csv": SAMPLE.to_csv(index=False)}, quiet=True)
    message = str(failed.value)
    assert failed.value.submission["status"] == "failed"
    assert "exited with code 1" in message
    assert "predictions.csv" in failed.value.log and "FileNotFoundError" in failed.value.log


def test_saving_again_updates_dates_settings_and_only_changed_data(service, creator) -> None:
    comp = draft(service, creator)
    comp.save()
    uploads = dict(comp._uploaded)
    new_end = datetime(2031, 1, 2, 3, 4, 5)
    comp.update_phase("Development", end=new_end, max_per_day=9)
    comp.add_phase("Final", datetime(2031, 1, 2, 3, 4, 5), tasks=["main"], leaderboard_visibility="private")
    comp.update(title="Renamed", registration_mode="approval")
    assert comp._uploaded == uploads  # nothing re-uploaded: the bytes did not change
    model = client_for(service, creator).competition(comp.slug)
    assert model["title"] == "Renamed" and model["registration_mode"] == "approval"
    dev, final = model["phases"]
    assert dev["end"] == "2031-01-02T03:04:05Z" and dev["max_submissions_per_day"] == 9
    assert final["name"] == "Final" and final["leaderboard_visibility"] == "private"
    comp.add_task("main", "Labels", scoring=score, reference_data=pd.concat([TRUTH, TRUTH.head(1)]))
    comp.save()
    assert len(comp._uploaded) == len(uploads) + 1  # only the new reference data


def test_panel_approves_denies_reruns_cancels_downloads_and_exports(service, worker, api, creator, users,
                                                                     tmp_path) -> None:
    comp = draft(service, creator, registration_mode="approval")
    comp.publish()
    alice, bob = users.make("alice"), users.make("bob")
    for user in (alice, bob):
        client_for(service, user).register(comp.slug)
    panel = OrganizerPanel(comp.slug, client=client_for(service, creator), export_dir=tmp_path)
    assert {p["username"]: p["status"] for p in panel.participants} == {alice.name: "pending", bob.name: "pending"}
    panel.participant_buttons[alice.name]["approve"].click()
    panel.participant_buttons[bob.name]["deny"].click()
    assert {p["username"]: p["status"] for p in panel.participants} == {alice.name: "approved", bob.name: "denied"}
    assert panel.participant_buttons[alice.name]["approve"].disabled
    assert panel.message == f"{bob.name} is denied."

    phase_id = comp.model["phases"][0]["id"]
    alice_client = client_for(service, alice)
    done = alice_client.wait(submit(api, alice, phase_id, zipfile_of(SAMPLE)), timeout=180)
    assert done["status"] == "finished"
    slow = {"id": submit(api, alice, phase_id, slow_submission())}
    panel.refresh()
    assert [s["id"] for s in panel.submissions] == [slow["id"], done["id"]]

    wait_for(api, alice, slow["id"], statuses={"scoring", "running"})
    panel.submission_buttons[slow["id"]]["cancel"].click()
    assert panel.message == f"Submission {slow['id']} is cancelled."
    assert next(s for s in panel.submissions if s["id"] == slow["id"])["status"] == "cancelled"
    panel.submission_buttons[slow["id"]]["cancel"].click()  # a second click reads as a sentence
    assert "already cancelled" in panel.message

    panel.submission_buttons[done["id"]]["rerun"].click()
    assert "re-running as submission" in panel.message
    copy_id = panel.submissions[0]["id"]
    assert alice_client.wait(copy_id, timeout=180)["scores"] == {"accuracy": 0.75}

    panel.submission_buttons[done["id"]]["download"].click()
    roles = {p.name.split("-", 1)[0] for p in panel.last_download}
    assert {"submission", "scoring_output", "scoring_log"} <= roles
    with zipfile.ZipFile(next(p for p in panel.last_download if p.name.startswith("submission-"))) as zf:
        assert zf.read("predictions.csv").decode() == SAMPLE.to_csv(index=False)

    panel.export_button.click()
    text = panel.last_export.read_bytes().decode()
    assert panel.last_export.parent == tmp_path
    assert text.splitlines()[0] == "rank,participant,submission,submitted_at,Accuracy"
    assert [line.split(",")[1] for line in text.splitlines()[1:]] == [alice.name]
    assert text.splitlines()[1].endswith(",0.7500")
    payload = panel.download_link.value.split("base64,", 1)[1].split('"', 1)[0]
    assert base64.b64decode(payload).decode() == text


def slow_submission() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("predictions.csv", SAMPLE.to_csv(index=False))
        zf.writestr("slow", "")
    return buffer.getvalue()


def test_class_panel_edits_roster_and_deadlines(service, creator, users, tmp_path) -> None:
    group, tas = f"class-{unique_slug('g')}", f"tas-{unique_slug('g')}"
    comp = draft(service, creator, registration_mode="groups", participant_groups=[group], organizer_group=tas)
    comp.save()
    ta = users.make("ta", groups=(tas,))
    panel = OrganizerPanel(comp.slug, client=client_for(service, ta), export_dir=tmp_path)
    assert panel.is_class and panel.tabs.get_title(3) == "Class"
    assert panel.roster_input.value == group and panel.organizer_group_input.value == tas
    panel.roster_input.value = f"{group}, {group}-b"
    panel.roster_button.click()
    assert panel.competition["participant_groups"] == [group, f"{group}-b"], panel.message
    phase_id = comp.model["phases"][0]["id"]
    inputs = panel.deadline_inputs[phase_id]
    inputs["end"].value = "2030-06-01T12:00:00Z"
    inputs["save"].click()
    assert panel.competition["phases"][0]["end"] == "2030-06-01T12:00:00Z", panel.message
    assert panel.deadline_inputs[phase_id]["end"].value == "2030-06-01T12:00:00Z"
    inputs = panel.deadline_inputs[phase_id]
    inputs["end"].value = "2000-01-01T00:00:00Z"  # before the start: refused, said plainly
    inputs["save"].click()
    assert "end" in panel.message and "must be after start" in panel.message
    comp.publish()
    student = users.make("student", groups=(f"{group}-b",))
    assert client_for(service, student).register(comp.slug) == {
        "username": student.name, "status": "approved", "via_group": True}
