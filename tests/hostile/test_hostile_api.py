"""The API on hostile input: odd ids, integers past the columns, nulls, deep JSON, huge bodies.

Every refusal is a JSON error below 500 (the ``api`` fixture checks the shape of each answer),
and a body the service will not take is refused before it is read: a gigabyte POSTed without a
token leaves the service's memory where it was.
"""

from __future__ import annotations

import select
import socket
import time
from urllib.parse import urlparse

import pytest

GIB = 1 << 30
MIB = 1 << 20


@pytest.fixture
def organized(api, creator, make_competition):
    """A competition of ``creator`` with its first phase, task and page ids."""
    comp = make_competition()
    return {"competition": comp["id"], "phase": comp["phases"][0]["id"], "task": comp["tasks"][0]["id"],
            "page": comp["pages"][0]["key"]}


@pytest.mark.parametrize("ref", ["²", "%C2%B2", "%D9%A1%D9%A2", "99999999999999999999999", "2147483648", "-1", "1e3"])
def test_ids_that_name_nothing_are_not_found(api, creator, organized, ref) -> None:
    for path in (f"/phases/{ref}", f"/submissions/{ref}", f"/tasks/{ref}", f"/leaderboards/{ref}",
                 f"/datasets/{ref}", f"/phases/{ref}/leaderboard", f"/phases/{ref}/submissions",
                 f"/competitions/{ref}"):
        assert api(creator, "GET", path).status_code == 404, path
    worker = {"Authorization": "Bearer test-queue-token"}
    r = api(None, "POST", f"/worker/attempts/{ref}/heartbeat", json={"worker": "w"}, headers=worker)
    assert r.status_code == 404


@pytest.mark.parametrize("field,value", [
    ("index", 2**31), ("index", -(2**40)), ("max_submission_size", 2**63), ("max_submissions", 2**31),
    ("max_submissions_per_day", 10**30), ("public_data", 2**31), ("max_submission_size", 0),
])
def test_integers_past_their_column_are_refused(api, creator, organized, field, value) -> None:
    r = api(creator, "PATCH", f"/phases/{organized['phase']}", json={field: value}, expect=400)
    assert r.json()["error"]["errors"][0]["location"] == field


def test_integers_past_their_column_in_other_bodies_and_queries(api, creator, organized) -> None:
    comp = organized["competition"]
    api(creator, "POST", f"/competitions/{comp}/pages", json={"key": "p2", "title": "P", "index": 2**40}, expect=400)
    api(creator, "PATCH", f"/competitions/{comp}/pages/{organized['page']}", json={"index": 2**31}, expect=400)
    api(creator, "POST", "/datasets", json={"kind": "input_data", "name": "x", "size": 2**64, "sha256": "0" * 64},
        expect=400)
    api(creator, "GET", "/competitions", params={"offset": 10**30}, expect=400)
    api(creator, "GET", f"/phases/{organized['phase']}/leaderboard", params={"offset": 2**64}, expect=400)
    api(creator, "GET", f"/phases/{organized['phase']}/submissions", params={"before": 2**40}, expect=400)
    api(creator, "GET", f"/competitions/{comp}/participants", params={"after": 2**40}, expect=400)
    # the largest values the columns hold are taken
    api(creator, "PATCH", f"/phases/{organized['phase']}", json={"max_submission_size": 2**63 - 1}, expect=200)
    api(creator, "GET", "/competitions", params={"offset": 2**63 - 1}, expect=200)


def test_null_for_a_field_that_cannot_be_empty_names_the_field(api, creator, organized) -> None:
    cases = [
        (f"/phases/{organized['phase']}", {"name": None}, "name"),
        (f"/phases/{organized['phase']}", {"description": None}, "description"),
        (f"/competitions/{organized['competition']}", {"title": None}, "title"),
        (f"/competitions/{organized['competition']}", {"docker_image": None}, "docker_image"),
        (f"/tasks/{organized['task']}", {"name": None}, "name"),
        (f"/competitions/{organized['competition']}/pages/{organized['page']}", {"content": None}, "content"),
    ]
    for path, body, field in cases:
        error = api(creator, "PATCH", path, json=body, expect=400).json()["error"]
        assert [e["location"] for e in error["errors"]] == [field], error
        assert field in error["message"]
    # where empty means something (no end date, the default queue), null still clears it
    phase = api(creator, "PATCH", f"/phases/{organized['phase']}", json={"end": None}, expect=200).json()
    assert phase["end"] is None
    api(creator, "PATCH", f"/competitions/{organized['competition']}", json={"queue": None}, expect=200)


def test_deeply_nested_json_is_refused(api, creator, organized) -> None:
    for body in ("[" * 200_000 + "]" * 200_000, '{"title":' * 100 + '"x"' + "}" * 100):
        r = api(creator, "PATCH", f"/competitions/{organized['competition']}", data=body,
                headers={"Content-Type": "application/json"}, expect=400)
        assert r.json()["error"]["reason"] == "JsonTooDeep"


# --- bodies the service will not read --------------------------------------------------------


def raw_exchange(service, head: str, body_chunks=(), wait_before_body: float = 0.0) -> tuple[bytes, int]:
    """Send a request's head, then ``body_chunks`` (stopping when the service hangs up), and read
    what the service answered. Returns (answer bytes, body bytes the service let through)."""
    url = urlparse(service.api_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    answer, sent = b"", 0
    try:
        sock.sendall(head.encode())
        if wait_before_body:
            select.select([sock], [], [], wait_before_body)
        for chunk in body_chunks:
            if select.select([sock], [], [], 0)[0]:
                break  # the service answered: no need to send the rest
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            sent += len(chunk)
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
                if b"\r\n\r\n" in answer and answer.endswith(b"}}"):
                    break
        except (ConnectionResetError, TimeoutError):
            pass
    finally:
        sock.close()
    return answer, sent


def head(service, path: str, length: int | None, token: str | None = None, expect_continue: bool = False) -> str:
    """A POST's head announcing ``length`` bytes, or a chunked body when None."""
    url = urlparse(service.api_url)
    lines = [f"POST {url.path}{path} HTTP/1.1", f"Host: {url.hostname}:{url.port}", "Content-Type: application/json",
             f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"]
    if token:
        lines.append(f"Authorization: token {token}")
    if expect_continue:
        lines.append("Expect: 100-continue")
    return "\r\n".join(lines) + "\r\n\r\n"


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def peak_rss_since_reset() -> int:
    """This process's peak resident set (the service runs in it) since the last reset, in bytes."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/self/status")


def resident() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_an_unauthenticated_body_is_refused_before_a_byte_is_read(service) -> None:
    answer, _ = raw_exchange(service, head(service, "/competitions", MIB, expect_continue=True), wait_before_body=10)
    assert status_of(answer) == 401
    assert b'"NotAuthenticated"' in answer and b"100 Continue" not in answer


def test_a_body_announced_too_large_is_refused_before_authentication_completes(service, creator) -> None:
    for token in (None, creator.token):
        answer, _ = raw_exchange(service, head(service, "/competitions", 64 * MIB, token=token, expect_continue=True),
                                 wait_before_body=10)
        assert status_of(answer) == 413 and b'"RequestTooLarge"' in answer


@pytest.mark.parametrize("framing,refusal", [("length", 413), ("chunked", 401)])
def test_an_unauthenticated_gigabyte_post_leaves_the_service_memory_alone(service, framing, refusal) -> None:
    """Announced, the gigabyte is refused by its length; chunked, it is refused for the missing
    token. Either way the service reads next to none of it."""
    chunk = b"\x00" * MIB
    if framing == "chunked":
        chunk = f"{MIB:x}\r\n".encode() + chunk + b"\r\n"

    def gigabyte():
        for _ in range(GIB // MIB):
            yield chunk

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident set to the current one
    before = resident()
    started = time.monotonic()
    answer, sent = raw_exchange(service, head(service, "/competitions", GIB if framing == "length" else None),
                                gigabyte())
    grew = peak_rss_since_reset() - before
    assert grew < 16 * MIB, f"the service's process grew by {grew / MIB:.0f} MiB"
    assert sent < 64 * MIB, f"the service read {sent / MIB:.0f} MiB of a body it refused"
    assert time.monotonic() - started < 30
    if answer:  # the refusal comes back unless the service's hang-up outran it
        assert status_of(answer) == refusal


def test_a_large_legitimate_json_body_is_still_accepted(api, creator, organized) -> None:
    content = "x" * (4 * MIB)
    page = api(creator, "POST", f"/competitions/{organized['competition']}/pages",
               json={"key": "big", "title": "Big", "content": content}, expect=201).json()
    assert len(page["content"]) == len(content)


def test_uploads_to_signed_urls_still_stream_past_the_api_cap(api, creator) -> None:
    import hashlib

    data = b"z" * (12 * MIB)
    announced = api(creator, "POST", "/datasets", json={"kind": "input_data", "name": "big.zip", "size": len(data),
                                                        "sha256": hashlib.sha256(data).hexdigest()}, expect=201).json()
    api.upload(announced["upload_url"], data)
    api(creator, "POST", f"/datasets/{announced['id']}/uploaded", expect=200)
