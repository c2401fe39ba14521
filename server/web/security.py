"""The web pages' security rules in one place: content security policies, same-origin redirects,
the cookie secret, and the HubOAuth client that logs browsers in through the hub.

Why here and not in the handlers: each rule is a single decision that several handlers share,
and the tests check them one by one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from jupyterhub.services.auth import HubOAuth

from ..errors import ValidationFailed

if TYPE_CHECKING:
    from ..app import PodiumService

# Every HTML page: scripts and styles only from this service's own files (no inline code, so an
# injected <script> or onclick= never runs), frames only from here, framed only by here.
PAGE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https:",
        "frame-src 'self'",
        "frame-ancestors 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)

# A scoring program's detailed_results.html: its scripts may run (plots), but in a sandbox
# without allow-same-origin the document gets an opaque origin, so it can read no cookie and
# call no API as the user; it loads nothing from the network either.
DETAILED_RESULTS_CSP = "; ".join(
    [
        "sandbox allow-scripts",
        "default-src 'none'",
        "script-src 'unsafe-inline'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "frame-ancestors 'self'",
    ]
)

PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
}


class UnsafeRedirect(ValidationFailed):
    """A ``next`` URL that would leave this service (another host, a scheme, a trick)."""

    def __init__(self, target: str) -> None:
        super().__init__(
            f"Refusing to redirect to {target!r}: after login Podium only goes to its own pages.",
            [{"location": "next", "message": "must be a path on this service"}],
        )


def safe_next_path(target: str | None, base_url: str) -> str:
    """``target`` if it is a path under ``base_url`` on this origin, else UnsafeRedirect.

    Browsers treat ``//host``, ``/\\host`` and paths with tabs or newlines (which they strip) as
    other hosts, so anything with a backslash or a control character is refused outright, as is
    anything with a scheme or a host.
    """
    if not target:
        return base_url
    if "\\" in target or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in target):
        raise UnsafeRedirect(target)
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        raise UnsafeRedirect(target)
    if not (target.startswith(base_url) or target == base_url.rstrip("/")):
        raise UnsafeRedirect(target)
    return target


def cookie_secret(secret_key: str) -> bytes:
    """Tornado's cookie secret, derived from the service's secret key so every replica agrees
    but a leaked cookie key does not reveal the key that signs storage URLs."""
    return hmac.new(secret_key.encode(), b"podium-web-cookies", hashlib.sha256).digest()


def make_hub_oauth(app: PodiumService) -> HubOAuth:
    """The OAuth client the hub registered for this service (``service-<name>``, redirect
    ``<prefix>oauth_callback``), built from the service's settings so that a service started by
    hand or in a test thread logs users in exactly like one the hub started."""
    settings = {
        "api_url": app.hub_api_url,
        "base_url": app.base_url,
        "cache_max_age": app.auth_cache_max_age,
        "access_scopes": {f"access:services!service={app.service_name}"},
        "oauth_client_id": os.environ.get("JUPYTERHUB_CLIENT_ID") or f"service-{app.service_name}",
        "oauth_redirect_uri": os.environ.get("JUPYTERHUB_OAUTH_CALLBACK_URL")
        or app.base_url.rstrip("/") + "/oauth_callback",
    }
    if app.hub_api_token:  # HubOAuth refuses an empty token; without one no login can finish
        settings["api_token"] = app.hub_api_token
    return HubOAuth(**settings)
