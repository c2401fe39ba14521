"""Sphinx configuration of Podium's documentation site (MyST Markdown and notebooks).

Built with warnings as errors by ``scripts/test.sh`` and ``tests/unit/test_docs.py``:

    sphinx-build -W -n --keep-going -E -b html docs docs/_build/html

The reference pages are written from the code at build time by ``_ext/podium_docs``; the
tutorials are the walk-through notebooks themselves (``notebooks/``, linked into
``tutorials/``), shown as they are: the end-to-end tests execute them, the build does not.
Link to a tutorial with the ``{doc}`` role: a Markdown link follows the symlink and misses.
"""

import sys
from datetime import date
from importlib.metadata import version as installed_version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "Podium"
author = "Podium contributors"
copyright = f"{date.today().year}, {author}"
release = installed_version("jupyter-podium")

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "podium_docs",
]
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
default_role = "literal"
smartquotes = False  # quotes stay as typed: option values and messages are quoted literally

# -- MyST and notebooks -------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # the end-to-end tests execute the notebooks against a real service
nb_merge_streams = True

# -- autodoc (podium.widgets) -------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True}
autodoc_type_aliases = {"PodiumClient": "podium.widgets.client.PodiumClient", "Source": "podium.widgets.part_upload.Source"}
# Types from libraries whose inventories are not fetched (the build runs offline).
nitpick_ignore_regex = [
    (r"py:.*", r"(pd|pandas|np|numpy|requests|ipywidgets|widgets|traitlets|pathlib|os|datetime|collections\.abc|typing|types)\..*"),
    (r"py:.*", r"(Path|Any|Callable|Iterable|Iterator|Mapping|Sequence|DataFrame|PathLike|NoneType)"),
    (r"py:class", r"(bytes|str|int|float|bool|dict|list|tuple|object|None)"),
    # bases that are not part of the public API
    (r"py:.*", r"podium\.widgets\.authoring\.AuthoringError"),
]

# -- HTML -----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "Podium"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_static_path: list[str] = []
