"""Programs, data and submissions for pipeline tests, written by this project in both styles:
CodaLab v1.5 (``$program``-style commands, ``scores.txt``) and Codabench v2 (``/app/...``
commands, ``scores.json``, an ingestion program running code submissions)."""

from __future__ import annotations

import hashlib
import io
import textwrap
import zipfile

SECRET = "SECRET-REFERENCE-7f3a"


def make_zip(files: dict[str, str | bytes], folder: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in files.items():
            zf.writestr(folder + name, content)
    return buffer.getvalue()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


TRUTH = "a\nb\nc\nd\n"

# --- CodaLab v1.5: command with $variables, scores.txt, python (not python3) -----------------
CODALAB_SCORING = make_zip({
    "metadata": "command: python $program/score.py $input $output\ndescription: legacy scorer\n",
    "score.py": textwrap.dedent("""
        import os, sys
        import numpy
        input_dir, output_dir = sys.argv[1], sys.argv[2]
        truth = open(os.path.join(input_dir, "ref", "truth.txt")).read().split()[:4]
        pred = open(os.path.join(input_dir, "res", "predictions.txt")).read().split()
        correct = sum(1 for t, p in zip(truth, pred) if t == p)
        assert numpy.__version__ < "1.24", numpy.__version__
        with open(os.path.join(output_dir, "scores.txt"), "w") as f:
            f.write("accuracy: %s\\n" % (correct / float(len(truth))))
            f.write("runtime:1.5\\n")
        with open(os.path.join(output_dir, "detailed_results.html"), "w") as f:
            f.write("<html><body>%d of %d</body></html>" % (correct, len(truth)))
    """),
}, folder="scoring_program/")
REFERENCE = make_zip({"truth.txt": TRUTH + SECRET + "\n"})

# --- Codabench v2: /app paths, scores.json, ingestion program running code --------------------
V2_SCORING = make_zip({
    "metadata.yaml": "command: python3 /app/program/score.py\n",
    "score.py": textwrap.dedent("""
        import json, os
        truth = open("/app/input/ref/truth.txt").read().split()[:4]
        res = "/app/input/res"
        if os.path.exists(os.path.join(res, "noscore")):
            raise SystemExit(0)
        pred = open(os.path.join(res, "predictions.txt")).read().split()
        correct = sum(1 for t, p in zip(truth, pred) if t == p)
        json.dump({"accuracy": correct / len(truth), "runtime": 2.0}, open("/app/output/scores.json", "w"))
    """),
})
V2_INGESTION = make_zip({
    "metadata.yaml": "command: python3 /app/program/ingestion.py\n",
    "ingestion.py": textwrap.dedent("""
        import sys
        sys.path.insert(0, "/app/ingested_program")
        import model
        items = open("/app/input_data/test.txt").read().split()
        with open("/app/output/predictions.txt", "w") as f:
            f.write("\\n".join(model.predict(x) for x in items))
    """),
})
INPUT_DATA = make_zip({"test.txt": "1\n2\n3\n4\n"})


def code_submission(body: str) -> bytes:
    return make_zip({"model.py": textwrap.dedent(body)})


GOOD_MODEL = code_submission("""
    def predict(x):
        return {"1": "a", "2": "b", "3": "c", "4": "x"}[x]
""")


def result_submission(predictions: str) -> bytes:
    return make_zip({"predictions.txt": predictions})

# --- a second task's scorer (multi-task phases) and a scorer that writes its own metadata -----
F1_SCORING = make_zip({
    "metadata.yaml": "command: python3 /app/program/score.py\n",
    "score.py": textwrap.dedent("""
        import json
        open("/app/output/metadata", "w").write("forged: true\\n")
        json.dump({"f1": 0.5}, open("/app/output/scores.json", "w"))
    """),
})

# --- ingestion during scoring: ingestion and scoring run together, talking through /app/shared --
SHARED_INGESTION = make_zip({
    "metadata.yaml": "command: python3 /app/program/ingestion.py\n",
    "ingestion.py": textwrap.dedent("""
        import sys
        sys.path.insert(0, "/app/ingested_program")
        import model
        items = open("/app/input_data/test.txt").read().split()
        open("/app/shared/answer.tmp", "w").write("\\n".join(model.predict(x) for x in items))
        import os
        os.rename("/app/shared/answer.tmp", "/app/shared/answer.txt")
    """),
})
SHARED_SCORING = make_zip({
    "metadata.yaml": "command: python3 /app/program/score.py\n",
    "score.py": textwrap.dedent("""
        import json, os, time
        deadline = time.time() + 30
        while not os.path.exists("/app/shared/answer.txt") and time.time() < deadline:
            time.sleep(0.1)
        truth = open("/app/input/ref/truth.txt").read().split()[:4]
        pred = open("/app/shared/answer.txt").read().split()
        json.dump({"accuracy": sum(t == p for t, p in zip(truth, pred)) / 4, "runtime": 1.0},
                  open("/app/output/scores.json", "w"))
    """),
})

# --- a legacy code submission without an ingestion program: it declares its own command -------
LEGACY_CODE_SUBMISSION = make_zip({
    "metadata": "command: python $program/predict.py $input $output\n",
    "predict.py": textwrap.dedent("""
        import os, sys
        items = open(os.path.join(sys.argv[1], "test.txt")).read().split()
        open(os.path.join(sys.argv[2], "predictions.txt"), "w").write("\\n".join("abcd"[int(i) - 1] for i in items))
    """),
})
