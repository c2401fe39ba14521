"""The base of every JSON handler: authentication, permissions, one session per request, lookups
that 404, body and query parsing through the schemas, and the one ``write_error`` that renders errors.

Handlers declare each verb with ``@api(summary, requires=...)``: the same declaration parses the
request, checks what the verb requires (``auth.permissions.REQUIREMENTS``) and describes both in
the OpenAPI document, so the document matches what the handlers accept and whom they serve.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, joinedload
from tornado.web import HTTPError, RequestHandler, stream_request_body

from ..auth.identity import Identity, token_from_header
from ..auth.permissions import (
    ON_A_QUEUE,
    ON_THE_PATH,
    REQUIREMENTS,
    CompetitionRoles,
    can_create_competitions,
    competition_roles,
)
from ..compute import queue_access
from ..errors import NotAuthenticated, NotFound, PermissionDenied, PodiumError
from ..keepalive import announce_close_if_body_unread
from ..offloop import run_without_awaiting
from ..orm import (
    Artifact,
    ArtifactKind,
    BundleImport,
    Competition,
    ComputeQueue,
    Leaderboard,
    Phase,
    Submission,
    Task,
)
from ..request_bodies import Body, parse
from ..teams import competitors
from .input_limits import announced_length, check_length, decode_json, path_id

if TYPE_CHECKING:
    from ..app import PodiumService

T = TypeVar("T")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
}

#: the path parameters ``@api`` resolves to objects, by name (as JupyterHub's ``needs_scope``
#: reads ``user_name`` or ``group_name`` from the path): each maps to the base's lookup
#: ``visible_<name>`` (for view, participate, manage) and/or ``own_<name>`` (for own)
VISIBLE = ("competition", "phase", "task", "leaderboard", "submission", "dataset")
OWNED = ("submission", "dataset", "bundle", "bundle_import")


@dataclass
class Operation:
    """What one verb of one handler requires, accepts and answers, for checking, parsing and OpenAPI.

    ``requires`` is a key of ``REQUIREMENTS`` or None (public); ``resource`` is the path
    parameter it is checked on, for the requirements in ``ON_THE_PATH``; ``refusal``, when set,
    is the sentence a refused caller reads instead of the requirement's general one."""

    summary: str
    requires: str | None
    resource: str | None = None
    refusal: str | None = None
    body: type[Body] | None = None
    query: type[Body] | None = None
    status: int = 200
    responses: dict[int, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    produces: tuple[str, ...] = ("application/json",)
    #: False for a verb that never touches the database: it runs on the loop, without the pool
    #: (the guard, ``offloop.LoopGuard``, refuses it in the tests if it ever does)
    database: bool = True

    @property
    def auth(self) -> bool:
        """Whether the caller sends a hub token (public verbs and workers do not)."""
        return self.requires not in (None, "queue token")


def path_resource(method: Callable, requires: str | None) -> str | None:
    """The path parameter of ``method`` that ``requires`` is checked on; ValueError if it names none."""
    if requires not in ON_THE_PATH:
        return None
    kinds = OWNED if requires == "own" else ("queue",) if requires in ON_A_QUEUE else VISIBLE
    resource = next((name for name in inspect.signature(method).parameters if name in kinds), None)
    if resource is None:
        raise ValueError(f"{method.__qualname__} requires {requires!r} but its path names none of {kinds}")
    return resource


def lookup_name(requires: str, resource: str) -> str:
    """The base handler's method that finds the object a requirement on the path is checked on:
    ``own_submission``, ``visible_phase``, ``managed_queue``, ..."""
    prefix = {"own": "own_", "use queue": "usable_", "manage queue": "managed_"}.get(requires, "visible_")
    return prefix + resource


def api(summary: str, *, requires: str | None, **kwargs: Any) -> Callable:
    """Declare a verb and what it requires: authenticate, parse the query into ``self.query``,
    check the requirement (replacing the path parameter it names with the object, and setting
    ``self.caller_roles``), then run the verb. The body is parsed into ``self.body`` when the verb
    first reads it: after every permission check, so a caller without permission learns nothing
    about what a valid body looks like.

    The check and the verb run in the database pool (``offloop``), never on the event loop;
    what they ask of Tornado (status, headers, the answer) is replayed on the loop after them."""
    if requires is not None and requires not in REQUIREMENTS:
        raise ValueError(f"Unknown requirement {requires!r}; known: {sorted(REQUIREMENTS)}")

    def decorate(method: Callable) -> Callable:
        op = Operation(summary, requires, path_resource(method, requires), **kwargs)

        @functools.wraps(method)
        async def wrapper(self: APIHandler, *args: str, **path: Any) -> None:
            if self._finished:
                return  # refused while the body streamed
            if self._refusal is not None:
                raise self._refusal
            if self._chunks:
                self.request.body = b"".join(self._chunks)
                self._chunks = []
            if op.auth and self.identity is None:
                await self.authenticate()
            if op.query is not None:
                self.query = parse(op.query, self.query_arguments(), where="query")
            self._body_model = op.body
            if not op.database:
                self.check_requirement(op, path)
                await method(self, *args, **path)
                return
            if self.answer_on_loop(path):
                return
            await self.off_the_loop(lambda: self.run_verb(method, op, args, path))

        wrapper.operation = op  # type: ignore[attr-defined]
        return wrapper

    return decorate


class LoopReplay:
    """Put before ``RequestHandler``: lets a handler do its blocking work in the database pool
    (``off_the_loop``). The Tornado calls that work makes (``LOOP_ONLY``) are recorded and done
    on the loop afterwards; a coroutine only the loop can run (the hub client's) is awaited there
    with ``on_loop``. ``APIHandler`` applies it to every verb; the LTI endpoints use it too."""

    _deferred: list[tuple[Callable, tuple, dict]] | None = None
    _loop_thread: int | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def off_the_loop(self, work: Callable[[], None]) -> None:
        """Run ``work`` in the database pool; what it asked of Tornado is done on the loop after."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread, self._deferred = threading.get_ident(), []
        try:
            await self.settings["podium"].database_pool.run(work)  # type: ignore[attr-defined]
        finally:
            calls, self._deferred = self._deferred, None
            for tornado_method, args, kwargs in calls:
                tornado_method(self, *args, **kwargs)

    def on_loop(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """From work in the pool: run ``coroutine`` on the loop (e.g. a call to the hub) and wait
        for its result; this thread blocks, the loop does not."""
        if self._loop is None or threading.get_ident() == self._loop_thread:
            coroutine.close()
            raise RuntimeError("on_loop is for work running in the database pool")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)


#: the lookups of a path's phase and submission (with what every verb on them reads next), built
#: once: their loader options cost more Python to build than the query takes to run
_PHASE_LOOKUP = (select(Phase).where(Phase.id == bindparam("ident"))
                 .options(joinedload(Phase.competition), joinedload(Phase.leaderboard)))
_SUBMISSION_LOOKUPS: dict[tuple, Select] = {}


def _submission_lookup(more: tuple) -> Select:
    """The submission lookup with a handler's ``lookup_options`` (a class attribute: one
    statement per handler class)."""
    statement = _SUBMISSION_LOOKUPS.get(more)
    if statement is None:
        phase = joinedload(Submission.phase)
        statement = _SUBMISSION_LOOKUPS[more] = (
            select(Submission).where(Submission.id == bindparam("ident"))
            .options(phase.joinedload(Phase.competition), phase.joinedload(Phase.leaderboard), *more))
    return statement


@stream_request_body
class APIHandler(LoopReplay, RequestHandler):
    """Base of the JSON API.

    The body streams in (``data_received``) only after ``prepare`` has refused a body announced
    too large and authenticated the caller: nobody makes the service hold more than
    ``max_request_body``, and a caller who failed authentication makes it hold nothing. Their
    body, if already on its way, is read and dropped up to that cap before the refusal is sent
    (answering while the client still sends makes its TCP stack reset the connection and lose
    the answer); a client that waits for ``100 Continue`` is refused before it sends a byte.
    """

    identity: Identity | None = None
    query: Any = None
    #: the caller's roles in the competition of the object the path names (set by ``@api``)
    caller_roles: CompetitionRoles | None = None
    #: the compute queue whose token a worker sent (``requires="queue token"``)
    token_queue: ComputeQueue | None = None
    #: loader options for the object the path names, eager-loaded with it for what the verb reads
    lookup_options: tuple = ()
    #: whether answers are JSON text; page subclasses that render ``write_json`` as HTML say no,
    #: so verbs with a pre-encoded fast path (the leaderboard) fall back to ``write_json``
    answers_json = True
    #: refusals after which what the verb changed is kept (committed) before answering them
    commit_on: tuple[type[PodiumError], ...] = ()
    _session: Session | None = None
    #: what a verb running in the pool asked of Tornado, replayed on the loop (``off_the_loop``)
    _body_model: type[Body] | None = None
    _body: Any = None
    _chunks: list[bytes] | None = None
    _received = 0
    #: why the caller was refused before the body was read; answered once it has been dropped
    _refusal: PodiumError | None = None

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

    async def prepare(self) -> None:
        """Before any of the body is read: refuse one announced too large, then authenticate
        the caller of a verb that needs a hub token."""
        self._chunks, self._received = [], 0
        limit = self.podium.max_request_body
        length = announced_length(self.request.headers.get("Content-Length"))
        if length is not None:
            check_length(length, limit)
        # Tornado's own cap counts a chunk's announced size before delivering a byte and answers a
        # bare 400; ours counts what arrives (``data_received``) and answers in JSON: give Tornado
        # room, so that it only stops chunks announcing far more than our cap
        self.request.connection.set_max_body_size(2 * limit)
        verb = getattr(type(self), (self.request.method or "").lower(), None)
        op = getattr(verb, "operation", None)
        if op is None or not op.auth:
            return
        try:
            await self.authenticate()
        except NotAuthenticated as refused:
            if self.request.headers.get("Expect", "").lower() == "100-continue":
                raise  # the client waits to send its body: refuse now
            self._refusal = refused

    def data_received(self, chunk: bytes) -> None:
        """Keep the body's bytes (drop them for a refused caller), refusing it once past
        ``max_request_body``: 413, or the caller's own refusal."""
        if self._finished:
            return
        self._received += len(chunk)
        try:
            check_length(self._received, self.podium.max_request_body)
        except PodiumError as e:
            self._chunks = []
            self._handle_request_exception(self._refusal or e)
            return
        if self._refusal is None:
            self._chunks.append(chunk)

    def on_finish(self) -> None:
        if self._session is not None:  # a handler that used the session outside a verb
            self._session.close()
            self._session = None

    # --- off the loop ----------------------------------------------------------------------

    def answer_on_loop(self, path: dict[str, Any]) -> bool:
        """Answer from memory on the loop, without the pool (no database call may happen here);
        True when answered. Handlers with a cache override it (the leaderboard)."""
        return False

    def run_verb(self, method: Callable, op: Operation, args: tuple, path: dict[str, Any]) -> None:
        """In a pool thread: the requirement's check, the verb, and the session's end (a rollback
        of what was not committed), so the connection goes back to the pool from here too."""
        try:
            self.check_requirement(op, path)
            run_without_awaiting(method(self, *args, **path))
        except self.commit_on:
            if self._session is not None:
                self._session.commit()
            raise
        finally:
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
        return decode_json(self.request.body)

    def query_arguments(self) -> dict[str, str]:
        return {k: self.get_query_argument(k) for k in self.request.query_arguments}

    # --- answers ---------------------------------------------------------------------------

    def write_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(obj, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        announce_close_if_body_unread(self)
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
            if self._finished:
                return
            self.send_error(e.status_code, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)

    # --- permissions -----------------------------------------------------------------------

    def check_requirement(self, op: Operation, path: dict[str, Any]) -> None:
        """Refuse the caller unless they meet ``op.requires``; for a requirement on the path, put
        the object in ``path`` in place of its reference."""
        requires = op.requires
        if requires == "queue token":
            self.token_queue = self.podium.worker_tokens.queue_for_token(
                self.db, token_from_header(self.request.headers.get("Authorization")))
        elif requires == "admin" and not self.user.admin:
            raise PermissionDenied(op.refusal or "Only hub admins may do this.")
        elif requires == "create" and not can_create_competitions(self.user, self.podium.creator_group):
            raise PermissionDenied(
                f"Only hub admins and members of the hub group '{self.podium.creator_group}' "
                "create competitions and upload their data and bundles."
            )
        elif requires == "create queues" and not queue_access.may_create_queues(self.user, self.podium.creator_group,
                                                                  self.podium.queue_organizer_group):
            raise PermissionDenied(op.refusal or "Only hub admins, organizers who may create competitions and members "
                                   "of the queue organizers' hub group create compute queues.")
        elif op.resource is not None:
            # the lookup refuses who may not see (404) or does not own the object; no roles come
            # back for an upload tied to no competition (which its creator alone has passed) or a queue
            obj, self.caller_roles = getattr(self, lookup_name(requires, op.resource))(path[op.resource])
            if self.caller_roles is not None and requires == "manage":
                self.caller_roles.require_manage()
            elif self.caller_roles is not None and requires == "participate":
                self.caller_roles.require_participant()
            path[op.resource] = obj

    # --- lookups ---------------------------------------------------------------------------

    def find_competition(self, ref: str) -> Competition:
        """By id or slug; 404 also when the caller may not see it (unpublished)."""
        ident = path_id(ref)
        competition = self.db.scalar(select(Competition).where(
            Competition.id == ident if ident is not None else Competition.slug == ref))
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
        ident = path_id(ref)
        obj = self.db.get(model, ident) if ident is not None else None
        if obj is None:
            raise NotFound(f"No such {label}: {ref}")
        return obj

    def visible_phase(self, ref: str) -> tuple[Phase, CompetitionRoles]:
        # one query for the phase, its competition and its leaderboard, which every phase
        # verb reads next (the leaderboard read is the hottest path: bench B2)
        ident = path_id(ref)
        phase = self.db.scalars(_PHASE_LOOKUP, {"ident": ident}).one_or_none() if ident is not None else None
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

    def visible_leaderboard(self, ref: str) -> tuple[Leaderboard, CompetitionRoles]:
        """A hidden leaderboard is seen by the organizers and admins alone; others get 404."""
        board = self.find_by_id(Leaderboard, ref, "leaderboard")
        roles = self.roles(board.competition)
        if not roles.can_view or (board.hidden and not roles.manages):
            raise NotFound(f"No such leaderboard: {ref}")
        return board, roles

    def visible_submission(self, ref: str) -> tuple[Submission, CompetitionRoles]:
        """The owner (their team's members, for a team's), the organizers and admins see a
        submission; others get 404. A member who left a team no longer sees its submissions.

        One query for the submission, its phase, the phase's competition (the permission check)
        and leaderboard (the answer's scores), instead of a lazy load each; the handler's
        ``lookup_options`` eager-load more for the verb at hand."""
        ident = path_id(ref)
        submission = self.db.scalars(_submission_lookup(self.lookup_options), {"ident": ident}
                                     ).unique().one_or_none() if ident is not None else None
        if submission is None:
            raise NotFound(f"No such submission: {ref}")
        roles = self.roles(submission.phase.competition)
        if not (roles.manages or (roles.can_view and self.sees_as_own(submission))):
            raise NotFound(f"No such submission: {ref}")
        return submission, roles

    def sees_as_own(self, submission: Submission) -> bool:
        """Whether the caller sees ``submission`` as their own: made alone by them, or their team's."""
        if submission.team_id is None:  # no query for a submission made alone
            return submission.owner == self.user.name
        who = competitors.competitor(self.db, submission.phase.competition_id, self.user)
        return competitors.sees(who, submission)

    def visible_dataset(self, ref: str) -> tuple[Artifact, CompetitionRoles | None]:
        """A competition's dataset or program, with the caller's roles there (404 to who may not
        see the competition). One not yet tied to a competition belongs to its creator alone
        (and admins): no roles, 404 to anyone else."""
        artifact = self.find_by_id(Artifact, ref, "dataset")
        if artifact.kind == ArtifactKind.submission:
            raise NotFound(f"No such dataset: {ref}")
        if artifact.competition_id is None:
            return self.created_by_caller(artifact, f"No such dataset: {ref}"), None
        roles = self.roles(self.db.get(Competition, artifact.competition_id))
        if not roles.can_view:
            raise NotFound(f"No such dataset: {ref}")
        return artifact, roles

    def usable_queue(self, ref: str) -> tuple[ComputeQueue, None]:
        return queue_access.usable_queue(self.db, self.user, ref), None

    def managed_queue(self, ref: str) -> tuple[ComputeQueue, None]:
        return queue_access.managed_queue(self.db, self.user, ref), None

    def own_submission(self, ref: str) -> tuple[Submission, CompetitionRoles]:
        """A submission its owner acts on: 404 to who may not see it, 403 to the organizers."""
        submission, roles = self.visible_submission(ref)
        if submission.owner != self.user.name:
            raise PermissionDenied(f"Only the participant who made submission {submission.id} may do this.")
        return submission, roles

    def own_dataset(self, ref: str) -> tuple[Artifact, None]:
        artifact = self.find_by_id(Artifact, ref, "dataset")
        if artifact.kind == ArtifactKind.submission:
            raise NotFound(f"No such dataset: {ref}")
        return self.created_by_caller(artifact, f"No such dataset: {ref}"), None

    def own_bundle(self, ref: str) -> tuple[Artifact, None]:
        artifact = self.find_by_id(Artifact, ref, "bundle")
        if artifact.kind != ArtifactKind.bundle:
            raise NotFound(f"No such bundle: {ref}")
        return self.created_by_caller(artifact, f"No such bundle: {ref}"), None

    def own_bundle_import(self, ref: str) -> tuple[BundleImport, None]:
        row = self.find_by_id(BundleImport, ref, "import")
        return self.created_by_caller(row, f"No such import: {ref}"), None

    def created_by_caller(self, obj: Any, not_found: str) -> Any:
        """Uploads and imports are their creator's and the admins'; others get 404 (not 403:
        whether an upload exists is the creator's business)."""
        if obj.created_by != self.user.name and not self.user.admin:
            raise NotFound(not_found)
        return obj


#: the ``RequestHandler`` methods that touch the connection or the answer being built: only the
#: loop's thread may call them, so a verb running in the pool has them recorded and replayed
LOOP_ONLY = ("set_status", "set_header", "add_header", "clear_header", "write", "finish", "flush",
             "redirect", "set_cookie", "clear_cookie", "send_error")


def _loop_only(name: str) -> Callable:
    tornado_method = getattr(RequestHandler, name)

    @functools.wraps(tornado_method)
    def method(self: LoopReplay, *args: Any, **kwargs: Any) -> Any:
        if self._deferred is not None and threading.get_ident() != self._loop_thread:
            self._deferred.append((tornado_method, args, kwargs))
            return None
        return tornado_method(self, *args, **kwargs)

    return method


for _name in LOOP_ONLY:
    setattr(LoopReplay, _name, _loop_only(_name))
