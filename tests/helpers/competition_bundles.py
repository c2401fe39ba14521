"""Competition bundles written by this project, in CodaLab v1.5, v1.8 and Codabench v2 form."""

from __future__ import annotations

import hashlib
import io
import textwrap
import time
import zipfile

from helpers import programs

CODALAB_V15_YAML = textwrap.dedent("""
    title: Legacy Letters
    description: Guess four letters.
    has_registration: False
    competition_docker_image: codalab/codalab-legacy:py37
    html:
      overview: overview.html
      evaluation: evaluation.html
      terms: terms.html
    phases:
      1:
        phasenumber: 1
        label: Development
        start_date: 2024-01-01
        max_submissions: 50
        scoring_program: scoring_program.zip
        reference_data: reference_data.zip
      2:
        phasenumber: 2
        label: Final
        start_date: 2099-01-01
        max_submissions: 3
        force_best_submission_to_leaderboard: True
        scoring_program: scoring_program.zip
        reference_data: reference_data.zip
    leaderboard:
      leaderboards:
        Results: &RESULTS
          label: Results
          rank: 1
      columns:
        accuracy:
          leaderboard: *RESULTS
          label: Accuracy
          rank: 1
          numeric_format: 3
        runtime:
          leaderboard: *RESULTS
          label: Runtime
          rank: 2
          sort: asc
""")


def zip_files(files: dict[str, str | bytes], prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in files.items():
            zf.writestr(prefix + name, content)
    return buffer.getvalue()


def codalab_v15(top_folder: str = "legacy/") -> bytes:
    """Inside a single top folder, with macOS junk beside it, as a Finder zip would be."""
    return _with_junk(top_folder)


def _with_junk(top_folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in {
            "competition.yaml": CODALAB_V15_YAML,
            "overview.html": "<h1>Legacy Letters</h1>",
            "evaluation.html": "<p>Accuracy</p>",
            "terms.html": "<p>Be nice.</p>",
            "scoring_program.zip": programs.CODALAB_SCORING,
            "reference_data.zip": programs.REFERENCE,
        }.items():
            zf.writestr(top_folder + name, content)
        zf.writestr("__MACOSX/._competition.yaml", b"junk")
        zf.writestr(".DS_Store", b"junk")
    return buffer.getvalue()


V2_SCORER_WITH_DETAILS = {
    "metadata.yaml": "command: python3 /app/program/score.py\n",
    "score.py": textwrap.dedent("""
        import json
        truth = open("/app/input/ref/truth.txt").read().split()[:4]
        pred = open("/app/input/res/predictions.txt").read().split()
        correct = sum(t == p for t, p in zip(truth, pred))
        json.dump({"accuracy": correct / 4, "runtime": 2.0}, open("/app/output/scores.json", "w"))
        open("/app/output/detailed_results.html", "w").write("<b>%d correct</b>" % correct)
    """),
}


def _unzip(data: bytes) -> dict[str, bytes]:
    zf = zipfile.ZipFile(io.BytesIO(data))
    return {n: zf.read(n) for n in zf.namelist()}


def import_via_api(api, user, data: bytes, name: str = "bundle.zip", slug: str | None = None) -> dict:
    """Upload ``data`` as a bundle, import it through the API and wait for the import's end."""
    announced = api(user, "POST", "/bundles", json={"name": name, "size": len(data),
                                                  "sha256": hashlib.sha256(data).hexdigest()}, expect=201).json()
    api.upload(announced["upload_url"], data)
    started = api(user, "POST", f"/bundles/{announced['id']}/import", json={"slug": slug} if slug else {},
                  expect=202).json()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = api(user, "GET", f"/bundle-imports/{started['id']}", expect=200).json()
        if status["status"] in ("succeeded", "failed"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"import stayed {status}")


def codabench_v2(yaml_text: str | None = None, extra: dict[str, str | bytes] | None = None) -> bytes:
    """Programs and data as folders, an ingestion program, a solution, computed columns."""
    files: dict[str, str | bytes] = {"competition.yaml": yaml_text or CODABENCH_V2_YAML, "overview.md": "# Hello v2",
                                     "terms.md": "Play fair."}
    for name, content in V2_SCORER_WITH_DETAILS.items():
        files[f"scoring_program/{name}"] = content
    for name, content in _unzip(programs.V2_INGESTION).items():
        files[f"ingestion_program/{name}"] = content
    files["input_data/test.txt"] = "1\n2\n3\n4\n"
    files["reference_data/truth.txt"] = "a\nb\nc\nd\n"
    files["solution/model.py"] = "def predict(x):\n    return 'abcd'[int(x) - 1]\n"
    files.update(extra or {})
    return zip_files(files)


CODABENCH_V2_YAML = textwrap.dedent("""
    version: 2
    title: Modern Letters
    description: Code submissions welcome.
    docker_image: python:3
    registration_auto_approve: true
    enable_detailed_results: true
    terms: terms.md
    pages:
      - title: Overview
        file: overview.md
    tasks:
      - index: 0
        name: Letters
        scoring_program: scoring_program/
        ingestion_program: ingestion_program/
        input_data: input_data/
        reference_data: reference_data/
    solutions:
      - index: 0
        tasks: [0]
        path: solution/
    phases:
      - index: 0
        name: Only phase
        start: 2024-01-01
        end: 2099-01-01
        max_submissions_per_day: 10
        tasks: [0]
    fact_sheet:
      approach:
        key: approach
        type: select
        title: Approach
        selection: [rules, learning]
        is_required: false
        is_on_leaderboard: true
    leaderboards:
      - index: 0
        title: Results
        key: main
        submission_rule: Force_Last
        columns:
          - {title: Accuracy, key: accuracy, index: 0, sorting: desc, precision: 2}
          - {title: Runtime, key: runtime, index: 1, sorting: asc}
          - {title: Mean, key: mean, index: 2, computation: avg, computation_indexes: [0, 1]}
""")
