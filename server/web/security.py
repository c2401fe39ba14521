"""The web pages' security rules in one place: content security policies, same-origin redirects,
the cookie secret, and the forms' XSRF tokens (the hub's OAuth login itself is ``login.py``).

Why here and not in the handlers: each rule is a single decision that several handlers share,
and the tests check them one by one.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from tornado.web import HTTPError

from ..errors import UnsafeRedirect

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


def form_token(secret: bytes, login_token: str) -> str:
    """The XSRF token of a login's forms: a MAC of the login's hub token, so it is bound to that
    login (another user's token is worthless), needs no cookie of its own, and every replica
    computes the same one. The page can show it: the MAC does not reveal the hub token."""
    return hmac.new(secret, b"podium-xsrf:" + login_token.encode(), hashlib.sha256).hexdigest()


def check_form_token(sent: str | None, expected: str, method: str) -> None:
    """403 unless a form (or an ``X-XSRFToken`` header) sent the login's token; JupyterHub's
    messages, so people see what they saw before."""
    if not sent:
        raise HTTPError(403, "'_xsrf' argument missing from %s", method)
    if not hmac.compare_digest(sent.encode("utf8", "replace"), expected.encode()):
        raise HTTPError(403, "XSRF cookie does not match %s argument", method.upper())
