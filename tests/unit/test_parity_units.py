"""What a submission imports (read with ``ast``, never run) and how a kernel differs from an image."""

from __future__ import annotations

import json

from podium.widgets import parity

IMAGE = {"python": "3.9.2", "packages": {"numpy": "1.19.5", "PyYAML": "5.3.1"}}
KERNEL = {"python": "3.11.2", "packages": {"numpy": "1.26.4", "pyyaml": "5.3.1"}}


def test_imports_come_from_files_notebooks_folders_and_text(tmp_path) -> None:
    (tmp_path / "model.py").write_text("import numpy.linalg\nfrom sklearn.svm import SVC\nfrom . import local\n")
    notebook = {"cells": [
        {"cell_type": "code", "source": ["%matplotlib inline\n", "import pandas as pd\n"]},
        {"cell_type": "markdown", "source": ["import not_code"]},
        {"cell_type": "code", "source": ["!pip install x\n", "import os, json\n", "import scipy"]},
    ]}
    (tmp_path / "work.ipynb").write_text(json.dumps(notebook))
    assert parity.imported_modules(tmp_path / "model.py") == ["numpy", "sklearn"]
    assert parity.imported_modules(tmp_path / "work.ipynb") == ["pandas", "scipy"]
    assert parity.imported_modules(tmp_path) == ["numpy", "pandas", "scipy", "sklearn"]
    assert parity.imported_modules("import torch\nfrom __future__ import annotations\nimport sys\n") == ["torch"]
    assert parity.imported_modules("def broken(:\n") == []  # unparsable text has no imports to report
    assert parity.imported_modules(parity) == ["podium"]  # a module object: its file (check imports podium.worker)


def test_the_diff_names_each_import_with_both_versions() -> None:
    rows = parity.environment_diff(IMAGE, "import numpy\nimport yaml\nimport zzz_nowhere\n", KERNEL)
    assert rows[0] == {"module": "python", "package": "Python", "kernel": "3.11.2", "image": "3.9.2", "same": False}
    by_module = {r["module"]: r for r in rows[1:]}
    assert by_module["numpy"] == {"module": "numpy", "package": "numpy", "kernel": "1.26.4", "image": "1.19.5",
                                  "same": False}
    assert by_module["yaml"]["package"] == "pyyaml" and by_module["yaml"]["same"] is True
    assert by_module["zzz_nowhere"]["kernel"] is None and by_module["zzz_nowhere"]["image"] is None
    table = parity.diff_html(rows, "<img>")
    assert "&lt;img&gt;" in table and table.count("differs") == 3 and "<i>missing</i>" in table
    assert "1.19.5" in parity.diff_text(rows)
