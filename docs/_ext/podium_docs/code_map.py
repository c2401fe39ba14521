"""A map of a package's folders and modules, each with the first line of its docstring.

The architecture page shows ``server/`` this way, so a new subpackage appears with the sentence
its author wrote at its top.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .markdown import code, table

REPO = Path(__file__).resolve().parents[3]


def summary(path: Path) -> str:
    """The first line of a module's docstring, with rST literals made Markdown."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf8"))) or ""
    return (docstring.strip().splitlines() or [""])[0].replace("``", "`")


def render(folder: str) -> str:
    """One row per subpackage (its ``__init__``) and per top module of ``folder``."""
    root = REPO / folder
    rows = [[code(f"{p.name}/"), summary(p / "__init__.py")]
            for p in sorted(root.iterdir()) if (p / "__init__.py").exists()]
    rows += [[code(p.name), summary(p)] for p in sorted(root.glob("*.py")) if p.name != "__init__.py"]
    return "\n".join(table(["where", "what it holds"], rows))
