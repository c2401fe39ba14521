"""Bundles shaped like real Codabench and CodaLab 1.5 ones import from their zips as written and
their sample submissions end with the scores Codabench gives, through a real Docker worker;
malformed ``competition.yaml`` values are refused with the file, the key and what is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import submit, unique_slug, wait_for
from helpers import competition_bundles as bb
from helpers import fidelity_bundles as fb
from helpers import programs
from podium.server.auth.identity import Identity
from podium.server.bundles.importer import import_bundle
from podium.server.errors import BundleError
from test_bundles import import_via_api, join, v2_with


def imported(api, creator, data: bytes, prefix: str) -> dict:
    status = import_via_api(api, creator, data, slug=unique_slug(prefix))
    assert status["status"] == "succeeded", status["errors"]
    return api(creator, "GET", f"/competitions/{status['competition_slug']}", expect=200).json()


def test_month_first_dates_partial_and_extra_scores(api, creator, users, worker) -> None:
    comp = imported(api, creator, fb.month_first_v2(), "monthfirst")
    warmup, main = comp["phases"]
    assert (warmup["start"], warmup["end"]) == ("2019-08-07T00:00:00Z", "2020-06-15T00:00:00Z")
    assert (main["start"], main["end"]) == ("2026-01-01T00:00:00Z", "2099-12-31T00:00:00Z")
    # registration_auto_approve unset: approval, as Codabench's v2 unpacker reads it
    assert comp["registration_mode"] == "approval"
    api(creator, "POST", f"/competitions/{comp['slug']}/publish", expect=200)
    ann, bob = users.make("ann"), users.make("bob")
    for person in (ann, bob):
        assert api(person, "POST", f"/competitions/{comp['slug']}/register", expect=200).json()["status"] == "pending"
    refused = api(ann, "POST", f"/phases/{main['id']}/submissions", json={"size": 10, "sha256": "0" * 64}, expect=403)
    assert "waiting for approval" in refused.json()["error"]["message"]
    for person in (ann, bob):
        api(creator, "POST", f"/competitions/{comp['id']}/participants/{person.name}/approve", json={}, expect=200)
    a = wait_for(api, ann, submit(api, ann, main["id"], programs.result_submission("a\nb\nc\nx\n")))
    b = wait_for(api, bob, submit(api, bob, main["id"], programs.result_submission("a\nb\nc\nd\n")))
    # the column it wrote is stored, the one it did not is missing, the extra keys are ignored
    assert (a["status"], a["scores"]) == ("finished", {"accuracy": 0.75}), a["failure_reason"]
    assert b["scores"] == {"accuracy": 1.0}
    assert a["started_at"] is not None  # its first step was scoring
    duration = next(c for c in comp["leaderboards"][0]["columns"] if c["key"] == "duration")
    assert duration["precision"] == 2  # no precision in the bundle: Codabench's 2 decimals
    board = api(ann, "GET", f"/phases/{main['id']}/leaderboard", expect=200).json()
    assert [(e["owner"], e["display"]["accuracy"], e["scores"]["duration"]) for e in board["entries"]] == [
        (bob.name, "1.000", None), (ann.name, "0.750", None)]
    roles = {f["role"] for f in api(ann, "GET", f"/submissions/{a['id']}/outputs", expect=200).json()["files"]}
    assert "detailed_results" in roles


def test_codalab15_ingestion_code_and_result_submissions(api, creator, users, worker) -> None:
    comp = imported(api, creator, fb.codalab15_with_ingestion(), "legacyingest")
    (phase,) = comp["phases"]
    assert phase["start"] == "2024-01-01T00:00:00Z"
    (cat,) = join(api, creator, users, comp["slug"], "cat")
    code = wait_for(api, cat, submit(api, cat, phase["id"], programs.GOOD_MODEL))
    assert code["status"] == "finished", code["failure_reason"]
    assert code["scores"]["accuracy"] == 0.75 and code["scores"]["ingestion_exit"] == 0
    assert 0 < code["scores"]["duration"] < 60  # elapsedTime, read from input/res/metadata
    # a result submission: copied into the prediction output; the ingestion program fails on it
    # (no model.py) and that does not fail the prediction step, as in Codabench
    result = wait_for(api, cat, submit(api, cat, phase["id"], programs.result_submission("a\nb\nc\nd\n")))
    assert result["status"] == "finished", result["failure_reason"]
    assert result["scores"]["accuracy"] == 1.0 and result["scores"]["ingestion_exit"] == 1
    assert 0 < result["scores"]["duration"] < 60


def rounded(per_task: dict) -> dict:
    return {task: {key: round(value, 6) for key, value in scores.items()} for task, scores in per_task.items()}


def test_four_task_phase_shows_every_task(api, creator, users, worker) -> None:
    comp = imported(api, creator, fb.four_tasks_v2(), "fourtasks")
    (phase,) = comp["phases"]
    assert phase["tasks"] == ["task-0", "task-1", "task-2", "task-3"]
    (dan,) = join(api, creator, users, comp["slug"], "dan")
    sub = wait_for(api, dan, submit(api, dan, phase["id"], programs.result_submission("a\nb\nc\nd\nx\n")))
    assert sub["status"] == "finished", sub["failure_reason"]
    expected = {"task-0": {"score": 0.5}, "task-1": {"score": 1.0}, "task-2": {"score": 1.5}, "task-3": {"score": 2.0}}
    children = api(dan, "GET", f"/submissions/{sub['id']}/children", expect=200).json()["submissions"]
    assert rounded({c["task"]: c["scores"] for c in children}) == expected
    assert {c["parent"] for c in children} == {sub["id"]}
    board = api(dan, "GET", f"/phases/{phase['id']}/leaderboard", expect=200).json()
    (entry,) = board["entries"]
    assert rounded(entry["tasks"]) == expected
    assert entry["scores"]["score"] == pytest.approx(1.25)  # the tasks' mean ranks the parent


def test_ingestion_during_scoring_scoring_program_decides(api, creator, users, worker) -> None:
    comp = imported(api, creator, fb.ingestion_during_scoring_v2(), "sharedfail")
    (phase,) = comp["phases"]
    (eve,) = join(api, creator, users, comp["slug"], "eve")
    sub = wait_for(api, eve, submit(api, eve, phase["id"], programs.GOOD_MODEL))
    # the ingestion exited 3 but the scoring program wrote its scores: Codabench finishes it
    assert (sub["status"], sub["scores"]) == ("finished", {"accuracy": 0.75}), sub["failure_reason"]
    detail = api(eve, "GET", f"/submissions/{sub['id']}", expect=200).json()
    assert detail["started_at"] is not None
    assert [a["exit_code"] for a in detail["attempts"]] == [0]


# --- malformed values: every refusal names the file, the key and what is accepted -------------

V2 = bb.CODABENCH_V2_YAML
MALFORMED = {
    "tasks is a number": (V2.replace("    tasks: [0]\nfact_sheet", "    tasks: 3\nfact_sheet"),
                          ["competition.yaml: phases[0].tasks: must be a list of task indexes (for example [0, 1]), "
                           "not 3"]),
    "a mapping as a task index": (V2.replace("  - index: 0\n    name: Letters", "  - index: {a: 1}\n    name: Letters"),
                                  ["competition.yaml: tasks[0].index: must be a number, not a mapping"]),
    "a mapping in a phase's tasks": (V2.replace("    tasks: [0]\nfact_sheet", "    tasks: [{a: 1}]\nfact_sheet"),
                                     ["competition.yaml: phases[0].tasks: must be a list of task indexes "
                                      "(for example [0, 1]), not a mapping"]),
    "a date that is no date": (V2.replace("start: 2024-01-01", "start: soon"),
                               ["competition.yaml: phases[0].start: not a date: 'soon' (accepted: YYYY-MM-DD, "
                                "M-D-YYYY or M/D/YYYY (month first), optionally with a time (2024-03-01 12:00, "
                                "2024-03-01T12:00:00Z); times are UTC)"]),
    "computation_indexes is a number": (V2.replace("computation_indexes: [0, 1]", "computation_indexes: 5"),
                                        ["competition.yaml: leaderboards[0].columns[2].computation_indexes: must be "
                                         "a list of column indexes (for example [0, 1]), not 5"]),
    "a bootstrap level that is no level": (
        V2.replace("submission_rule: Force_Last\n", "submission_rule: Force_Last\n    bootstrap: {level: 2, sample: 3}\n"),
        ["competition.yaml: leaderboards[0].bootstrap.level: must be a number between 0 and 1, such as 0.95, not 2",
         "competition.yaml: leaderboards[0].bootstrap: unknown key(s) sample (expected resamples, level, seed)"]),
    "a code_reveal that is no rule": (V2.replace("    tasks: [0]\nfact_sheet", "    tasks: [0]\n    code_reveal: everyone\nfact_sheet"),
                                      ["competition.yaml: phases[0].code_reveal: must be one of none, chosen, top, "
                                       "opted_in, not 'everyone'"]),
}
CODALAB_MALFORMED = {
    "a column rank that is text": (bb.CODALAB_V15_YAML.replace("rank: 2", "rank: second"),
                                   ["competition.yaml: leaderboard.columns.runtime.rank: must be a number "
                                    "(the column's order), not 'second'"]),
}


@pytest.mark.parametrize("case", list(MALFORMED) + list(CODALAB_MALFORMED))
def test_malformed_values_are_named(case, service, creator, tmp_path) -> None:
    if case in MALFORMED:
        yaml_text, expected = MALFORMED[case]
        data = bb.codabench_v2(yaml_text)
    else:
        yaml_text, expected = CODALAB_MALFORMED[case]
        data = bb.zip_files({"competition.yaml": yaml_text, "overview.html": "o", "evaluation.html": "e",
                             "terms.html": "t", "scoring_program.zip": programs.CODALAB_SCORING,
                             "reference_data.zip": programs.REFERENCE})
    path = Path(tmp_path) / "bundle.zip"
    path.write_bytes(data)
    with service.app.session_factory() as session:
        with pytest.raises(BundleError) as error:
            import_bundle(session, service.app.storage, Identity(creator.name), str(path), {})
        session.rollback()
    assert error.value.problems == expected


@pytest.mark.parametrize(("written", "read"), [
    ("8-7-2019", "2019-08-07T00:00:00Z"), ("6/15/2020", "2020-06-15T00:00:00Z"), ("12-31-2026", "2026-12-31T00:00:00Z"),
    ("'2024-03-01 12:30'", "2024-03-01T12:30:00Z"), ("2024-03-01T12:30:00+02:00", "2024-03-01T10:30:00Z"),
])
def test_dates_read_as_codabench_reads_them(written, read, api, creator) -> None:
    yaml_text = V2.replace("start: 2024-01-01\n    end: 2099-01-01", f"start: {written}\n    end: 2099-01-01")
    comp = imported(api, creator, bb.codabench_v2(yaml_text), "dates")
    assert comp["phases"][0]["start"] == read


def test_execution_time_limit_ms_is_read_as_codabench_reads_it(api, creator) -> None:
    """Codabench's v2 unpacker copies ``execution_time_limit_ms`` into the phase's limit, which its
    worker reads in seconds; ``execution_time_limit`` (seconds), where given, wins."""
    comp = imported(api, creator, v2_with("max_submissions_per_day: 10", "max_submissions_per_day: 10\n"
                                          "    execution_time_limit_ms: 42"), "limitms")
    assert comp["phases"][0]["execution_time_limit"] == 42
    both = imported(api, creator, v2_with("max_submissions_per_day: 10", "max_submissions_per_day: 10\n"
                                          "    execution_time_limit_ms: 42\n    execution_time_limit: 77"),
                    "limitboth")
    assert both["phases"][0]["execution_time_limit"] == 77
