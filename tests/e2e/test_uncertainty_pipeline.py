"""Confidence intervals end to end: a scoring program that writes per-example scores, a real
Docker worker that bootstraps them, and the intervals and ties on the leaderboard's API answer,
its CSV export and its web page; a broken per-example file fails the submission with a reason
that names the line and never the value."""

from __future__ import annotations

import csv
import io
import textwrap

import pytest
from conftest import competition_body, submit, unique_slug, upload_dataset, wait_for
from helpers import programs
from helpers.web_session import WebSession
from podium.worker.uncertainty import bootstrap_intervals

N = 200
TRUTH = [("a", "b")[i % 2] for i in range(N)]
BOOTSTRAP = {"resamples": 500, "level": 0.9, "seed": 11}

SCORING = programs.make_zip({
    "metadata.yaml": "command: python3 /app/program/score.py\n",
    "score.py": textwrap.dedent("""
        import json
        truth = open("/app/input/ref/truth.txt").read().split()
        pred = open("/app/input/res/predictions.txt").read().split()
        if pred and pred[0] == "BROKEN":
            open("/app/output/per_example_scores.csv", "w").write("id,accuracy\\n1,1\\n2,SECRET-REF\\n")
            json.dump({"accuracy": 0.5}, open("/app/output/scores.json", "w"))
            raise SystemExit(0)
        right = [1 if t == p else 0 for t, p in zip(truth, pred)]
        with open("/app/output/per_example_scores.csv", "w") as f:
            f.write("id,accuracy\\n")
            for i, r in enumerate(right):
                f.write("%d,%d\\n" % (i, r))
        json.dump({"accuracy": sum(right) / len(truth), "runtime": 1.0}, open("/app/output/scores.json", "w"))
    """),
}, folder="scoring_program/")


def predictions(wrong: int) -> bytes:
    """Predictions with the first ``wrong`` labels wrong."""
    flipped = [("b" if t == "a" else "a") if i < wrong else t for i, t in enumerate(TRUTH)]
    return programs.result_submission("\n".join(flipped) + "\n")


def per_example(wrong: int) -> list[float]:
    return [0.0 if i < wrong else 1.0 for i in range(N)]


@pytest.fixture(scope="module")
def phase(api, creator, users, service):
    task = {"key": "main", "name": "Main",
            "scoring_program": upload_dataset(api, creator, "scoring_program", "scoring.zip", SCORING),
            "reference_data": upload_dataset(api, creator, "reference_data", "ref.zip",
                                             programs.make_zip({"truth.txt": "\n".join(TRUTH) + "\n"}))}
    body = competition_body(unique_slug("ci"), tasks=[task], docker_image="python:3")
    body["leaderboards"][0]["bootstrap"] = BOOTSTRAP
    body["phases"][0].update(max_submissions_per_day=0, max_submissions=0, execution_time_limit=60)
    comp = api(creator, "POST", "/competitions", json=body, expect=201).json()
    assert comp["leaderboards"][0]["bootstrap"] == BOOTSTRAP
    api(creator, "POST", f"/competitions/{comp['id']}/publish", expect=200)
    return comp["phases"][0]["id"]


def test_intervals_and_ties_on_the_leaderboard(api, worker, users, phase, hub) -> None:
    wrong = {"leader": 20, "close": 24, "far": 100}  # accuracy 0.90, 0.88, 0.50
    people = {}
    for who, count in wrong.items():
        user = people[who] = users.make(who)
        api(user, "POST", f"/competitions/{api(user, 'GET', f'/phases/{phase}', expect=200).json()['competition']}/register",
            expect=200)
        sub = wait_for(api, user, submit(api, user, phase, predictions(count)))
        assert sub["status"] == "finished", sub["failure_reason"]

    board = api(people["far"], "GET", f"/phases/{phase}/leaderboard", expect=200).json()
    assert board["tied_on"] == "accuracy" and board["confidence_level"] == 0.9
    by_owner = {e["owner"]: e for e in board["entries"]}
    for who, count in wrong.items():
        entry = by_owner[people[who].name]
        # the worker's interval is the reference computation on the same per-example scores
        want = bootstrap_intervals({"accuracy": per_example(count)}, BOOTSTRAP)["accuracy"]
        assert entry["intervals"]["accuracy"] == pytest.approx(list(want), abs=1e-9)
        assert entry["intervals"]["accuracy"][0] < entry["scores"]["accuracy"] < entry["intervals"]["accuracy"][1]
        assert "runtime" not in entry["intervals"]  # no per-example values for it
    assert [by_owner[people[w].name]["tied_with_leader"] for w in ("leader", "close", "far")] == [False, True, False]
    assert by_owner[people["leader"].name]["rank"] == 1

    rows = list(csv.DictReader(io.StringIO(
        api(people["far"], "GET", f"/phases/{phase}/leaderboard", params={"format": "csv"}, expect=200).text)))
    close = next(r for r in rows if r["participant"] == people["close"].name)
    assert float(close["Accuracy low"]) == pytest.approx(by_owner[people["close"].name]["intervals"]["accuracy"][0])
    assert close["tied with leader"] == "True"

    page = WebSession(hub, people["far"].name)
    page.login()
    text = page.get(f"phases/{phase}/leaderboard").text
    assert by_owner[people["close"].name]["interval_display"]["accuracy"] in text
    assert "Tied with leader" in text and "≈ tied" in text


def test_a_broken_per_example_file_fails_naming_the_line(api, worker, users, phase) -> None:
    user = users.make("broken")
    comp = api(user, "GET", f"/phases/{phase}", expect=200).json()["competition"]
    api(user, "POST", f"/competitions/{comp}/register", expect=200)
    sub = wait_for(api, user, submit(api, user, phase, programs.result_submission("BROKEN\n")))
    assert sub["status"] == "failed"
    assert "per_example_scores.csv: line 3, column 'accuracy' is not a number" in sub["failure_reason"]
    assert "SECRET" not in sub["failure_reason"]
