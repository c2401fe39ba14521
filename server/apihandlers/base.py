"""The base of every JSON handler: authentication, one session per request, lookups that 404,
body and query parsing through the schemas, and the one ``write_error`` that renders errors.

Handlers declare each verb with ``@api(...)``: the same declaration parses the request and
describes it in the OpenAPI document, so the document matches what the handlers accept.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from tornado.web import HTTPError, RequestHandler

from ..auth.identity import Identity, token_from_header
from ..auth.permissions import CompetitionRoles, competition_roles
from ..errors import NotAuthenticated, NotFound, PodiumError, ValidationFailed
from ..orm import Competition, Phase, Submission, Task
from ..request_bodies import Body, parse

if TYPE_CHECKING:
    from ..app import PodiumService

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
}


@dataclass
class Operation:
    """What one verb of one handler accepts and answers, for parsing and for OpenAPI."""

    summary: str
    body: type[Body] | None = None
    query: type[Body] | None = None
    auth: bool = True
    status: int = 200
    responses: dict[int, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    produces: tuple[str, ...] = ("application/json",)


def api(summary: str, **kwargs: Any) -> Callable:
    """Declare a verb: authenticate, parse the query into ``self.query`` at once and the body
    into ``self.body`` when the handler first reads it (after its permission checks, so a
    caller without permission learns nothing about what a valid body looks like)."""
    op = Operation(summary, **kwargs)

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        async def wrapper(self: APIHandler, *args: str, **path: str) -> None:
            if op.auth:
                await self.authenticate()
            if op.query is not None:
                self.query = parse(op.query, self.query_arguments(), where="query")
            self._body_model = op.body
            await method(self, *args, **path)

        wrapper.operation = op  # type: ignore[attr-defined]
        return wrapper

    return decorate


class APIHandler(RequestHandler):
    """Base of the JSON API."""

    identity: Identity | None = None
    query: Any = None
    #: whether answers are JSON text; page subclasses that render ``write_json`` as HTML say no,
    #: so verbs with a pre-encoded fast path (the leaderboard) fall back to ``write_json``
    answers_json = True
    _session: Session | None = None
    _body_model: type[Body] | None = None
    _body: Any = None

    @property
    def body(self) -> Any:
        """The request body validated against the verb's declared model."""
        if self._body is None and self._body_model is not None:
            self._body = parse(self._body_model, self.json_body(), where="body")
        return self._body

    @property
    def podium(self) -> PodiumService:
        return self.settings["podium"]

    @property
    def db(self) -> Session:
        if self._session is None:
            self._session = self.podium.session_factory()
        return self._session

    def on_finish(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)

    def check_xsrf_cookie(self) -> None:
        """API calls carry tokens, never cookies, so XSRF does not apply."""

    def compute_etag(self) -> None:
        """No ETag: answers are ``Cache-Control: no-store``, so hashing each body buys nothing."""
        return None

    async def authenticate(self) -> Identity:
        token = token_from_header(self.request.headers.get("Authorization"))
        if token is None:
            raise NotAuthenticated(
                "Send your JupyterHub token in an 'Authorization: token <token>' header."
            )
        self.identity = await self.podium.authenticator.identify(token)
        return self.identity

    @property
    def user(self) -> Identity:
        if self.identity is None:
            raise NotAuthenticated("Authentication required.")
        return self.identity

    # --- parsing ---------------------------------------------------------------------------

    def json_body(self) -> Any:
        if not self.request.body:
            return {}
        try:
            return json.loads(self.request.body)
        except (ValueError, UnicodeDecodeError) as e:
            raise ValidationFailed(f"The request body is not valid JSON: {e}") from None

    def query_arguments(self) -> dict[str, str]:
        return {k: self.get_query_argument(k) for k in self.request.query_arguments}

    # --- answers ---------------------------------------------------------------------------

    def write_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(obj, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, PodiumError):
            body = exc.to_json()
        elif isinstance(exc, HTTPError):
            body = {
                "status": status_code,
                "reason": self._reason,
                "message": exc.log_message or self._reason,
            }
        else:
            body = {
                "status": status_code,
                "reason": "InternalError" if status_code >= 500 else self._reason,
                "message": "Something went wrong on the server; it has been logged."
                if status_code >= 500
                else self._reason,
            }
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({"error": body}))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, PodiumError):
            if self._session is not None:
                self._session.rollback()
            if self._finished:
                return
            self.send_error(e.status_code, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)

    # --- lookups ---------------------------------------------------------------------------

    def find_competition(self, ref: str) -> Competition:
        """By id or slug; 404 also when the caller may not see it (unpublished)."""
        column = Competition.id if ref.isdigit() else Competition.slug
        value: Any = int(ref) if ref.isdigit() else ref
        competition = self.db.scalar(select(Competition).where(column == value))
        if competition is None:
            raise NotFound(f"No such competition: {ref}")
        return competition

    def roles(self, competition: Competition) -> CompetitionRoles:
        return competition_roles(self.db, self.user, competition)

    def visible_competition(self, ref: str) -> tuple[Competition, CompetitionRoles]:
        competition = self.find_competition(ref)
        roles = self.roles(competition)
        roles.require_view()
        return competition, roles

    def find_by_id(self, model: type, ref: str, label: str) -> Any:
        obj = self.db.get(model, int(ref)) if ref.isdigit() else None
        if obj is None:
            raise NotFound(f"No such {label}: {ref}")
        return obj

    def visible_phase(self, ref: str) -> tuple[Phase, CompetitionRoles]:
        # one query for the phase, its competition and its leaderboard, which every phase
        # verb reads next (the leaderboard read is the hottest path: bench B2)
        phase = self.db.get(
            Phase, int(ref), options=[joinedload(Phase.competition), joinedload(Phase.leaderboard)]
        ) if ref.isdigit() else None
        if phase is None:
            raise NotFound(f"No such phase: {ref}")
        roles = self.roles(phase.competition)
        if not roles.can_view:
            raise NotFound(f"No such phase: {ref}")
        return phase, roles

    def visible_task(self, ref: str) -> tuple[Task, CompetitionRoles]:
        task = self.find_by_id(Task, ref, "task")
        roles = self.roles(task.competition)
        if not roles.can_view:
            raise NotFound(f"No such task: {ref}")
        return task, roles

    def visible_submission(self, ref: str, *options: Any) -> tuple[Submission, CompetitionRoles]:
        """The owner, the organizers and admins see a submission; others get 404.

        One query for the submission, its phase, the phase's competition (the permission check)
        and leaderboard (the answer's scores), instead of a lazy load each; ``options`` eager-load
        more for the verb at hand."""
        phase = joinedload(Submission.phase)
        submission = self.db.scalars(
            select(Submission).where(Submission.id == int(ref))
            .options(phase.joinedload(Phase.competition), phase.joinedload(Phase.leaderboard), *options)
        ).unique().one_or_none() if ref.isdigit() else None
        if submission is None:
            raise NotFound(f"No such submission: {ref}")
        roles = self.roles(submission.phase.competition)
        if not (roles.manages or (roles.can_view and submission.owner == self.user.name)):
            raise NotFound(f"No such submission: {ref}")
        return submission, roles
