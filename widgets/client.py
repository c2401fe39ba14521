"""A small client of Podium's REST API, for notebooks and scripts.

Inside a notebook on the hub it needs no configuration: JupyterHub gives the single-user server
its own ``JUPYTERHUB_API_TOKEN`` (which carries ``access:services!service=podium`` when the hub is
set up with ``podium.hub.configure``) and ``PODIUM_URL`` says where the service is. Outside the
hub, pass ``url`` and ``token`` (or set ``PODIUM_URL`` and ``PODIUM_TOKEN``).

Every error the service reports comes back as a ``PodiumAPIError`` subclass whose message is the
service's own sentence, written for the person reading it in a notebook.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import requests
from podium.worker.redaction import without_urls

from .part_upload import (
    PARALLEL,
    PARTS_FROM,
    Source,
    UploadMemory,
    download_in_parts,
    read_all,
    source_sha256,
    source_size,
    upload_in_parts,
)

TERMINAL_STATUSES = frozenset({"finished", "failed", "cancelled"})
UPLOAD_CHUNK = 256 * 1024

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes sent, total bytes) while an upload goes on."""

class PodiumAPIError(Exception):
    """An error answer from the service: ``status``, ``reason`` and the service's message."""

    def __init__(self, message: str, status: int = 0, reason: str = "", body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.body = body or {}


class ConfigurationError(PodiumAPIError):
    """The client does not know where Podium is or which token to use."""


class NotAuthenticated(PodiumAPIError):
    pass


class PermissionDenied(PodiumAPIError):
    pass


class NotFound(PodiumAPIError):
    pass


class Conflict(PodiumAPIError):
    pass


class ValidationFailed(PodiumAPIError):
    """The request was wrong; ``errors`` lists each problem with where it is."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.body.get("errors") or [])


class SubmissionRefused(PodiumAPIError):
    """The phase is closed, the user is not registered, or the upload did not match."""


class QuotaExceeded(SubmissionRefused):
    """The daily or total quota is used up; ``resets_at`` says when the daily one resets."""

    @property
    def resets_at(self) -> str | None:
        return self.body.get("resets_at")


class TransferFailed(PodiumAPIError):
    """An upload to or a download from a signed storage URL failed."""


class WaitTimeout(PodiumAPIError):
    """A submission did not reach a final status in the time given."""


_BY_REASON: dict[str, type[PodiumAPIError]] = {"QuotaExceeded": QuotaExceeded}
_BY_STATUS: dict[int, type[PodiumAPIError]] = {
    400: ValidationFailed, 401: NotAuthenticated, 403: PermissionDenied, 404: NotFound,
    409: Conflict, 422: SubmissionRefused, 429: QuotaExceeded,
}


def error_from_response(response: requests.Response) -> PodiumAPIError:
    """The ``PodiumAPIError`` for a non-2xx answer, carrying the service's own message."""
    try:
        body = response.json().get("error") or {}
    except ValueError:
        body = {}
    message = body.get("message") or f"The Podium service answered {response.status_code} {response.reason}."
    cls = _BY_REASON.get(body.get("reason", "")) or _BY_STATUS.get(response.status_code, PodiumAPIError)
    return cls(message, response.status_code, body.get("reason", ""), body)


def _service_url_from_environment() -> str | None:
    url = os.environ.get("PODIUM_URL")
    if url and url.startswith("/"):
        public = os.environ.get("JUPYTERHUB_PUBLIC_URL") or os.environ.get("JUPYTERHUB_PUBLIC_HUB_URL")
        if not public:
            raise ConfigurationError(
                f"PODIUM_URL is a path ({url}) and the hub's public URL is unknown: set PODIUM_URL "
                "to a full URL (podium.hub.configure(c, public_url=...)) or pass url= to the client."
            )
        url = urljoin(public, url)
    return url


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _ProgressReader:
    """``data`` as a file for an upload, calling ``progress`` every ``UPLOAD_CHUNK`` bytes."""

    def __init__(self, data: bytes, progress: ProgressCallback | None) -> None:
        self.data, self.progress, self.sent, self.reported = data, progress, 0, 0

    def __len__(self) -> int:
        return len(self.data)

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size is None or size < 0 else self.sent + size
        chunk = self.data[self.sent:end]
        self.sent += len(chunk)
        if self.progress and (self.sent - self.reported >= UPLOAD_CHUNK or self.sent == len(self.data)) \
                and self.sent != self.reported:
            self.reported = self.sent
            self.progress(self.sent, len(self.data))
        return chunk


class PodiumClient:
    """Calls to ``<url>/api/v1/`` with a hub token; one method per thing a user does."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 30,
                 upload_memory: UploadMemory | None = None) -> None:
        url = url or _service_url_from_environment()
        token = token or os.environ.get("PODIUM_TOKEN") or os.environ.get("JUPYTERHUB_API_TOKEN")
        if not url:
            raise ConfigurationError(
                "Where is Podium? Outside the hub, pass url= (e.g. http://hub.example.org/services/podium/) "
                "or set PODIUM_URL."
            )
        if not token:
            raise ConfigurationError(
                "No token: inside the hub JUPYTERHUB_API_TOKEN is set for you; outside, pass token= "
                "(a hub API token with the scope access:services!service=podium) or set PODIUM_TOKEN."
            )
        self.url = url.rstrip("/") + "/"
        self.api_url = self.url + "api/v1/"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"
        #: uploads under way, by file sha256, so a restarted kernel resumes instead of starting over
        self.upload_memory = upload_memory or UploadMemory()
        #: files at least this large are sent in parts, in parallel and resumable
        self.parts_from = PARTS_FROM
        #: parts sent at the same time
        self.upload_parallel = PARALLEL

    def __repr__(self) -> str:
        return f"PodiumClient({self.url!r})"

    # -- plumbing ----------------------------------------------------------------------------
    def request(self, method: str, path: str, *, expect_json: bool = True, **kwargs: Any) -> Any:
        """Call ``api/v1/<path>``; return the decoded JSON (or the text), raise on an error."""
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, self.api_url + path.lstrip("/"), **kwargs)
        except requests.ConnectionError as exc:
            raise PodiumAPIError(f"Cannot reach Podium at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        if not expect_json:
            return response.text
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=body or {}, **kwargs)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def put_object(self, upload_url: str, data: bytes, progress: ProgressCallback | None = None,
                   upload_headers: dict[str, str] | None = None) -> None:
        """Send ``data`` to a signed upload URL, reporting progress chunk by chunk (with the
        ``upload_headers`` the service's answer named, which some storages need)."""
        total = len(data)
        # A sized reader, not a generator: requests sends a generator chunked, and a request with
        # both Transfer-Encoding and Content-Length is refused (400) by the storage.
        body = _ProgressReader(data, progress) if total else b""
        url = urljoin(self.url, upload_url)
        headers = {**(upload_headers or {}), "Content-Length": str(total), "Content-Type": "application/octet-stream"}
        try:
            response = requests.put(url, data=body, headers=headers, timeout=max(self.timeout, 300))
        except requests.ConnectionError as exc:
            raise TransferFailed(f"The upload did not reach the storage: {without_urls(str(exc))}") from None
        if response.status_code >= 400:
            error = error_from_response(response)
            raise TransferFailed(f"The upload was refused: {error.message}", response.status_code, error.reason, error.body)
        if progress and total == 0:
            progress(0, 0)

    def get_object(self, download_url: str) -> bytes:
        """The content behind a signed download URL."""
        response = requests.get(urljoin(self.url, download_url), timeout=max(self.timeout, 300))
        if response.status_code >= 400:
            raise TransferFailed(f"The download failed: {error_from_response(response).message}", response.status_code)
        return response.content

    # -- who am I, what is there ---------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        return self.get("me")

    def competitions(self) -> list[dict[str, Any]]:
        return self.get("competitions")["competitions"]

    def my_competitions(self) -> list[dict[str, Any]]:
        """The competitions I organize or take part in, with my quota in each of their phases."""
        return self.me()["competitions"]

    def competition(self, ref: str | int) -> dict[str, Any]:
        """A competition by slug or id, with its phases, tasks, leaderboards and pages."""
        return self.get(f"competitions/{ref}")

    def phase(self, phase_id: int) -> dict[str, Any]:
        return self.get(f"phases/{phase_id}")

    def leaderboard(self, phase_id: int, *, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        return self.get(f"phases/{phase_id}/leaderboard", limit=limit, offset=offset)

    def leaderboard_csv(self, phase_id: int) -> str:
        return self.request("GET", f"phases/{phase_id}/leaderboard", params={"format": "csv", "limit": 1000},
                            expect_json=False)

    def datasets(self, competition: str | int) -> list[dict[str, Any]]:
        return self.get(f"competitions/{competition}/datasets")["datasets"]

    def download_dataset(self, dataset_id: int, destination: str | os.PathLike[str]) -> Path:
        """Save a dataset (public data, starting kit, ...) to ``destination`` (a folder or a file)."""
        model = self.get(f"datasets/{dataset_id}")
        target = Path(destination).expanduser()
        if target.is_dir():
            target = target / Path(model["name"]).name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (model.get("size") or 0) >= self.parts_from:  # large: byte ranges in parallel, never all in memory
            return download_in_parts(urljoin(self.url, model["download_url"]), model["size"], target,
                                     parallel=self.upload_parallel, timeout=max(self.timeout, 300))
        target.write_bytes(self.get_object(model["download_url"]))
        return target

    # -- participating ---------------------------------------------------------------------------
    def register(self, competition: str | int) -> dict[str, Any]:
        return self.post(f"competitions/{competition}/register")

    def submit(
        self,
        phase_id: int,
        data: Source,
        *,
        description: str = "",
        task: str | None = None,
        fact_sheet: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Create a submission of the zip ``data`` (bytes or a path), upload it, and queue it for scoring.

        A retry with the same ``idempotency_key`` returns the same submission instead of a new one.
        A large file goes in parts; if its upload is cut off (connection, kernel restart), calling
        ``submit`` again with the same file resumes it: the same submission, only the missing parts.
        """
        size, sha = source_size(data), source_sha256(data)
        purpose = f"{self.url} submission to phase {phase_id}"
        remembered = self.upload_memory.recall(sha, purpose) if idempotency_key is None else None
        key = idempotency_key or (remembered or {}).get("idempotency_key") or uuid.uuid4().hex
        body: dict[str, Any] = {"size": size, "sha256": sha, "description": description}
        if task:
            body["task"] = task
        if fact_sheet:
            body["fact_sheet"] = fact_sheet
        self.upload_memory.remember(sha, purpose, {"idempotency_key": key})
        created = self.request("POST", f"phases/{phase_id}/submissions", json=body, headers={"Idempotency-Key": key})
        if remembered and created["status"] not in ("submitting", "submitted", "running", "finished"):
            # the remembered submission ended without its upload (say the service gave up on it): start afresh
            self.upload_memory.forget(sha, purpose)
            return self.submit(phase_id, data, description=description, task=task, fact_sheet=fact_sheet,
                               progress=progress)
        if created["status"] == "submitting" and created.get("upload_url"):
            if size >= self.parts_from:
                # resumable: a failure keeps what arrived (and the memory), for the next call
                upload_in_parts(self, f"submissions/{created['id']}/upload", data, progress, self.upload_parallel)
            else:
                try:
                    self.put_object(created["upload_url"], read_all(data), progress, created.get("upload_headers"))
                except TransferFailed as refused:
                    # tell the service: a refused upload gives its quota slot back at once (and one
                    # that arrived after all, the answer lost, is queued)
                    self.upload_memory.forget(sha, purpose)
                    try:
                        finalized = self.post(f"submissions/{created['id']}/uploaded")
                    except PodiumAPIError:
                        raise refused from None
                    finalized["quota"] = created.get("quota")
                    return finalized
            try:
                finalized = self.post(f"submissions/{created['id']}/uploaded")
            finally:
                self.upload_memory.forget(sha, purpose)
            finalized["quota"] = created.get("quota")
            return finalized
        self.upload_memory.forget(sha, purpose)
        return created

    def submission(self, submission_id: int) -> dict[str, Any]:
        return self.get(f"submissions/{submission_id}")

    def my_submissions(self, phase_id: int | None = None, *, limit: int = 100, offset: int = 0,
                       before: int | None = None) -> dict[str, Any]:
        """A page of my submissions (in one phase, or everywhere), newest first: ``submissions``,
        ``total`` (exact up to 10,000, else ``total_is_lower_bound``) and ``next``, the
        ``before`` of the following page (None on the last)."""
        path = f"phases/{phase_id}/submissions" if phase_id else "me/submissions"
        return self.get(path, limit=limit, offset=offset, before=before)

    def wait(
        self,
        submission_id: int,
        *,
        timeout: float = 600,
        interval: float = 1.0,
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the submission is finished, failed or cancelled; call ``on_update`` on changes."""
        deadline = time.monotonic() + timeout
        last: tuple[Any, ...] | None = None
        while True:
            current = self.submission(submission_id)
            seen = (current["status"], current.get("log_tail"), current.get("scores"), current.get("live_log"),
                    (current.get("queue") or {}).get("position"), (current.get("queue") or {}).get("workers"))
            if on_update and seen != last:
                on_update(current)
            last = seen
            if current["status"] in TERMINAL_STATUSES:
                return current
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"Submission {submission_id} is still '{current['status']}' after {timeout:.0f} s; "
                    "it goes on in the background: look again later."
                )
            time.sleep(interval)

    def log(self, submission_id: int) -> dict[str, Any]:
        """A submission's log: ``text`` is the live tail of my code's output while it runs
        (``live``: True), the final log tail afterwards; ``status`` is the submission's."""
        return self.get(f"submissions/{submission_id}/log")

    def select(self, submission_id: int, selected: bool = True) -> dict[str, Any]:
        """Choose (or, with ``selected=False``, un-choose) a finished submission for the leaderboard."""
        return self.post(f"submissions/{submission_id}/select", {"selected": selected})

    def cancel(self, submission_id: int) -> dict[str, Any]:
        return self.post(f"submissions/{submission_id}/cancel")

    def outputs(self, submission_id: int) -> list[dict[str, Any]]:
        return self.get(f"submissions/{submission_id}/outputs")["files"]

    def update_submission(self, submission_id: int, **fields: Any) -> dict[str, Any]:
        """Change my submission's ``description`` or ``is_public`` (consent to reveal its code)."""
        return self.patch(f"submissions/{submission_id}", fields)

    def revealed_code(self, phase_id: int) -> list[dict[str, Any]]:
        """The submissions whose code the phase reveals (after its end), each with ``code``:
        ``name``, ``size``, ``sha256`` and ``download_url``."""
        return self.get(f"phases/{phase_id}/revealed-code")["submissions"]

    def choose_for_reveal(self, submission_id: int, chosen: bool = True) -> dict[str, Any]:
        """Organizers: choose a submission for a phase that reveals chosen code."""
        return self.post(f"submissions/{submission_id}/reveal-choice", {"chosen": chosen})

    # -- a class: my deadline, my final selection, the private board ----------------------------
    def final_selection(self, phase_id: int) -> dict[str, Any]:
        """My final selection: ``submissions`` I chose, or the ``fallback`` that counts if I
        choose none, and ``locks_at`` (my deadline plus the grace period)."""
        return self.get(f"phases/{phase_id}/selection")

    def set_final_selection(self, phase_id: int, submission_ids: list[int]) -> dict[str, Any]:
        """Replace my final selection (an empty list returns to the fallback)."""
        return self.request("PUT", f"phases/{phase_id}/selection", json={"submissions": list(submission_ids)})

    def private_leaderboard(self, phase_id: int) -> dict[str, Any]:
        """The private board with each participant's ``public_rank`` and ``shake_up`` (once revealed)."""
        return self.get(f"phases/{phase_id}/private-leaderboard")

    # -- teaching: extensions, the reveal, grades -------------------------------------------------
    def extensions(self, phase_id: int) -> list[dict[str, Any]]:
        return self.get(f"phases/{phase_id}/extensions")["extensions"]

    def grant_extension(self, phase_id: int, username: str | None, end: str, reason: str = "", *,
                        team: str | None = None) -> dict[str, Any]:
        """Give ``username`` (or, with ``team``, every member of that team) their own deadline
        ``end`` (ISO, UTC) in the phase."""
        subject = {"team": team} if team is not None else {"username": username}
        return self.post(f"phases/{phase_id}/extensions", {**subject, "end": end, "reason": reason})

    def revoke_extension(self, phase_id: int, username: str | None = None, *, team: str | None = None) -> None:
        if team is not None:
            self.delete(f"phases/{phase_id}/team-extensions/{quote(team, safe='')}")
        else:
            self.delete(f"phases/{phase_id}/extensions/{username}")

    def reveal(self, phase_id: int) -> dict[str, Any]:
        """Reveal the phase's private board to participants now."""
        return self.post(f"phases/{phase_id}/reveal")

    def grades(self, phase_id: int) -> dict[str, Any]:
        """Every roster member's final score, rank, late penalty and grade."""
        return self.get(f"phases/{phase_id}/grades")

    def grades_csv(self, phase_id: int, layout: str = "podium") -> str:
        """The grades as CSV: ``podium``, ``canvas`` or ``moodle`` columns."""
        return self.request("GET", f"phases/{phase_id}/grades", params={"format": "csv", "layout": layout},
                            expect_json=False)

    # -- organizing ----------------------------------------------------------------------------
    def create_competition(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.post("competitions", body)

    def update_competition(self, competition: str | int, body: dict[str, Any]) -> dict[str, Any]:
        return self.patch(f"competitions/{competition}", body)

    def publish(self, competition: str | int, published: bool = True) -> dict[str, Any]:
        """Publish (or, with ``published=False``, unpublish) a competition."""
        if published:
            return self.post(f"competitions/{competition}/publish")
        return self.delete(f"competitions/{competition}/publish")

    def upload_dataset(
        self, data: Source, *, kind: str, name: str, competition: str | int | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Announce, upload and confirm a dataset or program (bytes or a path); returns its model
        (with ``id``). A large file goes in parts, and calling again with the same file after an
        interruption resumes its upload instead of starting over."""
        size, sha = source_size(data), source_sha256(data)
        purpose = f"{self.url} {kind} {name!r} of {competition if competition is not None else 'no competition'}"
        announced = None
        remembered = self.upload_memory.recall(sha, purpose) if size >= self.parts_from else None
        if remembered is not None:
            try:
                announced = self.get(f"datasets/{remembered['id']}")
            except PodiumAPIError:
                announced = None
            if announced is not None and announced.get("state") != "pending":
                announced = None
        if announced is None:
            body = {"kind": kind, "name": name, "size": size, "sha256": sha}
            path = f"competitions/{competition}/datasets" if competition is not None else "datasets"
            announced = self.post(path, body)
            if size >= self.parts_from:
                self.upload_memory.remember(sha, purpose, {"id": announced["id"]})
        if size >= self.parts_from:
            upload_in_parts(self, f"datasets/{announced['id']}/upload", data, progress, self.upload_parallel)
        else:
            self.put_object(announced["upload_url"], read_all(data), progress, announced.get("upload_headers"))
        try:
            return self.post(f"datasets/{announced['id']}/uploaded")
        finally:
            self.upload_memory.forget(sha, purpose)

    def participants(self, competition: str | int, *, limit: int = 100, offset: int = 0,
                     after: int | None = None) -> dict[str, Any]:
        """Registrations, oldest first (``participants``, ``total``, ``next``: the ``after`` of the
        following page) and the roster groups (organizers)."""
        return self.get(f"competitions/{competition}/participants", limit=limit, offset=offset, after=after)

    def decide(self, competition: str | int, username: str, decision: str, reason: str = "") -> dict[str, Any]:
        """Approve or deny a registration (``decision`` is ``approve`` or ``deny``)."""
        return self.post(f"competitions/{competition}/participants/{username}/{decision}", {"reason": reason})

    def phase_submissions(self, phase_id: int, *, owner: str | None = None, status: str | None = None,
                          limit: int = 100, offset: int = 0, before: int | None = None) -> dict[str, Any]:
        """Every participant's submissions in a phase (organizers), newest first; page on with
        ``before=answer["next"]``."""
        return self.get(f"phases/{phase_id}/submissions", all="true", owner=owner, status=status,
                        limit=limit, offset=offset, before=before)

    def rerun(self, submission_id: int) -> dict[str, Any]:
        return self.post(f"submissions/{submission_id}/rerun")

    # -- administering -------------------------------------------------------------------------
    def send_lti_grades(self, phase_id: int) -> dict[str, Any]:
        """The phase's grades to the courses that link the competition (LTI 1.3 AGS)."""
        return self.post(f"phases/{phase_id}/lti-grades")

    # -- teams ---------------------------------------------------------------------------------
    def my_team(self, competition: str | int) -> dict[str, Any]:
        """My team (or None), the invitations waiting for me, and the team rules."""
        return self.get(f"competitions/{competition}/my-team")

    def teams(self, competition: str | int) -> list[dict[str, Any]]:
        return self.get(f"competitions/{competition}/teams")["teams"]

    def create_team(self, competition: str | int, name: str, *, members: list[str] | None = None,
                    hub_group: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        if members:
            body["members"] = members
        if hub_group:
            body["hub_group"] = hub_group
        return self.post(f"competitions/{competition}/teams", body)

    def invite(self, competition: str | int, team_id: int, username: str) -> dict[str, Any]:
        return self.post(f"competitions/{competition}/teams/{team_id}/invitations", {"username": username})

    def answer_invitation(self, competition: str | int, team_id: int, answer: str) -> dict[str, Any]:
        """``answer``: "accept" or "decline"."""
        return self.post(f"competitions/{competition}/teams/{team_id}/{answer}")

    def leave_team(self, competition: str | int) -> dict[str, Any]:
        return self.delete(f"competitions/{competition}/my-team")

    def import_team_roster(self, competition: str | int, csv_text: str) -> list[dict[str, Any]]:
        return self.post(f"competitions/{competition}/teams/roster", {"csv": csv_text})["teams"]

    def team_policy(self, competition: str | int) -> dict[str, Any]:
        return self.get(f"competitions/{competition}/team-policy")

    def set_team_policy(self, competition: str | int, *, participant_teams: bool, max_size: int = 0,
                        join_deadline: str | None = None) -> dict[str, Any]:
        return self.request("PUT", f"competitions/{competition}/team-policy", json={
            "participant_teams": participant_teams, "max_size": max_size, "join_deadline": join_deadline})

    def queues(self) -> list[dict[str, Any]]:
        return self.get("queues")["queues"]

    def create_queue(self, name: str) -> dict[str, Any]:
        """A new compute queue; the answer's ``token`` is shown once."""
        return self.post("queues", {"name": name})

    def queue_token(self, queue: str) -> dict[str, Any]:
        return self.post(f"queues/{queue}/token")

    def share_queue(self, queue: str, *, user: str | None = None, group: str | None = None) -> dict[str, Any]:
        """Let a hub user or the members of a hub group run their competitions on ``queue``."""
        return self.request("PUT", _share_path(queue, user, group))

    def unshare_queue(self, queue: str, *, user: str | None = None, group: str | None = None) -> dict[str, Any]:
        return self.request("DELETE", _share_path(queue, user, group))

    def delete_queue(self, queue: str) -> None:
        """Remove a queue (refused, with their list, while competitions use it)."""
        self.delete(f"queues/{quote(queue, safe='')}")


def _share_path(queue: str, user: str | None, group: str | None) -> str:
    if (user is None) == (group is None):
        raise ValueError("Share a queue with a user= or a group=, one at a time.")
    kind, name = ("users", user) if user is not None else ("groups", group)
    return f"queues/{quote(queue, safe='')}/shares/{kind}/{quote(name or '', safe='')}"


def current_phase(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """The open phase; else the next to open; else the last one (to show its results)."""
    for status in ("current", "next"):
        found = [p for p in phases if p["status"] == status]
        if found:
            return found[0]
    return phases[-1] if phases else {}
