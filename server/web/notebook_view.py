"""An executed notebook (written by participant code in a container: hostile) turned into plain
data the submission page's template renders with autoescaping, so nothing in it runs.

Code cells and text, stream and error outputs are text (ANSI colour codes and control
characters removed); PNG, JPEG and GIF outputs become ``data:`` image URIs (the page's CSP allows
``img-src data:``) after their base64 is checked; HTML and Markdown go through the project's
sanitizer (``content.sanitize_html``: nh3); JavaScript, SVG and every other type are dropped
with a note. The page's CSP (``script-src 'self'``) is the second wall: even a tag the sanitizer
let through could not run a script.
"""

from __future__ import annotations

import json
import re
from typing import Any

from markupsafe import Markup

from ..errors import NotebookUnreadable
from .content import render_page_content, sanitize_html

__all__ = ["NotebookUnreadable", "notebook_cells", "plain"]

#: bytes: a larger executed notebook is not shown (it can still be downloaded)
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_CELLS = 2000
#: characters of one cell's source or one output's text shown
MAX_TEXT_CHARS = 100_000
#: characters of one image's base64 shown
MAX_IMAGE_CHARS = 4 * 1024 * 1024
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BASE64 = re.compile(r"^[A-Za-z0-9+/\s]*={0,2}\s*$")


def plain(value: Any, limit: int = MAX_TEXT_CHARS) -> str:
    """A notebook text field (a string or a list of strings) as clean text, capped."""
    if isinstance(value, list):
        value = "".join(v for v in value if isinstance(v, str))
    if not isinstance(value, str):
        return ""
    text = _CONTROL.sub("", _ANSI.sub("", value))
    return text if len(text) <= limit else text[:limit] + "\n[… cut …]"


def _image(data: dict[str, Any]) -> dict[str, Any] | None:
    for kind in IMAGE_TYPES:
        encoded = data.get(kind)
        if isinstance(encoded, list):
            encoded = "".join(e for e in encoded if isinstance(e, str))
        if isinstance(encoded, str) and len(encoded) <= MAX_IMAGE_CHARS and _BASE64.match(encoded):
            return {"kind": "image", "src": f"data:{kind};base64,{''.join(encoded.split())}"}
    return None


def _output(output: Any) -> dict[str, Any] | None:
    found = _output_fields(output)
    return None if found is None else {"text": "", "src": "", "html": "", "name": "", **found}


def _output_fields(output: Any) -> dict[str, Any] | None:
    if not isinstance(output, dict):
        return None
    kind = output.get("output_type")
    if kind == "stream":
        return {"kind": "stream", "name": "stderr" if output.get("name") == "stderr" else "stdout",
                "text": plain(output.get("text"))}
    if kind == "error":
        lines = output.get("traceback")
        text = "\n".join(plain(line) for line in lines if isinstance(line, str)) if isinstance(lines, list) else ""
        return {"kind": "error", "text": plain(text) or f"{plain(output.get('ename'), 200)}: {plain(output.get('evalue'))}"}
    if kind in ("execute_result", "display_data"):
        data = output.get("data")
        if not isinstance(data, dict):
            return None
        image = _image(data)
        if image is not None:
            return image
        if "text/html" in data:
            return {"kind": "html", "html": Markup(sanitize_html(plain(data["text/html"])))}
        if "text/markdown" in data:
            return {"kind": "html", "html": Markup(render_page_content(plain(data["text/markdown"])))}
        if "text/plain" in data:
            return {"kind": "text", "text": plain(data["text/plain"])}
        return {"kind": "dropped", "text": "(output not shown: " + ", ".join(sorted(map(str, data))[:5])[:200] + ")"}
    return None


def _has_error(cell: dict[str, Any]) -> bool:
    outputs = cell.get("outputs")
    return isinstance(outputs, list) and any(isinstance(o, dict) and o.get("output_type") == "error" for o in outputs)


def notebook_cells(data: bytes) -> list[dict[str, Any]]:
    """The cells to show, numbered from 1 as the failure reason numbers them; raises
    ``NotebookUnreadable`` when ``data`` is too large or not a notebook."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookUnreadable(f"the executed notebook is larger than {MAX_NOTEBOOK_BYTES // (1024 * 1024)} MB")
    try:
        nb = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotebookUnreadable("the executed notebook is not valid JSON") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise NotebookUnreadable("the executed notebook has no cells")
    shown = []
    blank = {"source": "", "html": "", "outputs": [], "count": None, "failed": False}
    for number, cell in enumerate(cells[:MAX_CELLS], start=1):
        if not isinstance(cell, dict):
            continue
        kind = cell.get("cell_type")
        source = plain(cell.get("source"))
        if kind == "markdown":
            shown.append({**blank, "number": number, "kind": "markdown", "html": Markup(render_page_content(source))})
        elif kind == "code":
            count = cell.get("execution_count")
            outputs = [o for o in map(_output, cell.get("outputs") or []) if o is not None] \
                if isinstance(cell.get("outputs"), list) else []
            shown.append({**blank, "number": number, "kind": "code", "source": source, "outputs": outputs,
                          "count": count if isinstance(count, int) and not isinstance(count, bool) else None,
                          "failed": _has_error(cell)})
        else:
            shown.append({**blank, "number": number, "kind": "raw", "source": source})
    return shown
