"""The tool's endpoints an LMS calls: OIDC login initiation, the launch (resource link and deep
linking), the deep-linking choice, the JWKS; and the API verb that sends a phase's grades.

The launch pages are framed by the LMS, so they allow any frame ancestor; they run no script
but the deep-linking answer's one-line auto-submit, allowed by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any

from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException, OIDCException
from sqlalchemy import select
from tornado.web import RequestHandler

from ..apihandlers.base import APIHandler, LoopReplay, api
from ..apihandlers.classroom import ClassRoster
from ..errors import LtiLaunchRefused, PermissionDenied, PodiumError
from ..orm import Competition, Phase
from . import grades, launches
from .adapters import DatabaseLaunchStorage, TornadoMessageLaunch, TornadoOIDCLogin, TornadoRequest
from .tool import jwks, tool_config

AUTO_SUBMIT = "document.forms[0].submit();"
AUTO_SUBMIT_HASH = base64.b64encode(hashlib.sha256(AUTO_SUBMIT.encode()).digest()).decode()


class LtiHandler(LoopReplay, RequestHandler):
    """Base of the LMS-facing endpoints: errors as a short page that says what failed. Their work
    (the database's launch state, the platform's key set over HTTP) runs off the event loop."""

    csp = "default-src 'none'; style-src 'self'; form-action *; frame-ancestors *"

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Content-Security-Policy", self.csp)

    def check_xsrf_cookie(self) -> None:
        """The LMS posts here cross-site; the signed id_token, state and nonce stand for XSRF."""

    @property
    def podium(self) -> Any:
        return self.settings["podium"]

    @property
    def storage(self) -> DatabaseLaunchStorage:
        return DatabaseLaunchStorage(self.podium.session_factory)

    @property
    def launch_url(self) -> str:
        return self.podium.public_url + "lti/launch"

    def write_page(self, title: str, body: str, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
                    f" · Podium</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = exc.message if isinstance(exc, PodiumError) else "Something went wrong on the server; it has been logged."
        self.write_page("LTI launch refused" if status_code < 500 else "Error",
                        f'<p id="error-message">{html.escape(message)}</p>', status_code)

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, PodiumError) and not self._finished:
            self.send_error(e.status_code, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


class LoginInitiationHandler(LtiHandler):
    """Step 1 of the launch (OIDC third-party login): remember a state and a nonce, send the
    browser to the platform's authorization endpoint."""

    def _login(self) -> None:
        request = TornadoRequest(self)
        login = TornadoOIDCLogin(request, tool_config(self.podium), self.storage)
        try:
            redirect = login.get_redirect_object(self.launch_url)
        except (OIDCException, LtiException) as e:
            raise LtiLaunchRefused(f"This LTI login cannot start: {e}") from e
        self.redirect(redirect.get_redirect_url())

    async def get(self) -> None:
        await self.off_the_loop(self._login)

    async def post(self) -> None:
        await self.off_the_loop(self._login)


class LaunchHandler(LtiHandler):
    """Step 2: the platform posts the signed id_token. pylti1p3 checks the state, the signature
    against the platform's JWKS, issuer, audience, expiry, deployment and message; the nonce is
    used up. A resource link records the user and the course link and opens the competition; a
    deep-linking request lets an instructor choose the competition to link."""

    async def post(self) -> None:
        await self.off_the_loop(self._launch)

    def _launch(self) -> None:
        request = TornadoRequest(self, {k: self.get_body_argument(k, None) for k in ("id_token", "state")})
        launch = TornadoMessageLaunch(request, tool_config(self.podium), self.storage)
        try:
            data = launch.get_launch_data()
        except LtiException as e:
            raise LtiLaunchRefused(f"The LTI launch does not verify: {e}") from e
        if launch.is_deep_link_launch():
            self._choose(launch, data)
            return
        if not launch.is_resource_launch():
            raise LtiLaunchRefused("Podium answers resource link and deep linking launches only.")
        with self.podium.session_factory() as session:
            username = launches.hub_username(data, self.podium.lti_username_claim)
            competition = launches.competition_of(session, data)
            launches.remember_user(session, data, username)
            launches.remember_link(session, data, competition)
            session.commit()
            slug = competition.slug
        self.redirect(self.podium.base_url + f"competitions/{slug}")

    def _choose(self, launch: TornadoMessageLaunch, data: dict) -> None:
        if not (launch.check_teacher_access() or launch.check_staff_access() or launch.check_designer_access()):
            raise PermissionDenied("Only the course's instructors choose the competition a link opens.")
        with self.podium.session_factory() as session:
            competitions = list(session.scalars(select(Competition).where(Competition.published.is_(True))
                                                .order_by(Competition.title)))
            rows = "".join(
                f'<form method="post" action="{html.escape(self.podium.base_url)}lti/deep-link">'
                f'<input type="hidden" name="launch_id" value="{html.escape(launch.get_launch_id())}">'
                f'<input type="hidden" name="competition" value="{html.escape(c.slug)}">'
                f'<button type="submit" id="link-{html.escape(c.slug)}">{html.escape(c.title)}</button></form>'
                for c in competitions)
        self.write_page("Link a Podium competition", rows or "<p>No competition is published yet.</p>")


class DeepLinkHandler(LtiHandler):
    """The instructor's choice: a signed LtiDeepLinkingResponse with a resource link to the
    competition (its slug as the custom parameter ``competition``), posted back to the LMS."""

    csp = f"default-src 'none'; script-src 'sha256-{AUTO_SUBMIT_HASH}'; form-action *; frame-ancestors *"

    async def post(self) -> None:
        await self.off_the_loop(self._link)

    def _link(self) -> None:
        request = TornadoRequest(self)
        launch = restore(request, self.podium, self.storage, self.get_body_argument("launch_id", ""))
        slug = self.get_body_argument("competition", "")
        with self.podium.session_factory() as session:
            competition = session.scalar(select(Competition).where(Competition.slug == slug,
                                                                  Competition.published.is_(True)))
            if competition is None:
                raise LtiLaunchRefused(f"No published competition '{slug}' to link.")
            title = competition.title
        deep_link = launch.get_deep_link()
        resource = (DeepLinkResource().set_url(self.launch_url).set_title(title)
                    .set_custom_params({"competition": slug}))
        token = deep_link.get_response_jwt([resource])
        target = deep_link._deep_link_settings["deep_link_return_url"]
        self.write_page("Linking the competition", (
            f'<form method="post" action="{html.escape(target)}">'
            f'<input type="hidden" name="JWT" value="{html.escape(token)}">'
            f'<button type="submit">Return to the course</button></form><script>{AUTO_SUBMIT}</script>'))


def restore(request: TornadoRequest, podium: Any, storage: DatabaseLaunchStorage, launch_id: str) -> TornadoMessageLaunch:
    """A deep-linking launch kept by its validation, found again by its id."""
    launch = TornadoMessageLaunch(request, tool_config(podium), storage)
    data = launch.get_session_service().get_launch_data(launch_id) if launch_id else None
    if not data:
        raise LtiLaunchRefused("This deep-linking launch is unknown or expired; open the link dialog again.")
    try:
        return (launch.set_launch_id(launch_id).set_auto_validation(enable=False)
                .set_jwt({"body": data}).set_restored().validate_registration())
    except LtiException as e:
        raise LtiLaunchRefused(f"The LTI launch does not verify: {e}") from e


class JwksHandler(LtiHandler):
    """The tool's public key set: platforms check the tool's signed messages with it."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(jwks(self.podium)))


class PhaseGradesHandler(ClassRoster, APIHandler):
    @api("Send the phase's grades to the gradebook of every course that links the competition "
         "(LTI Assignment and Grade Services): one line item per phase, one score per student who "
         "launched it from the course. Sending again replaces the scores (organizers).",
         requires="manage", responses={409: "No course links the competition yet.",
                                       502: "The LMS refused the grades; its answer is quoted."})
    async def post(self, phase: Phase) -> None:
        podium, phase_id = self.podium, phase.id
        roster, teams = self.roster(phase), self.teams(phase)  # the class's hub groups, as the grade export

        def send() -> dict:
            with podium.session_factory() as session:
                return grades.send_phase_grades(session, podium, session.get(Phase, phase_id), roster=roster,
                                                teams=teams)

        self.write_json(send())  # a verb runs in the database pool: blocking HTTP to the LMS is fine here


default_handlers = [
    ("/lti/login", LoginInitiationHandler),
    ("/lti/launch", LaunchHandler),
    ("/lti/deep-link", DeepLinkHandler),
    ("/lti/jwks", JwksHandler),
]
