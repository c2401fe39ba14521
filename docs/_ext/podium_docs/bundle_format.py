"""The bundle format reference, read from the bundle readers and writer themselves.

What each reader understands is its module docstring; the mappings (submission rules,
computed columns, page keys, defaults) are the readers' own tables, so a new rule or key
appears here without a hand edit.
"""

from __future__ import annotations

import inspect

from .markdown import code, table


def _docstring(module: object) -> str:
    return inspect.cleandoc(module.__doc__ or "").replace("``", "`")


def render() -> str:
    from podium.server.bundles import codabench, codalab, exporter, importer
    from podium.worker import archives

    lines = ["## How the format is detected", "", _docstring(importer), "",
             "## CodaLab (`version` absent, 1, 1.5 or 1.8)", "", _docstring(codalab), "",
             "Pages CodaLab names in `html:` and the titles they get:", "",
             *table(["key", "page title"], [[code(k), v] for k, v in codalab.PAGE_KEYS.items()]), "",
             "Programs and data a phase may name: " + ", ".join(code(p) for p in codalab.PROGRAMS) + ".", "",
             "## Codabench (`version: 2`)", "", _docstring(codabench), "",
             "Defaults of a phase that gives none:", "",
             *table(["setting", "default"], [[code(k), code(v)] for k, v in codabench.DEFAULTS.items()]), "",
             "`submission_rule` → which submissions rank:", "",
             *table(["Codabench", "Podium"], [[code(k), code(v)] for k, v in codabench.SUBMISSION_RULES.items()]), "",
             "Computed columns (`computation`):", "",
             *table(["Codabench", "Podium"], [[code(k), code(v)] for k, v in codabench.COMPUTATIONS.items()]), "",
             "Programs and data a task may name: " + ", ".join(code(p) for p in codabench.PROGRAMS) + ".", "",
             "## Export (always Codabench v2)", "", _docstring(exporter), "",
             *table(["Podium submission rule", "written as"], [[code(k), code(v)] for k, v in exporter.RULES_BACK.items()]), "",
             "## Archives", "", _docstring(archives), "",
             f"Caps: {archives.DEFAULT_MAX_BYTES:,} bytes written and {archives.DEFAULT_MAX_FILES:,} files.", ""]
    return "\n".join(lines)
