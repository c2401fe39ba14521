"""What turns an API handler into a web page: the hub login cookie, HTML rendering, XSRF on forms.

A page does not re-implement what the API does: ``PageMixin`` goes in front of an API handler
class (``class LeaderboardPage(PageMixin, PhaseLeaderboardHandler)``), so the page runs the very
same verb (lookups, permission checks, domain calls) and only changes three things:

* who is calling: the user's login cookie (``login.HubLogin``, the hub's OAuth) instead of an
  ``Authorization`` header, with a redirect through the hub's login for pages and a 403 for
  forms without the login's XSRF token (``security.form_token``);
* what comes out: ``write_json(model)`` renders the page's template with the model, and errors
  become an HTML error page with the same message the API would give;
* the headers: a strict content security policy on every answer.

``ActionMixin`` does the same for the POST forms (approve, re-run, cancel, register): the
form's fields become the body the API verb reads, and its answer becomes a redirect back to the
page the form was on.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tornado.web import Finish, HTTPError, RequestHandler

from ..auth.identity import Identity
from ..errors import NotAuthenticated, PodiumError, StorageError, UnsafeRedirect
from .content import render_page_content
from .security import PAGE_HEADERS, check_form_token, form_token, safe_next_path

if TYPE_CHECKING:
    import jinja2

    from .login import HubLogin

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"



@functools.cache
def templates() -> jinja2.Environment:
    """The page templates, loaded on the first page rendered: jinja2 is imported only then, so a
    service answering the API alone stays small (bench B7)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["page_content"] = render_page_content
    env.filters["when"] = lambda value: (value or "").replace("T", " ").removesuffix("Z")[:16] or "—"
    return env


def write_error_page(handler: RequestHandler, status_code: int, exc_info: Any, user: Identity | None) -> None:
    """The HTML error page: a PodiumError's message, an HTTPError's below 500, else a generic one.

    A storage refusal behind a page (a file gone missing) shows only its status's reason, as it did
    before storage errors joined the PodiumError tree (that move was not to change any page)."""
    exc = (exc_info or (None, None, None))[1]
    if isinstance(exc, PodiumError) and not isinstance(exc, StorageError):
        message = exc.message
    elif isinstance(exc, HTTPError) and exc.log_message and status_code < 500:
        message = exc.log_message % exc.args if exc.args else exc.log_message
    elif status_code >= 500:
        message = "Something went wrong on the server; it has been logged."
    else:
        message = handler._reason
    page = templates().get_template("error.html").render(
        base=handler.settings["podium"].base_url, user=user, status=status_code,
        reason=handler._reason, message=message,
    )
    handler.finish(page)


class PageMixin:
    """Put before an ``APIHandler`` subclass; set ``template``."""

    template = ""
    answers_json = False  # answers go through write_json, rendered as HTML
    # a form's XSRF token is in its body, read before the login is checked: pages read their
    # (small) bodies whole, within the server's cap (``PodiumService.max_request_body``)
    _stream_request_body = False
    _login_token: str | None = None

    @property
    def hub_login(self) -> HubLogin:
        return self.settings["podium"].hub_login

    @property
    def xsrf_token(self) -> bytes:  # what tornado's xsrf_form_html puts in every form
        return form_token(self.settings["cookie_secret"], self._login_token or "").encode()

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        for name, value in PAGE_HEADERS.items():
            self.set_header(name, value)

    # --- who is calling --------------------------------------------------------------------

    async def authenticate(self) -> Identity:
        """The user of the login cookie; forms must also carry the login's XSRF token."""
        token = self._login_token = self.hub_login.token(self)
        if self.request.method not in ("GET", "HEAD"):
            headers = self.request.headers
            sent = self.get_argument("_xsrf", None) or headers.get("X-Xsrftoken") or headers.get("X-Csrftoken")
            check_form_token(sent, self.xsrf_token.decode(), self.request.method)
        if token is None:
            self._login()
        try:
            self.identity = await self.podium.authenticator.identify(token)
        except NotAuthenticated:
            self.hub_login.clear(self)  # expired or revoked on the hub: log in again
            self._login()
        self.current_user = {"name": self.identity.name, "kind": "user"}
        return self.identity

    def _login(self) -> None:
        if self.request.method in ("GET", "HEAD"):
            self.redirect(self.hub_login.login_url(self))
            raise Finish()
        raise NotAuthenticated("Your login has expired; reload the page and try again.")

    # --- what comes out --------------------------------------------------------------------

    def render_page(self, template: str, status: int = 200, **context: Any) -> None:
        self.set_status(status)
        page = templates().get_template(template).render(
            base=self.podium.base_url,
            user=self.identity,
            xsrf_form_html=self.xsrf_form_html,
            **context,
        )
        self.finish(page)

    def write_json(self, obj: Any, status: int = 200) -> None:
        self.render_page(self.template, status, data=obj, **self.page_context(obj))

    def page_context(self, data: Any) -> dict[str, Any]:
        """Extra names a template needs beyond the API's answer (titles of related objects)."""
        return {}

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_default_headers()
        self.set_status(status_code)
        write_error_page(self, status_code, kwargs.get("exc_info"), self.identity)

    def next_path(self, default: str) -> str:
        """The ``next`` form field if it is one of this service's pages, else ``default``."""
        try:
            return safe_next_path(self.get_body_argument("next", None), self.podium.base_url)
        except UnsafeRedirect:
            return default


class ActionMixin(PageMixin):
    """Put before an API handler whose POST a form on a page calls."""

    def json_body(self) -> Any:
        return {
            k: self.get_body_argument(k)
            for k in self.request.body_arguments
            if k not in ("_xsrf", "next")
        }

    def write_json(self, obj: Any, status: int = 200) -> None:
        self.redirect(self.next_path(self.podium.base_url), status=303)
