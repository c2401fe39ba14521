"""The worker's pure parts: scores files, metadata commands, safe archives, capped logs, the
dataset cache and the local executor's refusals and limits."""

from __future__ import annotations

import io
import os
import stat
import sys
import threading
import zipfile
from pathlib import Path

import pytest
import yaml
from podium.worker import archives, layout, run_metadata, scores
from podium.worker.cache import DatasetCache
from podium.worker.errors import ArchiveError, MetadataError, ScoresError, UnsafeExecutorRefused
from podium.worker.executors.base import CappedLog, ContainerSpec, ExecResult, Mount
from podium.worker.executors.local import LocalExecutor
from podium.worker.images import DEFAULT_IMAGE, LEGACY_IMAGE, resolve_image


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- scores ----------------------------------------------------------------------------------


def test_scores_json_wins_over_txt(tmp_path: Path) -> None:
    write(tmp_path / "scores.json", '{"acc": 0.5, "n": 3}')
    write(tmp_path / "scores.txt", "acc: 0.9\n")
    assert scores.read_scores(str(tmp_path)) == {"acc": 0.5, "n": 3.0}


@pytest.mark.parametrize("text", ["acc: 0.5\nf1:0.25\n", "# comment\nacc:0.5\n\nf1: 0.25", "{acc: 0.5, f1: 0.25}"])
def test_scores_txt_forms(tmp_path: Path, text: str) -> None:
    write(tmp_path / "scores.txt", text)
    assert scores.read_scores(str(tmp_path)) == {"acc": 0.5, "f1": 0.25}


@pytest.mark.parametrize(("name", "text", "message"), [
    ("scores.json", '{"acc": NaN}', "not a finite number"),
    ("scores.json", '{"acc": "high"}', "score 'acc' is not a number$"),
    ("scores.json", "[1, 2]", "must hold an object"),
    ("scores.json", "{oops", "not valid JSON"),
    ("scores.txt", "acc: inf\n", "not a finite number"),
    ("scores.txt", "just words", "cannot read line"),
])
def test_bad_scores_are_named(tmp_path: Path, name: str, text: str, message: str) -> None:
    write(tmp_path / name, text)
    with pytest.raises(ScoresError, match=message):
        scores.read_scores(str(tmp_path))


def test_only_the_leaderboard_columns_are_kept(tmp_path: Path) -> None:
    """As Codabench's upload_submission_scores: other keys, nested ones too, are ignored."""
    write(tmp_path / "scores.json", '{"acc": 0.5, "all_costs": {"a": [1, 2]}, "note": "fine", "extra": 3}')
    assert scores.read_scores(str(tmp_path), columns=["acc", "duration"]) == {"acc": 0.5}
    write(tmp_path / "scores.json", '{"acc": "secret-label-7"}')
    with pytest.raises(scores.ScoresError) as error:
        scores.read_scores(str(tmp_path), columns=["acc"])
    assert str(error.value) == "score 'acc' is not a number" and "secret" not in str(error.value)
    write(tmp_path / "scores.json", '{"other": 1}')
    with pytest.raises(scores.ScoresError, match="no value for any leaderboard column .expected acc, f1"):
        scores.read_scores(str(tmp_path), columns=["f1", "acc"])


def test_scores_txt_errors_never_quote_the_file(tmp_path: Path) -> None:
    write(tmp_path / "scores.txt", "acc: 0.5\nlabel-of-row-12 is cat\n")
    with pytest.raises(scores.ScoresError) as error:
        scores.read_scores(str(tmp_path))
    assert str(error.value) == "scores.txt: cannot read line 2 (expected 'key: value')"


def test_no_scores_and_symlinked_scores(tmp_path: Path) -> None:
    with pytest.raises(ScoresError, match="wrote no scores.json or scores.txt"):
        scores.read_scores(str(tmp_path))
    os.symlink("/etc/hostname", tmp_path / "scores.txt")
    with pytest.raises(ScoresError, match="not a regular file"):
        scores.read_scores(str(tmp_path))


def test_detailed_results(tmp_path: Path) -> None:
    write(tmp_path / "b" / "report.html", "x")
    assert scores.find_detailed_results(str(tmp_path)).endswith("report.html")
    write(tmp_path / "detailed_results.html", "y")
    assert scores.find_detailed_results(str(tmp_path)).endswith("detailed_results.html")


# --- metadata commands -----------------------------------------------------------------------


def test_legacy_variables_and_no_shell(tmp_path: Path) -> None:
    write(tmp_path / "metadata", "command: python $program/score.py $input $output '$hidden/x y' ; rm -rf /\n")
    argv = layout.build_command(str(tmp_path), "scoring_program", "score")
    assert argv == ["python", "/app/program/score.py", "/app/input", "/app/output", "/app/input/ref/x y", ";",
                    "rm", "-rf", "/"]
    write(tmp_path / "metadata", "command: python $ingestion_program/ingest.py $input $output $submission_program\n")
    assert layout.build_command(str(tmp_path), "ingestion_program", "predict") == [
        "python", "/app/program/ingest.py", "/app/input_data", "/app/output", "/app/ingested_program"]


def test_predictions_is_where_each_step_finds_them(tmp_path: Path) -> None:
    """As Codabench's compute worker: the prediction step writes $predictions, scoring reads it."""
    write(tmp_path / "metadata", "command: python $ingestion_program/ingest.py $predictions\n")
    assert layout.build_command(str(tmp_path), "ingestion_program", "predict")[-1] == "/app/output"
    assert layout.build_command(str(tmp_path), "scoring_program", "score")[-1] == "/app/input/res"


def test_result_submissions_are_told_from_code(tmp_path: Path) -> None:
    write(tmp_path / "res" / "predictions.txt", "a\n")
    write(tmp_path / "res" / "sub" / "more.csv", "1\n")
    assert layout.is_result_submission(str(tmp_path / "res"))
    write(tmp_path / "code" / "model.py", "def predict(x): ...\n")
    assert not layout.is_result_submission(str(tmp_path / "code"))
    write(tmp_path / "legacy" / "metadata", "command: python run.py\n")
    assert not layout.is_result_submission(str(tmp_path / "legacy"))


def test_metadata_in_codabench_flat_shape(tmp_path: Path) -> None:
    """What legacy scorers read as input/res/metadata: flat keys, elapsedTime falling back."""
    ran = ExecResult(exit_code=1, elapsed=2.34567, stdout=CappedLog(), stderr=CappedLog())
    write(tmp_path / "metadata", "forged: true\n")
    run_metadata.write(str(tmp_path), None, ran)
    assert yaml.safe_load((tmp_path / "metadata").read_text()) == {
        "exitCode": None, "elapsedTime": 2.346, "ingestionExitCode": 1, "ingestionElapsedTime": 2.346}
    scored = ExecResult(exit_code=0, elapsed=1.0, stdout=CappedLog(), stderr=CappedLog())
    assert run_metadata.codabench_metadata(scored, None) == {
        "exitCode": 0, "elapsedTime": 1.0, "ingestionExitCode": None, "ingestionElapsedTime": None}


def test_metadata_yaml_and_errors(tmp_path: Path) -> None:
    write(tmp_path / "metadata.yaml", "command: python3 /app/program/run.py\n")
    assert layout.build_command(str(tmp_path), "p", "score") == ["python3", "/app/program/run.py"]
    (tmp_path / "metadata.yaml").unlink()
    with pytest.raises(MetadataError, match="has no 'command'"):
        layout.build_command(str(tmp_path), "scoring_program", "score")
    write(tmp_path / "metadata", "command: [unclosed\n")
    with pytest.raises(MetadataError, match="not valid YAML"):
        layout.build_command(str(tmp_path), "scoring_program", "score")


# --- archives ----------------------------------------------------------------------------------


def zip_with(entries: list[tuple[str, bytes, int | None]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return buffer.getvalue()


@pytest.mark.parametrize(("entries", "message"), [
    ([("../evil", b"x", None)], "outside the archive"),
    ([("/abs", b"x", None)], "absolute path"),
    ([("C:/win", b"x", None)], "absolute path"),
    ([("link", b"/etc/passwd", stat.S_IFLNK | 0o777)], "symbolic link"),
    ([("fifo", b"", stat.S_IFIFO | 0o644)], "not a regular file"),
    ([("a.txt", b"1", None), ("A.txt", b"2", None)], "twice"),
])
def test_unsafe_archives_are_refused_and_leave_nothing(tmp_path: Path, entries, message) -> None:
    archive = tmp_path / "in.zip"
    archive.write_bytes(zip_with(entries))
    with pytest.raises(ArchiveError, match=message):
        archives.safe_extract(str(archive), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_zip_bomb_stops_at_the_byte_cap(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", b"\0" * (20 * 1024 * 1024))
    assert archive.stat().st_size < 100_000
    with pytest.raises(ArchiveError, match="more than 1048576 bytes"):
        archives.safe_extract(str(archive), str(tmp_path / "out"), max_bytes=1024 * 1024)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ArchiveError, match="entries"):
        many = tmp_path / "many.zip"
        many.write_bytes(zip_with([(f"f{i}", b"", None) for i in range(11)]))
        archives.safe_extract(str(many), str(tmp_path / "out2"), max_files=10)


def test_macos_junk_is_skipped(tmp_path: Path) -> None:
    archive = tmp_path / "mac.zip"
    archive.write_bytes(zip_with([("__MACOSX/._a", b"x", None), ("a", b"1", None), (".DS_Store", b"", None)]))
    archives.safe_extract(str(archive), str(tmp_path / "out"))
    assert sorted(os.listdir(tmp_path / "out")) == ["a"]


def test_output_tree_refuses_links_and_caps(tmp_path: Path) -> None:
    write(tmp_path / "ok.txt", "1")
    assert archives.check_tree(str(tmp_path), 100, 10) == (1, 1)
    os.symlink("/etc/passwd", tmp_path / "leak")
    with pytest.raises(ArchiveError, match="symbolic link: leak"):
        archives.zip_tree(str(tmp_path), str(tmp_path.parent / "x.zip"))
    (tmp_path / "leak").unlink()
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ArchiveError, match="special file"):
        archives.check_tree(str(tmp_path), 100, 10)
    (tmp_path / "pipe").unlink()
    write(tmp_path / "big.txt", "x" * 200)
    with pytest.raises(ArchiveError, match="larger than 100 bytes"):
        archives.check_tree(str(tmp_path), 100, 10)


# --- capped logs, cache, images ----------------------------------------------------------------


def test_capped_log_keeps_head_and_tail() -> None:
    log = CappedLog(head=10, tail=10)
    for i in range(1000):
        log.feed(f"{i:04d}\n".encode())
    text = log.text()
    assert text.startswith("0000\n0001\n") and text.endswith("0998\n0999\n")
    assert log.total == 5000 and f"[... {5000 - 20} bytes omitted ...]" in text


def test_dataset_cache_by_hash_under_a_cap(tmp_path: Path) -> None:
    cache = DatasetCache(str(tmp_path), max_bytes=25)
    fetched = []

    def fetcher(data: bytes):
        def fetch(dest: str) -> None:
            fetched.append(data)
            Path(dest).write_bytes(data)
        return fetch

    a = cache.get("a" * 64, fetcher(b"x" * 10))
    assert cache.get("a" * 64, fetcher(b"never")) == a and len(fetched) == 1
    cache.get("b" * 64, fetcher(b"y" * 10))
    os.utime(a, (1, 1))  # a is the least recently used
    cache.get("c" * 64, fetcher(b"z" * 10))
    assert not os.path.exists(a) and os.path.exists(cache.path_for("c" * 64))


def test_dataset_cache_prunes_least_recently_used_first_until_enough(tmp_path: Path) -> None:
    cache = DatasetCache(str(tmp_path), max_bytes=10**9)
    paths = [cache.path_for(name) for name in ("old", "middle", "new")]
    for age, path in enumerate(paths):
        Path(path).write_bytes(b"x" * 10)
        os.utime(path, (100 + age, 100 + age))
    Path(cache.path_for("d") + ".part-1-2").write_bytes(b"downloading")  # a download in progress stays
    assert cache.prune(lambda: not os.path.exists(paths[1])) == 20  # until the middle one is gone
    assert [os.path.exists(p) for p in paths] == [False, False, True]
    assert cache.prune(lambda: False) == 10 and os.listdir(tmp_path) == ["d.part-1-2"]


def test_image_aliases() -> None:
    assert resolve_image("codalab/codalab-legacy:py37") == LEGACY_IMAGE
    assert resolve_image("codalab/codalab-legacy:py312") == DEFAULT_IMAGE
    assert resolve_image("") == DEFAULT_IMAGE
    assert resolve_image("my/own:1", {}) == "my/own:1"


# --- the local executor ------------------------------------------------------------------------


def test_local_executor_refuses_without_consent() -> None:
    with pytest.raises(UnsafeExecutorRefused, match="does not isolate"):
        LocalExecutor()


def test_local_executor_runs_the_layout_with_limits(tmp_path: Path, capsys) -> None:
    executor = LocalExecutor(allow_unsafe=True)
    assert "does NOT isolate" in capsys.readouterr().err
    program = tmp_path / "program"
    # under the local executor, container paths reach programs through their command line
    write(program / "run.py", "import os, sys\nopen(sys.argv[1] + '/out.txt', 'w').write(os.getcwd())\nprint('hi')\n")
    (tmp_path / "output").mkdir()
    mounts = [Mount(str(program), "/app/program"), Mount(str(tmp_path / "output"), "/app/output", False)]
    spec = ContainerSpec(name="t", image="-", command=["python", "/app/program/run.py", "/app/output"],
                         mounts=mounts)
    result = executor.run(spec, threading.Event())
    assert result.ok, result.stderr.text()
    assert (tmp_path / "output" / "out.txt").read_text() == str(program)
    assert result.stdout.text() == "hi\n"
    slow = ContainerSpec(name="t", image="-", command=[sys.executable, "-c", "import time; time.sleep(30)"],
                         mounts=mounts, time_limit=0.5)
    assert executor.run(slow, threading.Event()).timed_out
    flood = ContainerSpec(name="t", image="-", command=[sys.executable, "-c", "while True: print('x' * 1000)"],
                          mounts=mounts, max_log_bytes=100_000)
    assert executor.run(flood, threading.Event()).log_exceeded
