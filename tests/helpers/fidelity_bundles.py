"""Bundles shaped like the ones organizers publish for Codabench and CodaLab 1.5, written by this
project from the format's documentation and Codabench's code (its unpackers and compute worker):
month-first dates, a result submission in a phase with an ingestion program, a legacy scorer that
reads ``input/res/metadata``, scorers writing only some columns or extra nested keys, a 4-task
phase and an ingestion-during-scoring task whose ingestion exits non-zero."""

from __future__ import annotations

import textwrap

from helpers.competition_bundles import zip_files
from helpers.programs import make_zip

TRUTH = "a\nb\nc\nd\n"

# --- a Codabench v2 bundle: month-first dates, a scorer writing one of two columns plus nested
# extra keys and a detailed results page; registration_auto_approve left unset ----------------
PARTIAL_SCORER = {
    "metadata.yaml": "command: python3 /app/program/score.py\n",
    "score.py": textwrap.dedent("""
        import json
        truth = open("/app/input/ref/truth.txt").read().split()
        pred = open("/app/input/res/predictions.txt").read().split()
        correct = sum(t == p for t, p in zip(truth, pred))
        # 'duration' is a leaderboard column this program never writes; the rest are not columns
        json.dump({"accuracy": correct / 4, "all_costs": {"train": [1.5, 2.0], "per_class": {"a": 1}},
                   "notes": "per-class table below"}, open("/app/output/scores.json", "w"))
        open("/app/output/detailed_results.html", "w").write("<p>%d of 4</p>" % correct)
    """),
}

MONTH_FIRST_YAML = textwrap.dedent("""
    version: 2
    title: Month First Letters
    description: Dates as Codabench organizers write them.
    terms: terms.md
    enable_detailed_results: true
    pages:
      - title: Overview
        file: overview.md
    tasks:
      - index: 0
        name: Letters
        scoring_program: scoring_program/
        reference_data: reference_data/
    phases:
      - index: 0
        name: Warm-up
        start: 8-7-2019
        end: 6-15-2020
        tasks: [0]
      - index: 1
        name: Main
        start: 1/1/2026
        end: 12-31-2099
        tasks: [0]
    leaderboards:
      - index: 0
        title: Results
        key: main
        submission_rule: Force_Last
        columns:
          - {title: Accuracy, key: accuracy, index: 0, sorting: desc, precision: 3}
          - {title: Duration, key: duration, index: 1, sorting: asc}
""")


def month_first_v2() -> bytes:
    files: dict[str, str | bytes] = {"competition.yaml": MONTH_FIRST_YAML, "overview.md": "# Letters",
                                     "terms.md": "Play fair.", "reference_data/truth.txt": TRUTH}
    files.update({f"scoring_program/{name}": text for name, text in PARTIAL_SCORER.items()})
    return zip_files(files)


# --- a CodaLab 1.5 bundle: an ingestion program for code submissions, and a legacy scorer that
# reads the prediction step's metadata (elapsedTime, as CodaLab's "Duration" columns do) -------
LEGACY_INGESTION = make_zip({
    "metadata": "command: python $ingestion_program/ingestion.py $input $output $ingestion_program "
                "$submission_program\n",
    "ingestion.py": textwrap.dedent("""
        import os, sys
        input_dir, output_dir, program_dir, submission_dir = sys.argv[1:5]
        sys.path.insert(0, submission_dir)
        import model
        items = open(os.path.join(input_dir, "test.txt")).read().split()
        with open(os.path.join(output_dir, "predictions.txt"), "w") as f:
            f.write("\\n".join(model.predict(x) for x in items))
    """),
})

LEGACY_METADATA_SCORER = make_zip({
    "metadata": "command: python $program/score.py $input $output\n",
    "score.py": textwrap.dedent("""
        import os, sys, yaml
        input_dir, output_dir = sys.argv[1], sys.argv[2]
        truth = open(os.path.join(input_dir, "ref", "truth.txt")).read().split()
        pred = open(os.path.join(input_dir, "res", "predictions.txt")).read().split()
        correct = sum(1 for t, p in zip(truth, pred) if t == p)
        metadata = yaml.safe_load(open(os.path.join(input_dir, "res", "metadata")))
        duration = float(metadata["elapsedTime"])
        with open(os.path.join(output_dir, "scores.txt"), "w") as f:
            f.write("accuracy: %s\\n" % (correct / 4.0))
            f.write("duration: %s\\n" % duration)
            f.write("ingestion_exit: %s\\n" % metadata["ingestionExitCode"])
    """),
})

CODALAB_INGESTION_YAML = textwrap.dedent("""
    title: Legacy Code Letters
    description: Code or results, as CodaLab 1.5 ran them.
    has_registration: False
    html:
      overview: overview.html
      terms: terms.html
    phases:
      1:
        phasenumber: 1
        label: Development
        start_date: 1-1-2024
        max_submissions: 20
        ingestion_program: ingestion_program.zip
        input_data: input_data.zip
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
          numeric_format: 2
        duration:
          leaderboard: *RESULTS
          label: Duration
          rank: 2
          sort: asc
        ingestion_exit:
          leaderboard: *RESULTS
          label: Ingestion exit code
          rank: 3
""")


def codalab15_with_ingestion() -> bytes:
    return zip_files({
        "competition.yaml": CODALAB_INGESTION_YAML, "overview.html": "<p>o</p>", "terms.html": "<p>t</p>",
        "ingestion_program.zip": LEGACY_INGESTION, "input_data.zip": make_zip({"test.txt": "1\n2\n3\n4\n"}),
        "scoring_program.zip": LEGACY_METADATA_SCORER, "reference_data.zip": make_zip({"truth.txt": TRUTH}),
    })


# --- a Codabench v2 phase of four tasks, each scored on its own reference data -----------------
TASK_SCORER = {
    "metadata.yaml": "command: python3 /app/program/score.py\n",
    "score.py": textwrap.dedent("""
        import json
        weight = float(open("/app/input/ref/weight.txt").read())
        pred = open("/app/input/res/predictions.txt").read().split()
        json.dump({"score": weight * len(pred)}, open("/app/output/scores.json", "w"))
    """),
}


def four_tasks_v2() -> bytes:
    tasks = "".join(f"  - index: {i}\n    name: Task {i}\n    scoring_program: scoring_program/\n"
                    f"    reference_data: reference_{i}/\n" for i in range(4))
    yaml_text = ("version: 2\ntitle: Four Tasks\nregistration_auto_approve: true\nterms: terms.md\n"
                 "pages:\n  - {title: Overview, file: overview.md}\n"
                 f"tasks:\n{tasks}"
                 "phases:\n  - index: 0\n    name: All tasks\n    start: 1-1-2024\n    end: 1-1-2099\n"
                 "    tasks: [0, 1, 2, 3]\n"
                 "leaderboards:\n  - index: 0\n    title: Results\n    key: main\n    submission_rule: Force_Last\n"
                 "    columns:\n      - {title: Score, key: score, index: 0, sorting: desc, precision: 2}\n")
    files: dict[str, str | bytes] = {"competition.yaml": yaml_text, "overview.md": "# Four", "terms.md": "Fair."}
    files.update({f"scoring_program/{name}": text for name, text in TASK_SCORER.items()})
    files.update({f"reference_{i}/weight.txt": str(0.1 * (i + 1)) for i in range(4)})
    return zip_files(files)


# --- ingestion during scoring: the ingestion exits 3 after handing over its answer ------------
FAILING_SHARED_INGESTION = {
    "metadata.yaml": "command: python3 /app/program/ingestion.py\n",
    "ingestion.py": textwrap.dedent("""
        import os, sys
        sys.path.insert(0, "/app/ingested_program")
        import model
        items = open("/app/input_data/test.txt").read().split()
        open("/app/shared/answer.tmp", "w").write("\\n".join(model.predict(x) for x in items))
        os.rename("/app/shared/answer.tmp", "/app/shared/answer.txt")
        sys.exit(3)
    """),
}
SHARED_SCORER = {
    "metadata.yaml": "command: python3 /app/program/score.py\n",
    "score.py": textwrap.dedent("""
        import json, os, time
        deadline = time.time() + 60
        while not os.path.exists("/app/shared/answer.txt") and time.time() < deadline:
            time.sleep(0.1)
        truth = open("/app/input/ref/truth.txt").read().split()
        pred = open("/app/shared/answer.txt").read().split()
        json.dump({"accuracy": sum(t == p for t, p in zip(truth, pred)) / 4}, open("/app/output/scores.json", "w"))
    """),
}


def ingestion_during_scoring_v2() -> bytes:
    yaml_text = textwrap.dedent("""
        version: 2
        title: Shared Letters
        registration_auto_approve: true
        terms: terms.md
        pages:
          - {title: Overview, file: overview.md}
        tasks:
          - index: 0
            name: Letters
            ingestion_only_during_scoring: true
            ingestion_program: ingestion_program/
            input_data: input_data/
            scoring_program: scoring_program/
            reference_data: reference_data/
        phases:
          - {index: 0, name: Only, start: 1-1-2024, end: 1-1-2099, tasks: [0]}
        leaderboards:
          - index: 0
            title: Results
            key: main
            columns:
              - {title: Accuracy, key: accuracy, index: 0}
    """)
    files: dict[str, str | bytes] = {"competition.yaml": yaml_text, "overview.md": "# Shared", "terms.md": "Fair.",
                                     "input_data/test.txt": "1\n2\n3\n4\n", "reference_data/truth.txt": TRUTH}
    files.update({f"ingestion_program/{name}": text for name, text in FAILING_SHARED_INGESTION.items()})
    files.update({f"scoring_program/{name}": text for name, text in SHARED_SCORER.items()})
    return zip_files(files)
