"""Code revealed after a phase (``submissions.code_reveal``): the list every participant may
download once the phase has ended, the owner's consent and the organizers' choice."""

from __future__ import annotations

from .. import artifacts
from ..clock import utcnow
from ..orm import Phase, Submission
from ..request_bodies import RevealChoiceIn
from ..submissions import code_reveal
from .answers import submission_model
from .base import APIHandler, api


class RevealedCodeHandler(APIHandler):
    @api("The code of a phase's revealed submissions, with download links: every participant once the "
         "phase has ended, organizers at any time. Which submissions, by the phase's `code_reveal`: "
         "the organizers' chosen ones, the leaderboard's top `code_reveal_top`, or every one its owner "
         "made public; only submissions their owner made public (`is_public`) are ever listed.",
         requires="participate", responses={409: "The phase reveals no code, or has not ended yet."})
    async def get(self, phase: Phase) -> None:
        code_reveal.check_open(phase, utcnow(), self.caller_roles.manages)
        listed = []
        for found in code_reveal.revealed(self.db, phase):
            model = submission_model(found.submission, self.caller_roles)
            upload = next((f.artifact for f in found.submission.files if f.role == "submission"), None)
            model["rank"] = found.rank
            model["code"] = None if upload is None or upload.state.value != "ready" else {
                "name": upload.name, "size": upload.size, "sha256": upload.sha256,
                "download_url": artifacts.download_url(self.podium.storage, upload, self.podium.download_url_expiry),
            }
            listed.append(model)
        self.write_json({"phase": phase.id, "code_reveal": phase.code_reveal,
                         "revealed_at": phase.end.isoformat() + "Z" if phase.end else None, "submissions": listed})


class RevealChoiceHandler(APIHandler):
    @api("Choose a submission for a phase that reveals the organizers' chosen code (organizers); it is "
         "shown only if its owner made it public.", requires="manage", body=RevealChoiceIn)
    async def post(self, submission: Submission) -> None:
        submission.reveal_chosen = self.body.chosen
        self.db.commit()
        self.write_json(submission_model(submission, self.caller_roles))


default_handlers = [
    ("/phases/{phase}/revealed-code", RevealedCodeHandler),
    ("/submissions/{submission}/reveal-choice", RevealChoiceHandler),
]
