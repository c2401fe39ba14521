"""Execute a submitted notebook inside the competition's container (never imported by the worker).

The worker mounts this file read-only and runs ``python3 run_notebook.py NOTEBOOK EXECUTED STATUS``
with the image's own Python: nbclient, nbformat and the ``python3`` kernel (ipykernel) come from
the image, so the notebook runs exactly where the organizers' programs run. Cells run top to
bottom; after each one the executed copy is saved, so a notebook stopped by the time limit still
comes back with the outputs of the cells that ended. On the first cell that raises, the status
file says which cell (its position in the notebook, from 1) and the exception, and the script
exits 1. Standard library plus nbclient/nbformat only: it runs on Debian bullseye's nbclient 0.5
as well as bookworm's 0.7.
"""

import json
import os
import sys

#: the kernel every notebook runs on, whatever its metadata names: the image's own Python
KERNEL = "python3"


def _writable_homes() -> None:
    """The root filesystem is read-only: the kernel's connection files and IPython's and
    matplotlib's settings go to the container's /tmp."""
    for name, folder in (("JUPYTER_RUNTIME_DIR", "jupyter-runtime"), ("IPYTHONDIR", "ipython"),
                         ("MPLCONFIGDIR", "matplotlib"), ("JUPYTER_DATA_DIR", "jupyter-data")):
        path = os.path.join("/tmp", folder)
        os.makedirs(path, exist_ok=True)
        os.environ.setdefault(name, path)
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")


def _write_status(path: str, status: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(status, f)


def _save(nbformat, nb, path: str) -> None:
    tmp = path + ".part"
    nbformat.write(nb, tmp)
    os.replace(tmp, path)


def _echo(cell) -> None:
    """What a cell printed, on the runner's own output: the submission's live log and log."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            stream = sys.stderr if output.get("name") == "stderr" else sys.stdout
            stream.write(output.get("text", ""))
            stream.flush()


def _error_of(cell) -> tuple:
    """The exception a failed cell's error output names (ename, evalue)."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return str(output.get("ename", "")), str(output.get("evalue", ""))
    return "", ""


def main(argv: list) -> int:
    if len(argv) != 3:
        print("usage: run_notebook.py NOTEBOOK EXECUTED STATUS", file=sys.stderr)
        return 2
    source, executed, status_path = argv
    _writable_homes()
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as e:
        print(f"This competition's image cannot run notebooks: {e} (it needs nbclient, nbformat and ipykernel).",
              file=sys.stderr)
        return 3

    try:
        nb = nbformat.read(source, as_version=4)
    except Exception as e:  # any reason the file is not a notebook is the participant's to fix
        _write_status(status_path, {"state": "unreadable", "error": f"{type(e).__name__}: {e}"[:500]})
        print(f"The notebook could not be read: {e}", file=sys.stderr)
        return 1
    for cell in nb.cells:  # outputs saved with the submission are not this run's
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=None, allow_errors=False,
                            resources={"metadata": {"path": os.getcwd()}})
    _write_status(status_path, {"state": "running", "cells": len(nb.cells)})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.get("cell_type") != "code":
                continue
            _write_status(status_path, {"state": "running", "cell": index + 1})
            print(f"--- cell {index + 1} ---", flush=True)
            try:
                client.execute_cell(cell, index)
            except CellExecutionError:
                ename, evalue = _error_of(cell)
                _save(nbformat, nb, executed)
                _write_status(status_path, {"state": "failed", "cell": index + 1, "ename": ename, "evalue": evalue})
                print(f"cell {index + 1} raised {ename}: {evalue}", file=sys.stderr)
                return 1
            except Exception as e:  # the kernel died (os._exit, a crash) or stopped answering
                _save(nbformat, nb, executed)
                _write_status(status_path, {"state": "failed", "cell": index + 1, "ename": type(e).__name__,
                                            "evalue": str(e)[:500]})
                print(f"cell {index + 1}: {type(e).__name__}: {e}", file=sys.stderr)
                return 1
            _echo(cell)
            _save(nbformat, nb, executed)
    _save(nbformat, nb, executed)
    _write_status(status_path, {"state": "succeeded", "cells": len(nb.cells)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
