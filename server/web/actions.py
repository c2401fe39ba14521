"""The forms' POST targets (each the API verb of the same name, see ``base.ActionMixin``) and the
login plumbing: the hub's OAuth callback, ``login?next=`` and ``logout``.
"""

from __future__ import annotations

from typing import Any

from tornado.web import RequestHandler, StaticFileHandler

from ..apihandlers.participants import DecisionHandler, RegisterHandler
from ..apihandlers.submissions import CancelHandler, RerunHandler
from ..apihandlers.teams import InvitationAnswerHandler
from ..errors import UnsafeRedirect
from .base import ActionMixin, write_error_page
from .security import PAGE_HEADERS, safe_next_path


class RegisterAction(ActionMixin, RegisterHandler):
    pass


class DecisionAction(ActionMixin, DecisionHandler):
    pass


class CancelAction(ActionMixin, CancelHandler):
    pass


class RerunAction(ActionMixin, RerunHandler):
    pass


class InvitationAnswerAction(ActionMixin, InvitationAnswerHandler):
    pass


class OAuthCallback(RequestHandler):
    """The hub sends the browser back here with a code; ``HubLogin.finish`` swaps it for a token
    and sets the login cookie. The redirect that follows goes only to this service's own pages;
    a refused login (a state that matches no login this browser started, an error from the hub)
    is an error page that says why."""

    def set_default_headers(self) -> None:
        for name, value in PAGE_HEADERS.items():
            self.set_header(name, value)

    async def get(self) -> None:
        podium = self.settings["podium"]
        next_url = await podium.hub_login.finish(self)
        try:
            target = safe_next_path(next_url, podium.base_url)
        except UnsafeRedirect:
            target = podium.base_url
        self.redirect(target)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        write_error_page(self, status_code, kwargs.get("exc_info"), None)


class LoginHandler(RequestHandler):
    """``login?next=<path>``: where links from notebooks and the hub send people. The page at
    ``next`` itself starts the hub's OAuth login when needed; ``next`` must be one of this
    service's paths, anything else is refused (no open redirect)."""

    def set_default_headers(self) -> None:
        for name, value in PAGE_HEADERS.items():
            self.set_header(name, value)

    def get(self) -> None:
        base = self.settings["podium"].base_url
        try:
            target = safe_next_path(self.get_query_argument("next", None), base)
        except UnsafeRedirect as e:
            self.set_status(400)
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            self.finish(e.message)
            return
        self.redirect(target)


class LogoutHandler(RequestHandler):
    """Forget this service's login, then log out of the hub too."""

    def set_default_headers(self) -> None:
        for name, value in PAGE_HEADERS.items():
            self.set_header(name, value)

    def get(self) -> None:
        hub_login = self.settings["podium"].hub_login
        hub_login.clear(self)
        self.redirect(hub_login.hub_prefix + "logout")


class StaticHandler(StaticFileHandler):
    """The pages' CSS and JavaScript (scripts come only from here: the CSP allows no others)."""

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "max-age=3600")
