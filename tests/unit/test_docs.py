"""The documentation site builds with warnings as errors, and its reference pages come from the code.

The site is built once (``scripts/docs.sh`` into a temporary folder, as the test command does);
the checks then read the generated pages for every API route, configuration option, ``podium``
command and public name of ``podium.widgets``. A generator is also fed a class it has never seen,
to show that a new option appears without a hand edit.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from traitlets import Integer, default

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

from podium_docs import UnknownGenerator, configuration, expand, notebooks  # noqa: E402


class _Text(HTMLParser):
    """The visible text of a page, whitespace collapsed, and the ids of its elements."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.ids: set[str] = set()
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


class Page:
    def __init__(self, path: Path) -> None:
        parser = _Text()
        parser.feed(path.read_text(encoding="utf8"))
        self.text = re.sub(r"\s+", " ", "".join(parser.parts))
        self.ids = parser.ids


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs-html")
    build = subprocess.run(["bash", str(ROOT / "scripts" / "docs.sh"), str(out)], capture_output=True,
                           text=True, env={**os.environ, "PYTHON": sys.executable})
    assert build.returncode == 0, build.stdout + build.stderr
    return out


def page(site: Path, name: str) -> Page:
    return Page(site / f"{name}.html")


def test_every_api_route_and_verb_is_in_the_rest_reference(site: Path) -> None:
    from podium.server.openapi import VERBS, template_to_openapi
    from podium.server.routes import api_routes

    text = page(site, "reference/rest-api").text
    routes = api_routes()
    assert len(routes) > 30
    for template, handler in routes:
        for verb in VERBS:
            if getattr(getattr(handler, verb, None), "operation", None) is not None:
                assert f"{verb.upper()} {template_to_openapi(template)}" in text, (verb, template)


def test_every_configurable_trait_is_in_the_configuration_reference(site: Path) -> None:
    from podium.server.app import PodiumService

    reference = page(site, "reference/configuration")
    for name, trait in PodiumService.class_traits(config=True).items():
        assert f"c.PodiumService.{name} = ..." in reference.text, name
        assert " ".join(trait.help.replace("`", "").split()[:6]) in reference.text, name
    # the environment variable a default reads is found in the code of that default
    assert "PODIUM_DB_URL" in reference.text and "PODIUM_SECRET_KEY" in reference.text


def test_every_podium_command_and_option_is_in_the_command_reference(site: Path) -> None:
    from podium.hub.cli import COMMANDS, parser_for

    text = page(site, "reference/commands").text
    for name, (_, summary) in COMMANDS.items():
        assert f"podium {name}" in text and summary.replace("`", "") in text, name
        parser = parser_for(name)
        if parser is None:
            continue
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings:
                assert option in text, (name, option)
    assert "podium bundle import" in text and "--owner OWNER" in text


def test_the_widgets_api_is_documented_from_its_docstrings(site: Path) -> None:
    import podium.widgets

    reference = page(site, "reference/widgets")
    for name in podium.widgets.__all__:
        assert f"podium.widgets.{name}" in reference.ids, name
    assert "Competition.submit_dataframe" in " ".join(reference.ids)


def test_tutorials_are_the_notebooks_the_tests_execute(site: Path) -> None:
    import json

    for name in ("organizer", "participant", "instructor"):
        book = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
        first_code = next("".join(c["source"]) for c in book["cells"] if c["cell_type"] == "code")
        text = page(site, f"tutorials/{name}").text
        assert " ".join(first_code.split()) in text, name


def test_guides_quote_the_notebook_cells_the_tests_run(site: Path) -> None:
    text = page(site, "howto/attach-a-worker").text
    for cell in notebooks.code_cells("notebooks/admin.ipynb"):
        assert " ".join(cell.split()) in text
    with pytest.raises(notebooks.NoSuchCell, match="has 5 code cells, not 9"):
        notebooks.render("notebooks/admin.ipynb", "9")


def test_the_architecture_page_maps_every_server_folder_from_its_docstring(site: Path) -> None:
    text = page(site, "explanation/architecture").text
    for folder in (ROOT / "server").iterdir():
        if (folder / "__init__.py").exists():
            assert f"{folder.name}/" in text, folder.name
    assert "Leaderboards: ranking as pure functions" in text


def test_a_new_option_appears_without_a_hand_edit() -> None:
    from podium.server.app import PodiumService

    class Extended(PodiumService):
        reticulation_splines = Integer(help="Splines reticulated per request. 0 means none.").tag(config=True)

        @default("reticulation_splines")
        def _reticulation_splines_default(self) -> int:
            return int(os.environ.get("PODIUM_SPLINES", "3"))

    text = configuration.render_class(Extended, {})
    section = text.split("### `reticulation_splines`", 1)[1].split("###", 1)[0]
    assert "Splines reticulated per request. 0 means none." in section
    assert "`PODIUM_SPLINES`" in section and "computed" in section
    assert "`--Extended.reticulation_splines=...`" in section


def test_a_page_naming_an_unknown_generator_fails_the_build() -> None:
    with pytest.raises(UnknownGenerator, match="no generator 'nope'"):
        expand("# Page\n\n```{podium-generated} nope\n```\n")


def test_the_readme_maps_every_folder_and_module_of_the_server() -> None:
    readme = (ROOT / "README.md").read_text()
    server = ROOT / "server"
    names = {f"`{p.name}/`" for p in server.iterdir() if (p / "__init__.py").exists()}
    names |= {f"`{p.name}`" for p in server.glob("*.py") if p.name != "__init__.py"}
    map_section = readme.split("### A map of `server/`", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip() for line in map_section.splitlines() if line.startswith("| `")}
    assert names - rows == set(), "add these to the README's map of server/"
    assert rows - names == set(), "the README maps what is gone"
