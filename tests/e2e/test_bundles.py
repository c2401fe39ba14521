"""Bundles: CodaLab v1.5 / v1.8 and Codabench v2 imports run real submissions; every refusal is
exact and leaves nothing behind; export then import gives an equal competition."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import competition_body, submit, unique_slug, upload_dataset, wait_for
from helpers import competition_bundles as bb
from helpers import programs
from helpers.competition_bundles import import_via_api
from podium.server.auth.identity import Identity
from podium.server.bundles.exporter import export_bundle
from podium.server.bundles.importer import import_bundle
from podium.server.errors import BundleError
from podium.server.orm import Artifact, Competition, Phase, Task


def join(api, organizer, users, slug: str, *names: str):
    api(organizer, "POST", f"/competitions/{slug}/publish", expect=200)
    people = []
    for name in names:
        user = users.make(name)
        api(user, "POST", f"/competitions/{slug}/register", expect=200)
        people.append(user)
    return people


def test_codalab_v15_bundle(api, creator, users, worker) -> None:
    status = import_via_api(api, creator, bb.codalab_v15(), slug=unique_slug("legacy"))
    assert status["status"] == "succeeded", status["errors"]
    comp = api(creator, "GET", f"/competitions/{status['competition_slug']}", expect=200).json()
    assert comp["published"] is False and comp["registration_mode"] == "open"
    assert [p["key"] for p in comp["pages"]] == ["overview", "evaluation", "terms"]
    dev, final = comp["phases"]
    assert (dev["name"], dev["end"], final["start"]) == ("Development", "2099-01-01T00:00:00Z", "2099-01-01T00:00:00Z")
    assert (dev["submission_rule"], final["submission_rule"]) == ("selected", "best")
    assert (dev["max_submissions"], dev["max_submissions_per_day"], dev["execution_time_limit"]) == (50, 0, 300)
    assert comp["leaderboards"][0]["columns"][1] | {} == {
        "key": "runtime", "title": "Runtime", "index": 2, "sorting": "asc", "precision": 2, "hidden": False,
        "computation": None, "computation_keys": []}
    ann, bob = join(api, creator, users, comp["slug"], "ann", "bob")
    a = wait_for(api, ann, submit(api, ann, dev["id"], programs.result_submission("a\nb\nc\nx\n")))
    b = wait_for(api, bob, submit(api, bob, dev["id"], programs.result_submission("a\nb\nc\nd\n")))
    assert (a["scores"], b["scores"]) == ({"accuracy": 0.75, "runtime": 1.5}, {"accuracy": 1.0, "runtime": 1.5})
    board = api(ann, "GET", f"/phases/{dev['id']}/leaderboard", expect=200).json()
    assert [(e["owner"], e["display"]["accuracy"]) for e in board["entries"]] == [(bob.name, "1.000"), (ann.name, "0.750")]


def test_codabench_v2_bundle(api, creator, users, worker) -> None:
    status = import_via_api(api, creator, bb.codabench_v2(), slug=unique_slug("modern"))
    assert status["status"] == "succeeded", status["errors"]
    comp = api(creator, "GET", f"/competitions/{status['competition_slug']}", expect=200).json()
    assert comp["terms"] == "Play fair." and comp["enable_detailed_results"] is True
    assert comp["fact_sheet"]["approach"]["selection"] == ["rules", "learning"]
    phase = comp["phases"][0]
    assert (phase["submission_rule"], phase["max_submissions_per_day"], phase["max_submissions"],
            phase["execution_time_limit"]) == ("last", 10, 100, 600)
    mean = comp["leaderboards"][0]["columns"][2]
    assert (mean["computation"], mean["computation_keys"]) == ("mean", ["accuracy", "runtime"])
    datasets = api(creator, "GET", f"/competitions/{comp['slug']}/datasets", expect=200).json()["datasets"]
    assert "solution" in {d["kind"] for d in datasets}
    (cat,) = join(api, creator, users, comp["slug"], "cat")
    sub = wait_for(api, cat, submit(api, cat, phase["id"], programs.GOOD_MODEL))
    assert sub["scores"] == {"accuracy": 0.75, "runtime": 2.0}, sub["failure_reason"]
    board = api(cat, "GET", f"/phases/{phase['id']}/leaderboard", expect=200).json()
    assert board["entries"][0]["scores"] == {"accuracy": 0.75, "runtime": 2.0, "mean": 1.375}
    assert board["fact_columns"] == [{"key": "approach", "title": "Approach"}]
    roles = {f["role"] for f in api(cat, "GET", f"/submissions/{sub['id']}/outputs", expect=200).json()["files"]}
    assert "detailed_results" in roles


MULTI_TASK = bb.CODABENCH_V2_YAML.replace(
    "solutions:\n  - index: 0\n    tasks: [0]\n    path: solution/\n",
    "  - index: 1\n    name: Second\n    scoring_program: f1_program/\n",
).replace("    tasks: [0]\nfact_sheet", "    tasks: [0, 1]\nfact_sheet").replace(
    "      - {title: Mean, key: mean, index: 2, computation: avg, computation_indexes: [0, 1]}",
    "      - {title: F1, key: f1, index: 2}")


def test_multi_task_bundle(api, creator, users, worker) -> None:
    f1 = {f"f1_program/{name}": content for name, content in bb._unzip(programs.F1_SCORING).items()}
    status = import_via_api(api, creator, bb.codabench_v2(MULTI_TASK, f1), slug=unique_slug("multi"))
    assert status["status"] == "succeeded", status["errors"]
    comp = api(creator, "GET", f"/competitions/{status['competition_slug']}", expect=200).json()
    assert comp["phases"][0]["tasks"] == ["task-0", "task-1"]
    (dan,) = join(api, creator, users, comp["slug"], "dan")
    sub = wait_for(api, dan, submit(api, dan, comp["phases"][0]["id"], programs.GOOD_MODEL))
    assert sub["status"] == "finished", sub["failure_reason"]
    assert sub["scores"] == {"accuracy": 0.75, "runtime": 2.0, "f1": 0.5}


V18_YAML = bb.CODALAB_V15_YAML.replace("title: Legacy Letters", "version: 1.8\ntitle: Parallel Letters").replace(
    "    start_date: 2099-01-01\n", "    start_date: 2024-02-01\n    end_date: 2099-06-01\n").replace(
    "    start_date: 2024-01-01\n", "    start_date: 2024-01-01\n    end_date: 2099-03-01\n")
assert V18_YAML.count("end_date") == 2


def test_codalab_v18_parallel_phases(api, creator, users, worker) -> None:
    data = bb.zip_files({"competition.yaml": V18_YAML, "overview.html": "o", "evaluation.html": "e", "terms.html": "t",
                         "scoring_program.zip": programs.CODALAB_SCORING, "reference_data.zip": programs.REFERENCE})
    status = import_via_api(api, creator, data, slug=unique_slug("v18"))
    assert status["status"] == "succeeded", status["errors"]
    comp = api(creator, "GET", f"/competitions/{status['competition_slug']}", expect=200).json()
    assert [p["status"] for p in comp["phases"]] == ["current", "current"]
    (eve,) = join(api, creator, users, comp["slug"], "eve")
    sub = wait_for(api, eve, submit(api, eve, comp["phases"][1]["id"], programs.result_submission("a\nb\nx\nx\n")))
    assert sub["scores"]["accuracy"] == 0.5, sub["failure_reason"]


# --- refusals ---------------------------------------------------------------------------------


def v2_with(old: str, new: str) -> bytes:
    assert old in bb.CODABENCH_V2_YAML
    return bb.codabench_v2(bb.CODABENCH_V2_YAML.replace(old, new))


def raw_zip(entries: list[tuple[str, bytes, int | None]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return buffer.getvalue()


REFUSALS = {
    "zip slip": (raw_zip([("competition.yaml", b"title: x", None), ("../evil.txt", b"x", None)]),
                 ["bundle.zip: archive entry '../evil.txt' points outside the archive ('..')"]),
    "absolute path": (raw_zip([("/etc/evil", b"x", None)]), ["bundle.zip: archive entry '/etc/evil' has an absolute path"]),
    "symlink": (raw_zip([("competition.yaml", b"title: x", None), ("link", b"/etc/passwd", 0o120777)]),
                ["bundle.zip: archive entry 'link' is a symbolic link"]),
    "zip bomb": (raw_zip([("competition.yaml", b"title: x", None), ("zeros", b"\0" * (3 * 1024 * 1024), None)]),
                 ["bundle.zip: archive expands to more than 1048576 bytes (stopped at 'zeros')"]),
    "too many files": (raw_zip([(f"f{i}.txt", b"", None) for i in range(30)]),
                       ["bundle.zip: archive has 30 entries; at most 20 are allowed"]),
    "no competition.yaml": (raw_zip([("readme.txt", b"hi", None)]),
                            ["bundle.zip: no competition.yaml at the top of the bundle or inside a single top folder"]),
    "unknown version": (v2_with("version: 2", "version: 3"),
                        ["competition.yaml: version: unknown version 3 (expected 1, 1.5, 1.8 or 2)"]),
    "unknown submission rule": (v2_with("submission_rule: Force_Last", "submission_rule: Random"), [
        "competition.yaml: leaderboards[0].submission_rule: unknown rule 'Random' (expected one of Add, "
        "Add_And_Delete, Add_And_Delete_Multiple, Force_Last, Force_Latest_Multiple, Force_Best)"]),
    "missing scoring program": (v2_with("scoring_program: scoring_program/", "scoring_program: scoring/"),
                                ["competition.yaml: tasks[0]: scoring_program 'scoring/' not found in bundle"]),
    "overlapping phases": (v2_with("    tasks: [0]\nfact_sheet",
                                   "    tasks: [0]\n  - index: 1\n    name: Second\n    start: 2098-06-01\n"
                                   "    tasks: [0]\nfact_sheet"),
        ["competition.yaml: phases[1].start: overlaps phases[0], which ends 2099-01-01 (2098-06-01 < 2099-01-01)"]),
    "dates out of order": (v2_with("start: 2024-01-01\n    end: 2099-01-01", "start: 2024-03-05\n    end: 2024-03-01"),
                           ["competition.yaml: phases[0].end: must be after phases[0].start (2024-03-01 < 2024-03-05)"]),
    "column key twice": (v2_with("{title: Runtime, key: runtime,", "{title: Runtime, key: accuracy,"),
                         ["competition.yaml: leaderboards[0].columns[1].key: 'accuracy' is used twice (also columns[0])"]),
    "computation on itself": (v2_with("computation_indexes: [0, 1]", "computation_indexes: [0, 2]"),
                              ["competition.yaml: leaderboards[0].columns[2].computation_indexes: references the column itself"]),
    "several problems at once": (
        bb.codabench_v2(bb.CODABENCH_V2_YAML.replace("scoring_program: scoring_program/", "scoring_program: scoring/")
                        .replace("submission_rule: Force_Last", "submission_rule: Random")
                        .replace("computation_indexes: [0, 1]", "computation_indexes: [2]")),
        ["competition.yaml: tasks[0]: scoring_program 'scoring/' not found in bundle",
         "competition.yaml: leaderboards[0].submission_rule: unknown rule 'Random' (expected one of Add, "
         "Add_And_Delete, Add_And_Delete_Multiple, Force_Last, Force_Latest_Multiple, Force_Best)",
         "competition.yaml: leaderboards[0].columns[2].computation_indexes: references the column itself"]),
}


def counts(session, storage_root: Path) -> tuple:
    objects = sum(1 for p in storage_root.rglob("*") if p.is_file())
    return tuple(session.scalar(sa.select(sa.func.count(m.id))) for m in (Competition, Artifact, Task, Phase)) + (objects,)


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_are_exact_and_leave_nothing(case, service, creator, tmp_path) -> None:
    data, expected = REFUSALS[case]
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    storage_root = Path(service.app.storage.root)
    with service.app.session_factory() as session:
        before = counts(session, storage_root)
        with pytest.raises(BundleError) as error:
            import_bundle(session, service.app.storage, Identity(creator.name), str(path), {},
                          max_bytes=1024 * 1024, max_files=20)
        assert error.value.problems == expected
        session.rollback()
        assert counts(session, storage_root) == before
    assert not list(tmp_path.glob("podium-bundle-*"))


def test_refusal_through_the_api_lists_every_problem(api, creator) -> None:
    status = import_via_api(api, creator, REFUSALS["several problems at once"][0])
    assert status["status"] == "failed" and status["errors"] == REFUSALS["several problems at once"][1]
    api(creator, "GET", "/bundle-imports/999999", expect=404)


# --- export and round trip --------------------------------------------------------------------


def competition_snapshot(session, competition: Competition) -> dict:
    def sha(artifact_id):
        return session.get(Artifact, artifact_id).sha256 if artifact_id else None

    return {
        "title": competition.title, "description": competition.description, "terms": competition.terms,
        "registration_mode": competition.registration_mode.value, "docker_image": competition.docker_image,
        "enable_detailed_results": competition.enable_detailed_results,
        "participant_groups": competition.participant_groups, "organizer_group": competition.organizer_group,
        "fact_sheet": competition.fact_sheet,
        "pages": [(p.key, p.title, p.index, p.content) for p in competition.pages],
        "tasks": [(t.key, t.name, t.description, t.ingestion_only_during_scoring, sha(t.scoring_program_id),
                   sha(t.ingestion_program_id), sha(t.input_data_id), sha(t.reference_data_id)) for t in competition.tasks],
        "leaderboards": [(b.key, b.title, b.index, b.hidden, b.primary_column_key,
                          (b.bootstrap_resamples, b.bootstrap_level, b.bootstrap_seed),
                          [(c.key, c.title, c.index, c.sorting, c.precision, c.hidden, c.computation,
                            list(c.computation_keys)) for c in b.columns]) for b in competition.leaderboards],
        "phases": [(p.index, p.name, p.description, p.start, p.end, p.max_submissions_per_day, p.max_submissions,
                    p.execution_time_limit, p.max_submission_size, p.count_failed_submissions, p.hide_output,
                    p.hide_prediction_output, p.hide_score_output, p.leaderboard_visibility.value,
                    p.submission_rule.value, p.leaderboard.key if p.leaderboard else None, [t.key for t in p.tasks],
                    sha(p.public_data_id), sha(p.starting_kit_id), p.auto_migrate, p.code_reveal, p.code_reveal_top,
                    p.accepts_notebooks)
                   for p in competition.phases],
    }


def test_export_then_import_gives_an_equal_competition(api, creator, service, tmp_path) -> None:
    """A competition authored through the API (as a notebook would) survives the round trip."""
    scoring = upload_dataset(api, creator, "scoring_program", "s.zip", programs.V2_SCORING)
    reference = upload_dataset(api, creator, "reference_data", "r.zip", programs.REFERENCE)
    public = upload_dataset(api, creator, "public_data", "p.zip", programs.INPUT_DATA)
    body = competition_body(unique_slug("trip"), registration_mode="groups", participant_groups=["class-a"],
                            organizer_group="tas", terms="Be kind.", docker_image="python:3",
                            fact_sheet={"method": {"type": "text", "title": "Method", "is_required": True,
                                                   "is_on_leaderboard": True}})
    body["tasks"][0].update(scoring_program=scoring, reference_data=reference, description="the task")
    body["leaderboards"][0]["columns"].append({"key": "avg", "title": "Average rank", "computation": "avg_rank",
                                               "computation_keys": ["accuracy", "runtime"], "hidden": True})
    body["leaderboards"][0]["primary_column"] = "avg"
    body["leaderboards"][0]["bootstrap"] = {"resamples": 300, "level": 0.8, "seed": 5}
    body["phases"][0].update(leaderboard_visibility="participants", submission_rule="selected", hide_output=True,
                             count_failed_submissions=False, public_data=public, max_submission_size=12345,
                             auto_migrate=True, code_reveal="top", code_reveal_top=5, accepts_notebooks=True)
    comp = api(creator, "POST", "/competitions", json=body, expect=201).json()
    response = api(creator, "GET", f"/competitions/{comp['id']}/bundle")
    assert response.headers["Content-Type"] == "application/zip"
    path = tmp_path / "export.zip"
    path.write_bytes(response.content)
    with service.app.session_factory() as session:
        original = session.get(Competition, comp["id"])
        assert export_bundle(session, service.app.storage, original)  # the domain call works too
        copy = import_bundle(session, service.app.storage, Identity(creator.name), str(path),
                             service.app.default_quotas, slug=unique_slug("copy"))
        session.commit()
        assert competition_snapshot(session, copy) == competition_snapshot(session, original)


def test_podium_bundle_command(tmp_path) -> None:
    podium = Path(sys.executable).parent / "podium"
    db_url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    common = [f"--db-url={db_url}", f"--data-dir={tmp_path}"]
    subprocess.run([str(podium), "db", "upgrade", *common], check=True, capture_output=True)
    bundle = tmp_path / "legacy.zip"
    bundle.write_bytes(bb.codalab_v15())
    out = subprocess.run([str(podium), "bundle", "import", str(bundle), "--owner", "alice", "--publish", *common],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Imported 'Legacy Letters' as legacy-letters" in out.stdout and "published" in out.stdout
    export = tmp_path / "out.zip"
    out = subprocess.run([str(podium), "bundle", "export", "legacy-letters", "-o", str(export), *common],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "competition.yaml" in zipfile.ZipFile(export).namelist()
    bad = tmp_path / "bad.zip"
    bad.write_bytes(REFUSALS["several problems at once"][0])
    out = subprocess.run([str(podium), "bundle", "import", str(bad), "--owner", "alice", *common],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "  - competition.yaml: tasks[0]: scoring_program 'scoring/' not found in bundle" in out.stderr
