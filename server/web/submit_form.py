"""The competition page's submission form: the file comes with the form (multipart); the API's
own create verb checks it (registration, open phase, quota, size, fact sheet), then the service
stores it and queues it as the API's upload and ``uploaded`` steps would, and the browser goes to
the submission's page, which follows its status."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

from ..apihandlers.submissions import PhaseSubmissionsHandler
from ..compute import attempts as jobs
from ..errors import ValidationFailed
from ..orm import Submission, SubmissionStatus
from ..submissions import lifecycle as domain
from .base import ActionMixin

FACT_PREFIX = "fact_sheet."


def as_zip(filename: str, content: bytes) -> bytes:
    """A zip as it is; any other file zipped under its own name (as the widget does)."""
    if filename.lower().endswith(".zip") and zipfile.is_zipfile(io.BytesIO(content)):
        return content
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(filename.replace("\\", "/").rsplit("/", 1)[-1] or "submission", content)
    return buffer.getvalue()


def fact_value(value: str) -> str | bool:
    """A form field's answer: a yes/no question's ``true``/``false`` as a boolean."""
    return {"true": True, "false": False}.get(value, value)


class SubmitAction(ActionMixin, PhaseSubmissionsHandler):
    """``POST phases/{phase}/submit``: the API's ``POST phases/{phase}/submissions`` with the file."""

    _upload: bytes = b""

    def json_body(self) -> Any:
        chosen = (self.request.files.get("file") or [None])[0]
        if chosen is None or not chosen.body:
            raise ValidationFailed("Choose a file to submit.", [{"location": "file", "message": "no file"}])
        self._upload = as_zip(chosen.filename or "submission", chosen.body)
        body: dict[str, Any] = {
            "size": len(self._upload), "sha256": hashlib.sha256(self._upload).hexdigest(),
            "description": self.get_body_argument("description", "").strip() or chosen.filename or "",
        }
        answers = {k.removeprefix(FACT_PREFIX): fact_value(self.get_body_argument(k))
                   for k in self.request.body_arguments if k.startswith(FACT_PREFIX)}
        answers = {k: v for k, v in answers.items() if v != ""}
        if answers:
            body["fact_sheet"] = answers
        return body

    def write_json(self, obj: Any, status: int = 200) -> None:
        submission = self.db.get(Submission, obj["id"])
        if submission.status == SubmissionStatus.submitting:
            self.podium.storage.put(domain.upload_of(submission).storage_key, self._upload)
            domain.finalize(self.db, self.podium.storage, submission)
            jobs.start(self.db, submission)
            self.db.commit()
        self.redirect(f"{self.podium.base_url}submissions/{submission.id}", status=303)
