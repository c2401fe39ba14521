"""Code cells of the walk-through notebooks, quoted literally in a page.

A how-to guide can show the very code that ``tests/e2e`` executes: ``notebook-cells
notebooks/admin.ipynb 1 3`` quotes the first and third code cells of that notebook.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


class NoSuchCell(LookupError):
    """A page quotes a code cell the notebook does not have."""


def code_cells(path: str) -> list[str]:
    book = json.loads((REPO / path).read_text())
    return ["".join(c["source"]) for c in book["cells"] if c["cell_type"] == "code"]


def render(path: str, *numbers: str) -> str:
    """The code cells ``numbers`` (1-based, among code cells) of the notebook at ``path``."""
    cells = code_cells(path)
    blocks = []
    for number in numbers or [str(i + 1) for i in range(len(cells))]:
        index = int(number) - 1
        if not 0 <= index < len(cells):
            raise NoSuchCell(f"{path} has {len(cells)} code cells, not {number}")
        blocks += ["```python", cells[index].rstrip(), "```", ""]
    return "\n".join(blocks)
