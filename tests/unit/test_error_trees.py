"""One error tree per side: every exception class defined anywhere in ``podium.server`` (resp.
``podium.worker``) descends from ``PodiumError`` (resp. ``WorkerError``) and is drawn in the
docstring of ``errors.py`` under its parent, so a new class without a place in the tree fails."""

from __future__ import annotations

import ast
import importlib
import itertools
import re
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
from podium import server, worker
from podium.server import errors as server_errors
from podium.worker import errors as worker_errors

_NAME = re.compile(r"[A-Z]\w*")
_TREE_DRAWING = " │├└─"  # what stands before a name: its depth is the drawing's width / 4


def drawn_tree(docstring: str) -> dict[str, str | None]:
    """Each name of the tree in the docstring's ``::`` block, with the name it is drawn under."""
    after = docstring.split("::\n", 1)[1].splitlines()
    block = list(itertools.takewhile(lambda line: not line or line.startswith(" "), after))
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in textwrap.dedent("\n".join(block)).strip("\n").splitlines():
        column = len(line) - len(line.lstrip(_TREE_DRAWING))
        name = _NAME.match(line, column)
        assert name is not None and column % 4 == 0, f"unreadable line in the error tree: {line!r}"
        depth = column // 4
        del stack[depth:]
        parents[name.group()] = stack[-1] if stack else None
        stack.append(name.group())
    return parents


def exception_classes(package: ModuleType) -> list[type[BaseException]]:
    """Every exception class a module of ``package`` defines at module level or inside a class."""
    root = Path(package.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        names = _class_names(ast.parse(path.read_text(), str(path)).body)
        if not names:
            continue  # nothing to import (Alembic's env.py would run a migration if imported)
        parts = path.relative_to(root).with_suffix("").parts
        module = importlib.import_module(".".join((package.__name__, *parts)).removesuffix(".__init__"))
        for qualname in names:
            obj: object = module
            for part in qualname.split("."):
                obj = getattr(obj, part)
            if isinstance(obj, type) and issubclass(obj, BaseException):
                found.append(obj)
    return found


def _class_names(body: list[ast.stmt], prefix: str = "") -> list[str]:
    names = []
    for node in body:
        if isinstance(node, ast.ClassDef):
            names += [prefix + node.name, *_class_names(node.body, f"{prefix}{node.name}.")]
    return names


def tree_problems(package: ModuleType, errors: ModuleType, root: type[BaseException]) -> list[str]:
    """What is wrong with ``package``'s error tree: classes outside the root, missing from the
    drawing or drawn under another parent, and names drawn that no class has."""
    classes = exception_classes(package)
    drawn = drawn_tree(errors.__doc__ or "")
    problems = []
    names = [cls.__name__ for cls in classes]
    problems += [f"two exception classes are named {n}" for n in sorted({n for n in names if names.count(n) > 1})]
    problems += [f"{n} is drawn in the tree but no class has that name" for n in sorted(set(drawn) - set(names))]
    for cls in classes:
        where = f"{cls.__module__}.{cls.__qualname__}"
        if not issubclass(cls, root):
            problems.append(f"{where} does not descend from {root.__name__}")
        if cls.__name__ not in drawn:
            problems.append(f"{where} is not drawn in the tree of {errors.__name__}")
            continue
        parent = next((base.__name__ for base in cls.__mro__[1:] if base.__name__ in drawn), None)
        if drawn[cls.__name__] != parent:
            problems.append(f"{cls.__name__} is drawn under {drawn[cls.__name__]} but descends from {parent}")
    return problems


@pytest.mark.parametrize(
    "package, errors, root",
    [(server, server_errors, server_errors.PodiumError), (worker, worker_errors, worker_errors.WorkerError)],
    ids=["server", "worker"],
)
def test_every_exception_class_has_its_place_in_the_tree(package, errors, root):
    assert root in exception_classes(package)
    assert tree_problems(package, errors, root) == []


def test_the_check_finds_a_stray_class_and_a_stale_drawing(tmp_path, monkeypatch):
    package = tmp_path / "strays"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "errors.py").write_text(
        '"""Tree.\n\n::\n\n    RootError\n    ├── Refused\n    │   └── Gone\n    └── Missing\n"""\n\n'
        "class RootError(Exception):\n    pass\n\n\n"
        "class Refused(RootError):\n    pass\n\n\n"
        "class Gone(RootError):\n    pass\n"
    )
    (package / "elsewhere.py").write_text(
        "class Holder:\n    class Stray(ValueError):\n        pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    strays = importlib.import_module("strays")
    errors = importlib.import_module("strays.errors")

    assert sorted(tree_problems(strays, errors, errors.RootError)) == [
        "Gone is drawn under Refused but descends from RootError",
        "Missing is drawn in the tree but no class has that name",
        "strays.elsewhere.Holder.Stray does not descend from RootError",
        "strays.elsewhere.Holder.Stray is not drawn in the tree of strays.errors",
    ]
