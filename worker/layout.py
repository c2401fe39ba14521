"""The run directory of one attempt, laid out as Codabench's compute worker does, and the
commands programs declare in their ``metadata`` files.

Inside containers: ``/app/program`` (the program being run, also the working directory),
``/app/ingested_program`` (the participant's code), ``/app/input_data`` (input data, prediction
only), ``/app/input/ref`` (reference data, scoring only), ``/app/input/res`` (predictions),
``/app/output``, ``/app/shared`` (ingestion and scoring running together) and ``/app/tmp``.
Legacy CodaLab commands use ``$input $output $program $ingestion_program $submission_program
$hidden $shared $tmp $predictions``; they are substituted, then split without a shell.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

import yaml

from .errors import MetadataError

APP = "/app"


@dataclass(frozen=True)
class RunDirs:
    root: str

    @property
    def program(self) -> str:
        return os.path.join(self.root, "program")

    @property
    def ingestion_program(self) -> str:
        return os.path.join(self.root, "ingestion_program")

    @property
    def ingested_program(self) -> str:
        return os.path.join(self.root, "ingested_program")

    @property
    def input_data(self) -> str:
        return os.path.join(self.root, "input_data")

    @property
    def ref(self) -> str:
        return os.path.join(self.root, "input", "ref")

    @property
    def res(self) -> str:
        return os.path.join(self.root, "input", "res")

    @property
    def output(self) -> str:
        return os.path.join(self.root, "output")

    @property
    def predictions(self) -> str:
        return os.path.join(self.root, "predictions")

    @property
    def notebook(self) -> str:
        """Where a notebook submission's executed copy and status file are written."""
        return os.path.join(self.root, "notebook")

    @property
    def shared(self) -> str:
        return os.path.join(self.root, "shared")

    @property
    def tmp(self) -> str:
        return os.path.join(self.root, "tmp")

    def create(self) -> RunDirs:
        for path in (self.program, self.ingestion_program, self.ingested_program, self.input_data,
                     self.ref, self.res, self.output, self.predictions, self.notebook, self.shared, self.tmp):
            os.makedirs(path, exist_ok=True)
        for path in (self.output, self.predictions, self.notebook, self.shared, self.tmp):
            os.chmod(path, 0o777)  # the container runs as an unprivileged user
        return self


def read_metadata(program_dir: str, label: str) -> dict:
    """The program's ``metadata`` or ``metadata.yaml`` (YAML), as a mapping."""
    for name in ("metadata", "metadata.yaml", "metadata.yml"):
        path = os.path.join(program_dir, name)
        if os.path.isfile(path) and not os.path.islink(path):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    data = yaml.safe_load(f.read(1024 * 1024))
            except yaml.YAMLError as e:
                raise MetadataError(f"{label}/{name} is not valid YAML: {e}") from None
            if data is None:
                return {}
            if not isinstance(data, dict):
                raise MetadataError(f"{label}/{name} must be a mapping with a 'command' key")
            return data
    return {}


def has_command(program_dir: str) -> bool:
    try:
        return bool(read_metadata(program_dir, "program").get("command"))
    except MetadataError:
        return False


#: files that make a submission code an ingestion program runs (anything else is results)
CODE_SUFFIXES = (".py", ".ipynb", ".r", ".jl", ".m", ".sh", ".java", ".jar", ".c", ".cpp", ".so", ".pkl",
                 ".pickle", ".joblib", ".pt", ".pth", ".h5", ".onnx")


def is_result_submission(submission_dir: str) -> bool:
    """Whether a submission holds results only: no ``metadata`` and no code or model file. Codabench
    copies every submission without ``metadata`` into the prediction output and ignores exit codes;
    Podium does the same for results, and still fails code whose ingestion exits non-zero, with
    that code's own log (a reason the participant can act on)."""
    for _root, _dirs, files in os.walk(submission_dir):
        for name in files:
            if name in ("metadata", "metadata.yaml", "metadata.yml") or name.lower().endswith(CODE_SUFFIXES):
                return False
    return True


def legacy_variables(step: str) -> dict[str, str]:
    """What ``$input`` and friends mean in the prediction and the scoring step."""
    common = {
        "$output": f"{APP}/output",
        "$program": f"{APP}/program",
        "$ingestion_program": f"{APP}/program",
        "$submission_program": f"{APP}/ingested_program",
        "$shared": f"{APP}/shared",
        "$tmp": f"{APP}/tmp",
        "$hidden": f"{APP}/input/ref",
    }
    common["$input"] = f"{APP}/input_data" if step == "predict" else f"{APP}/input"
    # as Codabench: a prediction step's $predictions is where it writes them (v1.8 ingestion programs)
    common["$predictions"] = f"{APP}/output" if step == "predict" else f"{APP}/input/res"
    return common


def build_command(program_dir: str, label: str, step: str) -> list[str]:
    """The argv a program's metadata declares, variables substituted, split without a shell."""
    command = read_metadata(program_dir, label).get("command")
    if not command or not isinstance(command, str):
        raise MetadataError(f"{label}/metadata has no 'command' to run")
    # longest names first so $ingestion_program is not read as $input + "gestion_program"
    for name, value in sorted(legacy_variables(step).items(), key=lambda kv: -len(kv[0])):
        command = command.replace(name, value)
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise MetadataError(f"{label}/metadata: cannot split the command: {e}") from None
    if not argv:
        raise MetadataError(f"{label}/metadata: the command is empty")
    return argv


def single_top_folder(path: str) -> str:
    """Zips made by 'compress folder' hold one top folder; programs expect its contents."""
    entries = [e for e in os.listdir(path) if e not in ("__MACOSX", ".DS_Store")]
    if len(entries) == 1 and os.path.isdir(os.path.join(path, entries[0])) and not os.path.exists(
        os.path.join(path, "metadata")
    ):
        inner = os.path.join(path, entries[0])
        if any(os.path.exists(os.path.join(inner, m)) for m in ("metadata", "metadata.yaml")):
            return inner
    return path
