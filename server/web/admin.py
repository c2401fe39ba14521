"""The page of compute queues (workers with version and state, depth, recent failures) and its re-key form.

Both run the API verbs of the same name (``GET /api/v1/queues`` and
``POST /api/v1/queues/{queue}/token``), so their permission checks are the API's: each user sees
the queues they may use (hub admins: all), and only a queue's owner and hub admins may re-key it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from tornado.web import RequestHandler

from ..apihandlers.workers import QueueListHandler, QueueTokenHandler
from ..orm import Attempt
from .base import PageMixin


class QueuesPage(PageMixin, QueueListHandler):
    template = "admin_queues.html"
    post = RequestHandler.post  # creating a queue stays an API call: no form posts here (405)

    def page_context(self, data: dict[str, Any]) -> dict[str, Any]:
        """What each worker is running: its attempts' submissions and steps."""
        ids = [a for q in data["queues"] for w in q["workers"] for a in w["running"]]
        rows = self.db.execute(
            select(Attempt.id, Attempt.submission_id, Attempt.step).where(Attempt.id.in_(ids))
        ).all() if ids else []
        return {"running": {a: {"submission": s, "step": step.value} for a, s, step in rows}}


class QueueRekeyAction(PageMixin, QueueTokenHandler):
    """The form's answer is a page that shows the new token once (it is stored only hashed)."""

    template = "queue_token.html"
