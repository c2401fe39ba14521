"""The participant widget against the real service and a real worker: registering, downloading,
submitting a file, a folder, an upload, a DataFrame, a function and a notebook, each scored by
the Docker worker; the leaderboard and history it shows; quota and failure sentences."""

from __future__ import annotations

import re
import time
import zipfile
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from conftest import unique_slug, upload_dataset
from helpers import programs
from nbclient import NotebookClient
from podium.hub.demo import REFERENCE, SCORING_PROGRAM, demo_competition
from podium.widgets import Competition, PodiumClient
from podium.widgets import packaging as pk
from podium.widgets.client import QuotaExceeded
from podium.widgets.display import reset_time
from test_pipeline import make_competition as code_competition

TRAIN = "id,sepal_length,label\n1,5.1,setosa\n2,7.0,versicolor\n3,6.3,virginica\n"
STARTING_KIT = programs.make_zip({"README.md": "# Starting kit\nSubmit predictions.csv (id,label).\n"})
PERFECT = "id,label\n1,setosa\n2,versicolor\n3,virginica\n4,virginica\n"  # accuracy 1.0
THREE_RIGHT = "id,label\n1,setosa\n2,versicolor\n3,virginica\n4,setosa\n"  # accuracy 0.75


def iris_competition(api, organizer, **phase: object) -> dict:
    """The demo's Iris competition (``podium up``'s scoring program and hidden labels) under a
    fresh slug, with public data and a starting kit; ``phase`` overrides phase settings."""
    body = demo_competition(unique_slug("iris"))
    task = body["tasks"][0]
    task["scoring_program"] = upload_dataset(api, organizer, "scoring_program", "scoring.zip", SCORING_PROGRAM)
    task["reference_data"] = upload_dataset(api, organizer, "reference_data", "reference.zip", REFERENCE)
    body["phases"][0].update(
        public_data=upload_dataset(api, organizer, "public_data", "public_data.zip",
                                   programs.make_zip({"train.csv": TRAIN})),
        starting_kit=upload_dataset(api, organizer, "starting_kit", "starting_kit.zip", STARTING_KIT),
        **phase,
    )
    comp = api(organizer, "POST", "/competitions", json=body, expect=201).json()
    return api(organizer, "POST", f"/competitions/{comp['id']}/publish", expect=200).json()


def chosen(name: str, content: bytes) -> tuple[dict, ...]:
    """What ``FileUpload.value`` holds after the browser sent a file (ipywidgets 8)."""
    return ({"name": name, "type": "text/csv", "size": len(content), "content": memoryview(content),
             "last_modified": datetime.now(UTC)},)


def client_for(service, user) -> PodiumClient:
    return PodiumClient(service.url, user.token)


@pytest.fixture(scope="module")
def iris(api, creator, service):
    return iris_competition(api, creator, max_submissions_per_day=10, max_submissions=20)


@pytest.fixture(scope="module")
def participant(api, users, iris, service, tmp_path_factory) -> Competition:
    user = users.make("widget")
    api(user, "POST", f"/competitions/{iris['id']}/register", expect=200)
    return Competition(iris["slug"], client_for(service, user), download_dir=tmp_path_factory.mktemp("dl"))


def test_register_button_and_downloads(api, users, iris, service, tmp_path) -> None:
    user = users.make("newcomer")
    comp = Competition(iris["slug"], client_for(service, user), download_dir=tmp_path / "iris")
    assert comp.title_html.value.startswith("<h3>Iris: a demo competition</h3>")
    assert "Development" in comp.phase_html.value and "(current) ends " in comp.phase_html.value
    assert comp.register_button.layout.display is None and not comp.registered
    assert "Register to see your submission quota." in comp.quota_html.value

    comp.register_button.click()
    assert comp.registered and comp.register_button.layout.display == "none"
    assert re.search(r"10 of 10 submissions left today \(the count resets at 00:00 UTC \(in \d+ (h|min)",
                     comp.quota_html.value), comp.quota_html.value
    assert "20 of 20 left in this phase" in comp.quota_html.value
    assert [b.description for b in comp.downloads_box.children] == ["Download public data", "Download starting kit"]

    comp.download_buttons["public_data"].click()
    assert (tmp_path / "iris" / "public_data" / "train.csv").read_text() == TRAIN
    assert f"Saved the public data in {tmp_path / 'iris' / 'public_data'}" in comp.message_html.value
    assert comp.download("starting_kit") == tmp_path / "iris" / "starting_kit"
    assert "Starting kit" in (tmp_path / "iris" / "starting_kit" / "README.md").read_text()
    assert "not submitted to this phase yet" in comp.history_html.value


def test_submit_button_file_folder_and_dataframe_are_scored(participant: Competition, worker, tmp_path) -> None:
    comp = participant
    comp.file_upload.value = chosen("predictions.csv", PERFECT.encode())
    comp.description_text.value = "first try"
    comp.submit_button.click()
    assert comp.message_html.value.startswith("<p>Submission "), comp.message_html.value
    assert comp.progress.value == 100 and comp.progress.bar_style == "success"
    assert comp.file_upload.value == ()
    first = comp.wait()
    assert first["status"] == "finished" and first["scores"] == {"accuracy": 1.0}, first
    assert first["description"] == "first try"
    assert comp.status_label.value == "finished"
    assert comp.result_html.value == (f"<p><b>Submission {first['id']} finished</b>: Accuracy 1.0000; "
                                      "you are ranked 1 on the leaderboard.</p>")

    path = tmp_path / "predictions.csv"
    path.write_text(THREE_RIGHT)
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "predictions.csv").write_text(THREE_RIGHT)
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "junk.csv").write_text("x")
    frame = pd.read_csv(BytesIO(PERFECT.encode()))
    for submitted in (comp.submit_file(path), comp.submit_file(folder, description="folder"),
                      comp.submit_dataframe(frame, description="frame")):
        assert submitted["status"] == "submitted"
        final = comp.wait(submitted)
        assert final["status"] == "finished", final
        expected = 1.0 if submitted["description"] == "frame" else 0.75
        assert final["scores"] == {"accuracy": expected}, (submitted["description"], final)

    assert comp.rank == 1
    mine = re.findall(r'<tr class="podium-mine"[^>]*>(.*?)</tr>', comp.leaderboard_html.value)
    assert len(mine) == 1 and f">{comp.me}</td>" in mine[0] and ">1.0000</td>" in mine[0], comp.leaderboard_html.value
    history = comp.history_html.value
    assert history.count("<tr>") == 5 and "first try" in history and "folder" in history
    assert bytes(comp.history_plot.value).startswith(b"\x89PNG") and comp.history_plot.layout.display is None
    assert "6 of 10 submissions left today" in comp.quota_html.value


def test_failure_reads_as_a_sentence(participant: Competition, worker, tmp_path) -> None:
    comp = participant
    (tmp_path / "notes.txt").write_text("no predictions here")
    final = comp.submit_file(tmp_path / "notes.txt", wait=True)
    assert final["status"] == "failed"
    assert comp.result_html.value.startswith(f'<p style="color:#a00">Submission {final["id"]} failed: ')
    assert final["failure_reason"] in comp.result_html.value.replace("&#x27;", "'")


def test_function_class_and_notebook_are_packaged_as_code_and_scored(api, creator, users, service, worker,
                                                                     tmp_path, monkeypatch) -> None:
    phase_id, user = code_competition(api, creator, users, image="python:3", scoring=programs.V2_SCORING,
                                      ingestion=programs.V2_INGESTION, input_data=programs.INPUT_DATA)
    client = client_for(service, user)
    comp = Competition(str(client.phase(phase_id)["competition"]), client, download_dir=tmp_path)

    import string

    def predict(x):
        return string.ascii_lowercase[int(x) - 1]  # a b c d: all right

    module = zipfile.ZipFile(BytesIO(pk.zip_code([predict]))).read("model.py").decode()
    assert "import string\n" in module and "def predict(x):" in module
    final = comp.submit_function(predict, wait=True)
    assert final["status"] == "finished" and final["scores"]["accuracy"] == 1.0, final
    assert final["description"] == "predict"

    def guess(x):
        return "a"

    final = comp.submit_function(guess, name="predict", wait=True)
    assert final["status"] == "finished" and final["scores"]["accuracy"] == 0.25, final

    notebook = tmp_path / "my model.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# My model"),
                nbformat.v4.new_code_cell("LABELS = {'1': 'a', '2': 'b', '3': 'c', '4': 'x'}"),
                nbformat.v4.new_code_cell("def predict(x):\n    return LABELS[x]")]
    nbformat.write(nb, notebook)
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))
    final = comp.submit_notebook(as_script=True, wait=True)
    assert final["status"] == "finished" and final["scores"]["accuracy"] == 0.75, final
    assert final["description"] == "my model.ipynb"
    raw = zipfile.ZipFile(BytesIO(pk.zip_notebook(notebook)))
    assert nbformat.reads(raw.read("my model.ipynb").decode(), 4).cells[2].source.startswith("def predict")


def test_quota_errors_read_as_sentences(api, creator, users, service, tmp_path) -> None:
    comp_model = iris_competition(api, creator, max_submissions_per_day=1, max_submissions=5)
    user = users.make("quota")
    comp = Competition(comp_model["slug"], client_for(service, user), download_dir=tmp_path)
    comp.register()
    comp.submit_dataframe(pd.DataFrame({"id": [1], "label": ["setosa"]}))
    assert "0 of 1 submissions left today" in comp.quota_html.value

    comp.file_upload.value = chosen("p.csv", b"a,b")
    comp.submit_button.click()  # the button shows the error; it does not raise
    message = comp.message_html.value
    match = re.fullmatch(r'<p style="color:#a00">You have used your 1 submission for today; the quota resets '
                         r"at 00:00 UTC \(in (\d+ h \d+ min|\d+ min|less than a minute)\)\.</p>", message)
    assert match, message
    assert comp.status_label.value == "refused" and comp.progress.bar_style == "danger"
    with pytest.raises(QuotaExceeded) as raised:
        comp.submit_file(_write(tmp_path / "p.csv", "id,label\n"))
    assert reset_time(raised.value.resets_at) in comp.message_html.value


def test_quota_total_sentence(api, creator, users, service, tmp_path) -> None:
    comp_model = iris_competition(api, creator, max_submissions_per_day=0, max_submissions=1)
    user = users.make("quota")
    comp = Competition(comp_model["slug"], client_for(service, user), download_dir=tmp_path)
    comp.register()
    assert comp.quota_html.value == "<p>1 of 1 left in this phase.</p>"
    comp.submit_file(_write(tmp_path / "predictions.csv", PERFECT))
    with pytest.raises(QuotaExceeded):
        comp.submit_file(_write(tmp_path / "predictions.csv", PERFECT))
    assert comp.message_html.value == ('<p style="color:#a00">You have used your 1 submission in this phase; '
                                       "no more can be made in it.</p>")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_packaging_forms(tmp_path) -> None:
    archive = tmp_path / "ready.zip"
    archive.write_bytes(programs.make_zip({"predictions.csv": PERFECT}))
    assert pk.zip_path(archive) == archive.read_bytes()
    (tmp_path / "fake.zip").write_text("not a zip")
    with pytest.raises(pk.PackagingError, match="ends in .zip but is not a zip file"):
        pk.zip_path(tmp_path / "fake.zip")
    with pytest.raises(pk.PackagingError, match="There is no file or folder at"):
        pk.zip_path(tmp_path / "missing.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(pk.PackagingError, match="holds no files"):
        pk.zip_path(tmp_path / "empty")
    assert pk.zip_upload("p.csv", b"x") != b"x" and pk.zip_upload("ready.zip", archive.read_bytes()) == archive.read_bytes()
    with pytest.raises(pk.PackagingError, match="Which notebook"):
        pk.current_notebook_path()


def test_source_of_a_class_defined_in_a_notebook_cell(tmp_path) -> None:
    """In a real kernel, ``inspect.getsource`` cannot find a cell's class before Python 3.13;
    ``source_of`` must, and the packaged module must run on its own."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import math as m\n\nclass Model:\n    def predict(self, x):\n"
                                  "        return m.floor(x)\n\nx = 1"),
        nbformat.v4.new_code_cell("from podium.widgets import packaging\n"
                                  "print(packaging.zip_code([Model]).hex())"),
    ]
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    data = bytes.fromhex(nb.cells[1].outputs[0]["text"].strip())
    source = zipfile.ZipFile(BytesIO(data)).read("model.py").decode()
    assert "import math as m" in source and "class Model:" in source and "x = 1" not in source
    namespace: dict = {}
    exec(compile(source, "model.py", "exec"), namespace)
    assert namespace["Model"]().predict(2.7) == 2


def test_packing_the_same_files_twice_gives_the_same_bytes(tmp_path) -> None:
    """Zip entries carry a fixed date, so the checksum depends on the content alone: re-saving a
    competition re-uploads nothing unchanged, and an identical submission has the same sha256."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "predictions.csv").write_text("id,label\n1,a\n")
    first = pk.zip_path(tmp_path / "run")
    time.sleep(2.1)  # zip timestamps have a 2-second resolution: a packing-time date would differ
    assert pk.zip_path(tmp_path / "run") == first
    assert pk.zip_files({"a.txt": "x"}) == pk.zip_files({"a.txt": "x"})
