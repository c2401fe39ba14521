"""No score without predictions: participant code that leaves a symbolic link, a hard link or a
FIFO where its predictions should be never gets the scoring program (which can read the reference
data) to follow it. Played for real with a `podium worker` on the Docker engine, in the
prediction → scoring path and in ingestion during scoring (both programs side by side)."""

from __future__ import annotations

import textwrap

import pytest
from conftest import competition_body, submit, unique_slug, upload_dataset, wait_for
from helpers import programs

# the organizer's programs: ingestion hands the output folder to the participant's code, then
# says it is done; the scorer waits for predictions (or the end of ingestion) and gives 1.0 when
# they equal the reference. It prints the reference when it fails, as careless scorers do.
INGESTION = programs.make_zip({
    "metadata.yaml": "command: python3 /app/program/ingestion.py\n",
    "ingestion.py": textwrap.dedent("""
        import sys
        sys.path.insert(0, "/app/ingested_program")
        import model
        model.write("/app/output")
        open("/app/shared/done", "w").write("1")
    """),
})
SCORING = programs.make_zip({
    "metadata.yaml": "command: python3 /app/program/score.py\n",
    "score.py": textwrap.dedent("""
        import json, os, sys, time
        truth = open("/app/input/ref/truth.txt").read()
        res = "/app/input/res/predictions.txt"
        deadline = time.time() + 20
        while not (os.path.lexists(res) or os.path.exists("/app/shared/done")) and time.time() < deadline:
            time.sleep(0.1)
        try:
            pred = open(res).read()
        except OSError as e:
            print("could not read", e, "expected:", truth, file=sys.stderr)
            raise SystemExit(1)
        json.dump({"accuracy": 1.0 if pred == truth else 0.0, "runtime": 1.0}, open("/app/output/scores.json", "w"))
    """),
})

ATTACKS = {
    "symbolic link": ("""
        import os
        def write(out):
            os.symlink("/app/input/ref/truth.txt", os.path.join(out, "predictions.txt"))
    """, "contains a symbolic link: predictions.txt"),
    "symbolic link to a folder": ("""
        import os
        def write(out):
            os.symlink("/app/input/ref", os.path.join(out, "ref"))
            os.symlink("ref/truth.txt", os.path.join(out, "predictions.txt"))
    """, "contains a symbolic link"),
    "hard link": ("""
        import os
        def write(out):
            for source in ("/app/input/ref/truth.txt", "/app/input_data/test.txt", "/app/shared/x"):
                try:
                    if source == "/app/shared/x":
                        open(source, "w").write("x")
                    os.link(source, os.path.join(out, "predictions.txt"))
                    return
                except OSError as e:
                    print("link refused:", source, e)
    """, None),
    "FIFO": ("""
        import os
        def write(out):
            os.mkfifo(os.path.join(out, "predictions.txt"))
    """, "special file (device, FIFO or socket): predictions.txt"),
}


def hostile_competition(api, organizer, users, *, during_scoring: bool) -> tuple[int, object]:
    task = {"key": "main", "name": "Main",
            "scoring_program": upload_dataset(api, organizer, "scoring_program", "scoring.zip", SCORING),
            "ingestion_program": upload_dataset(api, organizer, "ingestion_program", "ingestion.zip", INGESTION),
            "reference_data": upload_dataset(api, organizer, "reference_data", "ref.zip", programs.REFERENCE),
            "input_data": upload_dataset(api, organizer, "input_data", "input.zip", programs.INPUT_DATA)}
    body = competition_body(unique_slug("hostile"), tasks=[task], docker_image="python:3")
    body["phases"][0].update(max_submissions_per_day=0, max_submissions=0, execution_time_limit=12)
    comp = api(organizer, "POST", "/competitions", json=body, expect=201).json()
    if during_scoring:
        task_id = api(organizer, "GET", f"/competitions/{comp['id']}", expect=200).json()["tasks"][0]["id"]
        api(organizer, "PATCH", f"/tasks/{task_id}", json={"ingestion_only_during_scoring": True}, expect=200)
    api(organizer, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    participant = users.make("attacker")
    api(participant, "POST", f"/competitions/{comp['id']}/register", expect=200)
    return comp["phases"][0]["id"], participant


@pytest.fixture(scope="module")
def side_by_side(api, creator, users, service):
    return hostile_competition(api, creator, users, during_scoring=True)


@pytest.fixture(scope="module")
def predict_then_score(api, creator, users, service):
    return hostile_competition(api, creator, users, during_scoring=False)


def assert_no_score_without_predictions(sub: dict, reason: str | None) -> None:
    assert (sub["scores"] or {}).get("accuracy") != 1.0, sub
    assert sub["status"] == "failed", sub
    assert programs.SECRET not in (sub["failure_reason"] or "")
    assert "a\nb\nc\nd" not in (sub["failure_reason"] or "")
    if reason is not None:
        assert reason in sub["failure_reason"], sub["failure_reason"]


@pytest.mark.one_backend
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_ingestion_during_scoring_never_follows_what_participant_code_wrote(api, worker, side_by_side,
                                                                            attack) -> None:
    phase_id, user = side_by_side
    body, reason = ATTACKS[attack]
    sub = wait_for(api, user, submit(api, user, phase_id, programs.code_submission(body)))
    assert_no_score_without_predictions(sub, reason)
    assert [a["step"] for a in sub["attempts"]] == ["score"]


@pytest.mark.one_backend
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_prediction_output_is_checked_before_scoring(api, worker, predict_then_score, attack) -> None:
    phase_id, user = predict_then_score
    body, reason = ATTACKS[attack]
    sub = wait_for(api, user, submit(api, user, phase_id, programs.code_submission(body)))
    assert_no_score_without_predictions(sub, reason)


@pytest.mark.one_backend
def test_honest_code_still_scores_side_by_side(api, worker, side_by_side) -> None:
    phase_id, user = side_by_side
    honest = programs.code_submission("""
        import os
        def write(out):
            open(os.path.join(out, "predictions.txt"), "w").write("a\\nb\\nc\\nd\\nREFERENCE\\n")
    """.replace("REFERENCE", programs.SECRET))
    sub = wait_for(api, user, submit(api, user, phase_id, honest))
    assert sub["status"] == "finished", sub["failure_reason"]
    assert sub["scores"]["accuracy"] == 1.0


# CodaLab-style commands, so the local executor (which rewrites /app paths on the command line
# only) runs them: the fallback where ingestion ends before the scorer starts
LEGACY_INGESTION = programs.make_zip({
    "metadata": "command: python3 $program/ingestion.py $submission_program $output $shared\n",
    "ingestion.py": textwrap.dedent("""
        import os, sys
        sys.path.insert(0, sys.argv[1])
        import model
        model.write(sys.argv[2], sys.argv[3])
        open(os.path.join(sys.argv[3], "done"), "w").write("1")
    """),
})
LEGACY_SCORING = programs.make_zip({
    "metadata": "command: python3 $program/score.py $input $shared $output\n",
    "score.py": textwrap.dedent("""
        import json, os, sys
        truth = open(os.path.join(sys.argv[1], "ref", "truth.txt")).read()
        assert os.path.exists(os.path.join(sys.argv[2], "done")), "ingestion has not ended"
        pred = open(os.path.join(sys.argv[2], "answer.txt")).read()
        json.dump({"accuracy": 1.0 if pred == truth else 0.0, "runtime": 1.0},
                  open(os.path.join(sys.argv[3], "scores.json"), "w"))
    """),
})


def test_without_views_ingestion_ends_and_is_checked_before_the_scorer_starts(api, service, creator, users,
                                                                               tmp_path) -> None:
    from helpers.web_session import create_queue
    from helpers.worker_over_http import queued_attempt
    from helpers.worker_over_http import submit as submit_by_hand
    from podium.worker.cache import DatasetCache
    from podium.worker.client import ServiceClient
    from podium.worker.executors.local import LocalExecutor
    from podium.worker.runner import AttemptRunner, WorkerSettings

    queue = create_queue(api, users)
    task = {"key": "main", "name": "Main",
            "scoring_program": upload_dataset(api, creator, "scoring_program", "s.zip", LEGACY_SCORING),
            "ingestion_program": upload_dataset(api, creator, "ingestion_program", "i.zip", LEGACY_INGESTION),
            "reference_data": upload_dataset(api, creator, "reference_data", "r.zip", programs.REFERENCE)}
    comp = api(creator, "POST", "/competitions", expect=201,
               json=competition_body(unique_slug("seq"), tasks=[task], queue=queue["name"])).json()
    task_id = api(creator, "GET", f"/competitions/{comp['id']}", expect=200).json()["tasks"][0]["id"]
    api(creator, "PATCH", f"/tasks/{task_id}", json={"ingestion_only_during_scoring": True}, expect=200)
    api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    user = users.make("sequential")
    api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
    runner = AttemptRunner(ServiceClient(service.url, queue["token"], "seq"), LocalExecutor(allow_unsafe=True),
                           DatasetCache(str(tmp_path / "cache"), 10**8),
                           WorkerSettings(name="seq", work_dir=str(tmp_path), hard_disk_caps=False,
                                          link_proof_views=False))
    honest = programs.code_submission("""
        import os
        def write(out, shared):
            open(os.path.join(shared, "answer.txt"), "w").write("honest")
    """)
    sneaky = programs.code_submission("""
        import os
        def write(out, shared):
            ref = os.path.join(os.path.dirname(os.path.dirname(out)), "input", "ref", "truth.txt")
            os.symlink(ref, os.path.join(shared, "answer.txt"))
    """)
    phase_id = comp["phases"][0]["id"]
    for code, expected in ((honest, "finished"), (sneaky, "failed")):
        sid, _ = submit_by_hand(api, user, phase_id, code)
        report = runner.run(queued_attempt(service, sid))
        sub = api(user, "GET", f"/submissions/{sid}", expect=200).json()
        assert sub["status"] == expected, (report, sub)
    assert sub["scores"] is None or sub["scores"].get("accuracy") != 1.0
    assert "shared folder (/app/shared) was refused: the output contains a symbolic link: answer.txt" in (
        sub["failure_reason"]), sub["failure_reason"]
