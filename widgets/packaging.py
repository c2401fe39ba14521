"""Turning what a participant has in a notebook into the zip a phase accepts.

A submission is always one zip: CodaLab and Codabench scoring programs read the participant's
files from ``/app/input/res`` (results) or import them from ``/app/ingested_program`` (code), so
each form here only decides which files go into that zip and under which names.
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import os
import textwrap
import types
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


class PackagingError(ValueError):
    """What the participant gave cannot be made into a submission; the message says why."""


def zip_files(files: dict[str, str | bytes]) -> bytes:
    """A zip holding ``files`` (archive name → content).

    Deterministic: the same files give the same bytes (entries carry a fixed date, not the
    time of packing), so re-saving a competition re-uploads only data whose content changed.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, content)
    return buffer.getvalue()


def zip_path(path: str | os.PathLike[str]) -> bytes:
    """A file or folder as a submission zip: a ``.zip`` goes as it is, a file is zipped under its
    own name, a folder's content is zipped relative to the folder (no top-level folder, since
    scoring programs look for ``predictions.csv``, not ``my-run/predictions.csv``)."""
    source = Path(path).expanduser()
    if not source.exists():
        raise PackagingError(f"There is no file or folder at {source}.")
    if source.is_file():
        if source.suffix.lower() == ".zip":
            if not zipfile.is_zipfile(source):
                raise PackagingError(f"{source.name} ends in .zip but is not a zip file.")
            return source.read_bytes()
        content = source.read_bytes()
        if source.suffix.lower() == ".ipynb":
            check_notebook(source.name, content)
        return zip_files({source.name: content})
    files = {
        item.relative_to(source).as_posix(): item.read_bytes()
        for item in sorted(source.rglob("*"))
        if item.is_file() and not _hidden(item.relative_to(source))
    }
    if not files:
        raise PackagingError(f"The folder {source} holds no files to submit.")
    return zip_files(files)


def _hidden(relative: Path) -> bool:
    """Checkpoints and caches are never part of what a participant means to send."""
    return any(part.startswith(".") or part == "__pycache__" for part in relative.parts)


def unpack(saved: Path, folder: Path) -> Path:
    """A downloaded zip unpacked into ``folder`` (returned); any other file stays as it is."""
    if not zipfile.is_zipfile(saved):
        return saved
    with zipfile.ZipFile(saved) as zf:
        zf.extractall(folder)
    return folder


def zip_upload(name: str, content: bytes) -> bytes:
    """A file chosen in the upload widget: a zip as it is, anything else zipped under its name."""
    if name.lower().endswith(".zip") and zipfile.is_zipfile(io.BytesIO(content)):
        return content
    return zip_files({Path(name).name: content})


def zip_dataframe(df: Any, filename: str = "predictions.csv", index: bool = False) -> bytes:
    """A pandas DataFrame written as ``filename`` (CSV, or TSV/JSON/Parquet by its extension)."""
    suffix = Path(filename).suffix.lower()
    if suffix in (".csv", ".txt", ".predict", ".tsv"):
        sep = "\t" if suffix == ".tsv" else ","
        content: str | bytes = df.to_csv(index=index, sep=sep)
    elif suffix == ".json":
        content = df.to_json(orient="records")
    elif suffix == ".parquet":
        buffer = io.BytesIO()
        df.to_parquet(buffer, index=index)
        content = buffer.getvalue()
    else:
        raise PackagingError(f"Cannot write a DataFrame as {filename}: use .csv, .tsv, .json or .parquet.")
    return zip_files({filename: content})


def source_of(obj: Callable[..., Any] | type) -> str:
    """The source of a function or class, also for classes defined in a notebook cell.

    ``inspect.getsource`` finds a notebook function (IPython registers each cell in ``linecache``)
    but, before Python 3.13, not a notebook class: it looks for the class in its module's file,
    and ``__main__`` has none. Then we read the cell of one of its methods and cut the class out.
    """
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        if not isinstance(obj, type):
            raise PackagingError(f"Cannot find the source of {obj!r}; define it in a file or a cell.") from None
    for member in vars(obj).values():
        func = getattr(member, "__func__", member)
        if isinstance(func, types.FunctionType):
            try:
                cell = "".join(inspect.findsource(func)[0])
            except (OSError, TypeError):
                continue
            for node in ast.walk(ast.parse(cell)):
                if isinstance(node, ast.ClassDef) and node.name == obj.__name__:
                    return textwrap.dedent(ast.get_source_segment(cell, node, padded=True) or "")
    raise PackagingError(f"Cannot find the source of class {obj.__name__}; give it at least one method.")


def _used_names(obj: Callable[..., Any] | type) -> set[str]:
    codes = [obj.__code__] if hasattr(obj, "__code__") else [
        getattr(m, "__func__", m).__code__ for m in vars(obj).values()
        if hasattr(getattr(m, "__func__", m), "__code__")
    ]
    names: set[str] = set()
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return names


def import_lines(obj: Callable[..., Any] | type) -> list[str]:
    """``import`` lines for the modules the code uses by a global name (``np``, ``math``, ...),
    so the packaged module runs on its own as it did in the notebook."""
    module = inspect.getmodule(obj)
    namespace = dict(getattr(obj, "__globals__", None) or (vars(module) if module else {}))
    if inspect.isfunction(obj):
        namespace.update(inspect.getclosurevars(obj).nonlocals)
    lines = []
    for name in sorted(_used_names(obj) | set(getattr(getattr(obj, "__code__", None), "co_freevars", ()))):
        value = namespace.get(name)
        if isinstance(value, types.ModuleType):
            real = value.__name__
            lines.append(f"import {real}" if real == name else f"import {real} as {name}")
    return lines


def module_source(objs: list[Callable[..., Any] | type], name: str | None = None) -> str:
    """A module holding the sources of ``objs`` and the imports they use, plus ``name = first``
    when the first must be found under another name (an ingestion program calling
    ``model.predict`` while the notebook's function is ``my_predict``, say)."""
    imports = sorted({line for obj in objs for line in import_lines(obj)})
    names = ", ".join(obj.__name__ for obj in objs)
    parts = [f'"""Packaged by podium.widgets from the notebook: {names}."""', "", *imports, ""]
    parts += [source_of(obj).rstrip() + "\n" for obj in objs]
    if name and name != objs[0].__name__:
        parts.append(f"{name} = {objs[0].__name__}")
    return "\n".join(parts) + "\n"


def zip_code(objs: list[Callable[..., Any] | type], module: str = "model",
             extra_files: dict[str, str | bytes] | None = None, name: str | None = None) -> bytes:
    """Functions and classes as a code submission: one module ``<module>.py`` with their sources,
    the file Codabench-style ingestion programs import (``import model``)."""
    if not objs:
        raise PackagingError("Give at least one function or class to submit.")
    text = module_source(objs, name)
    try:
        compile(text, f"{module}.py", "exec")
    except SyntaxError as exc:
        raise PackagingError(f"The packaged module {module}.py does not compile: {exc}") from exc
    return zip_files({f"{module}.py": text, **(extra_files or {})})


def current_notebook_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The notebook this kernel runs: an argument, else ``__session__`` (ipykernel puts it in the
    user namespace) or ``JPY_SESSION_NAME`` (Jupyter Server sets it for the kernel).

    Those may be relative to the server's root (the user's home on the hub), so a relative path
    is tried against the current folder and then the home folder.
    """
    candidates: list[str] = []
    if explicit:
        candidates.append(os.fspath(explicit))
    else:
        try:
            from IPython import get_ipython

            shell = get_ipython()
            session = shell.user_ns.get("__session__") if shell is not None else None
        except ImportError:
            session = None
        candidates += [c for c in (session, os.environ.get("JPY_SESSION_NAME")) if c]
    for candidate in candidates:
        path = Path(candidate).expanduser()
        for option in (path, Path.cwd() / path, Path.home() / path):
            if option.is_file():
                return option.resolve()
    if candidates:
        raise PackagingError(f"The notebook {candidates[0]} is not there; save it first or pass path=.")
    raise PackagingError("Which notebook? Outside JupyterLab the kernel does not know; pass path='name.ipynb'.")


def notebook_to_script(path: Path) -> str:
    """The notebook's code cells as a Python script (nbconvert's PythonExporter turns magics
    into ``get_ipython()`` calls, as a script needs)."""
    import nbformat
    from nbconvert import PythonExporter

    script, _ = PythonExporter().from_notebook_node(nbformat.read(path, as_version=4))
    return script


def check_notebook(name: str, content: bytes) -> None:
    """Refuse a file that is not a notebook before it costs a submission: the worker could only
    fail it ("The notebook could not be read")."""
    try:
        nb = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PackagingError(f"{name} is not a notebook: it is not valid JSON ({exc}).") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise PackagingError(f"{name} is not a notebook: it has no list of cells.")


def zip_notebook(path: Path, as_script: bool = False, module: str = "model") -> bytes:
    """The saved notebook, as it is (a notebook submission: one ``.ipynb``, which a phase that
    accepts notebooks executes) or as ``<module>.py`` converted by nbconvert (for an ingestion
    program to import)."""
    if as_script:
        return zip_files({f"{module}.py": notebook_to_script(path)})
    content = path.read_bytes()
    check_notebook(path.name, content)
    return zip_files({path.name: content})
