"""Code revealed after a phase (issue 21, item 4): only after the phase ends, only with the
owner's consent, under each of the phase's rules; organizers see the list before the end; a
participant starts from a revealed submission in their notebook."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import datetime, timedelta

import pytest
from helpers.web_session import create_queue, make, play_worker
from podium.widgets.client import PodiumClient
from podium.widgets.participant import Competition


def code(owner: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("model.py", f"# the model of {owner}\ndef predict(x):\n    return 'a'\n")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def reveal_queue(api, users) -> dict[str, str]:
    return create_queue(api, users)


@pytest.fixture
def phase_with_code(api, creator, users, reveal_queue, dbsession):
    """A phase revealing the top 2, four participants ranked ann > bob > cat > dan by accuracy;
    ann, cat and dan consent (dan after submitting), bob does not."""
    comp = make(api, creator, reveal_queue)
    phase = comp["phases"][0]
    api(creator, "PATCH", f"/phases/{phase['id']}", json={"code_reveal": "top", "code_reveal_top": 2}, expect=200)
    people, ids = {}, {}
    for name, accuracy in (("ann", 0.9), ("bob", 0.8), ("cat", 0.7), ("dan", 0.6)):
        user = people[name] = users.make(name)
        api(user, "POST", f"/competitions/{comp['id']}/register", expect=200)
        data = code(user.name)
        created = api(user, "POST", f"/phases/{phase['id']}/submissions", expect=201,
                      json={"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                            "is_public": name in ("ann", "cat")}).json()
        api.upload(created["upload_url"], data)
        api(user, "POST", f"/submissions/{created['id']}/uploaded", expect=200)
        play_worker(api.service, dbsession, reveal_queue["token"], created["id"], scores={"accuracy": accuracy})
        ids[name] = created["id"]
    changed = api(people["dan"], "PATCH", f"/submissions/{ids['dan']}", json={"is_public": True}, expect=200).json()
    assert changed["is_public"] is True
    end = datetime.fromisoformat(phase["end"].rstrip("Z"))
    return comp, phase, people, ids, end


def revealed(api, user, phase, expect=200):
    return api(user, "GET", f"/phases/{phase['id']}/revealed-code", expect=expect).json()


def test_nothing_before_the_end_except_for_organizers(api, creator, phase_with_code) -> None:
    comp, phase, people, ids, end = phase_with_code
    refused = revealed(api, people["bob"], phase, expect=409)
    assert refused["error"]["message"] == f"The code of phase '{phase['name']}' is revealed when it ends ({phase['end']})."
    assert [s["id"] for s in revealed(api, creator, phase)["submissions"]] == [ids["ann"]]  # a preview


def test_top_rule_after_the_end_honours_consent(api, creator, users, phase_with_code, clock) -> None:
    comp, phase, people, ids, end = phase_with_code
    clock.set(end + timedelta(minutes=1))
    answer = revealed(api, people["dan"], phase)
    # the top 2 are ann and bob; bob did not consent and is not replaced by cat
    assert [(s["id"], s["rank"]) for s in answer["submissions"]] == [(ids["ann"], 1)]
    got = api.http.get(answer["submissions"][0]["code"]["download_url"], timeout=30)
    assert got.status_code == 200 and f"the model of {people['ann'].name}".encode() in got.content
    assert "filename" in got.headers.get("Content-Disposition", "")
    # someone who is not a participant gets nothing
    stranger = users.make("stranger")
    revealed(api, stranger, phase, expect=403)


def test_opted_in_and_chosen_rules(api, creator, phase_with_code, clock) -> None:
    comp, phase, people, ids, end = phase_with_code
    clock.set(end + timedelta(minutes=1))
    api(creator, "PATCH", f"/phases/{phase['id']}", json={"code_reveal": "opted_in"}, expect=200)
    assert [s["id"] for s in revealed(api, people["bob"], phase)["submissions"]] == [ids["ann"], ids["cat"], ids["dan"]]
    api(creator, "PATCH", f"/phases/{phase['id']}", json={"code_reveal": "chosen"}, expect=200)
    assert revealed(api, people["bob"], phase)["submissions"] == []
    for name in ("bob", "cat"):
        api(creator, "POST", f"/submissions/{ids[name]}/reveal-choice", json={"chosen": True}, expect=200)
    # bob's is chosen but bob never consented
    assert [s["id"] for s in revealed(api, people["bob"], phase)["submissions"]] == [ids["cat"]]
    # only organizers choose (on their own submission a participant is refused; others' they cannot
    # even see); only the owner consents
    api(people["cat"], "POST", f"/submissions/{ids['cat']}/reveal-choice", json={"chosen": True}, expect=403)
    api(people["cat"], "POST", f"/submissions/{ids['ann']}/reveal-choice", json={"chosen": True}, expect=404)
    api(people["cat"], "PATCH", f"/submissions/{ids['bob']}", json={"is_public": True}, expect=404)
    api(creator, "PATCH", f"/submissions/{ids['bob']}", json={"is_public": True}, expect=403)
    api(creator, "PATCH", f"/phases/{phase['id']}", json={"code_reveal": "none"}, expect=200)
    assert revealed(api, people["bob"], phase, expect=409)["error"]["message"] == (
        f"Phase '{phase['name']}' does not reveal code.")


def test_a_participant_starts_from_revealed_code_in_the_notebook(api, phase_with_code, clock, tmp_path) -> None:
    comp, phase, people, ids, end = phase_with_code
    clock.set(end + timedelta(minutes=1))
    user = people["bob"]
    client = PodiumClient(api.service.url, user.token)
    widget = Competition(comp["slug"], client, download_dir=tmp_path)
    folder = widget.start_from(ids["ann"])
    assert (folder / "model.py").read_text().startswith(f"# the model of {people['ann'].name}")
    with pytest.raises(Exception, match="not among this phase's revealed code"):
        widget.start_from(ids["bob"])
