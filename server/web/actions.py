"""The forms' POST targets (each the API verb of the same name, see ``base.ActionMixin``) and the
login plumbing: the hub's OAuth callback, ``login?next=`` and ``logout``.
"""

from __future__ import annotations

from jupyterhub.services.auth import HubOAuthCallbackHandler
from tornado.web import RequestHandler, StaticFileHandler

from ..apihandlers.participants import DecisionHandler, RegisterHandler
from ..apihandlers.submissions import CancelHandler, RerunHandler
from .base import ActionMixin
from .security import PAGE_HEADERS, UnsafeRedirect, safe_next_path


class RegisterAction(ActionMixin, RegisterHandler):
    pass


class DecisionAction(ActionMixin, DecisionHandler):
    pass


class CancelAction(ActionMixin, CancelHandler):
    pass


class RerunAction(ActionMixin, RerunHandler):
    pass


class OAuthCallback(HubOAuthCallbackHandler):
    """The hub sends the browser back here with a code; JupyterHub's handler swaps it for a token
    and sets the cookie. Its final redirect goes only to this service's own pages."""

    @property
    def hub_auth(self):  # type: ignore[override]
        return self.settings["podium"].hub_oauth

    def set_default_headers(self) -> None:
        for name, value in PAGE_HEADERS.items():
            self.set_header(name, value)

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        base = self.settings["podium"].base_url
        try:
            target = safe_next_path(url, base)
        except UnsafeRedirect:
            target = base
        super().redirect(target, permanent, status)


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
        hub_oauth = self.settings["podium"].hub_oauth
        hub_oauth.clear_cookie(self)
        self.redirect(hub_oauth.hub_prefix + "logout")


class StaticHandler(StaticFileHandler):
    """The pages' CSS and JavaScript (scripts come only from here: the CSP allows no others)."""

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "max-age=3600")
