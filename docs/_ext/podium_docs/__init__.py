"""A Sphinx extension that writes Podium's reference pages from the code at build time.

A page asks for generated text with a fenced block::

    ```{podium-generated} rest-api
    ```

and the block is replaced, before MyST parses the page, by the Markdown the named generator
returns (REST API from the OpenAPI document, configuration from the traitlets, commands from the
argparse parsers, the bundle format from its readers, notebook cells from the notebooks, a folder map from
the module docstrings). Nothing
generated is committed, so a new endpoint, option or command appears without a hand edit. A page
naming an unknown generator fails the build.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

from . import bundle_format, code_map, commands, configuration, notebooks, rest_api

GENERATORS: dict[str, Callable[..., str]] = {
    "rest-api": rest_api.render,
    "configuration": configuration.render,
    "commands": commands.render,
    "bundle-format": bundle_format.render,
    "notebook-cells": notebooks.render,
    "code-map": code_map.render,
}
BLOCK = re.compile(r"^```\{podium-generated\}[ \t]+(?P<args>[^\n]+)\n```[ \t]*$", re.MULTILINE)


class UnknownGenerator(ExtensionError):
    """A page names a generator this extension does not have."""


def expand(text: str) -> str:
    """``text`` with every ``podium-generated`` block replaced by its generated Markdown."""

    def replace(match: re.Match[str]) -> str:
        name, *args = shlex.split(match.group("args"))
        if name not in GENERATORS:
            raise UnknownGenerator(f"no generator {name!r} (known: {', '.join(GENERATORS)})")
        return GENERATORS[name](*args)

    return BLOCK.sub(replace, text)


def _source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    if "{podium-generated}" in source[0]:
        source[0] = expand(source[0])
        # generated pages depend on the code, not on their source: read them again on every build
        app.env.note_reread()


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("source-read", _source_read)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
