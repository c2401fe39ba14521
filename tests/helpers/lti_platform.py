"""A small LTI 1.3 platform (an LMS's side) for the tests, which verifies what a real one does.

There is no LMS on this machine. This Tornado app plays Canvas or Moodle toward Podium, following
the IMS specs (LTI 1.3 Core, Security Framework 1.0, Deep Linking 2.0, AGS 2.0):

- its RSA key signs the id_tokens; its public half is served at ``/jwks``;
- ``/authorize`` is the OIDC authorization endpoint: it checks the tool's client id, that the
  ``redirect_uri`` is the registered launch URL, ``response_type=id_token``, ``scope=openid``,
  ``response_mode=form_post``, ``prompt=none``, a nonce and a state, and the login hint it gave;
  it answers with the auto-post form of a signed id_token (the test plays the browser);
- ``/token`` is the OAuth 2 client-credentials endpoint: the client assertion must be a JWT
  signed by a key of the tool's JWKS (fetched from the tool), with iss = sub = client id,
  aud = this token URL, unexpired, with a jti never seen before; the scopes must be AGS scopes;
- the AGS endpoints (line items, scores) need a bearer token with the right scope and the
  right media types; a score replaces the user's previous one on that line item unless it is
  older (its timestamp), so ``gradebook`` holds one score per (line item, user);
- ``/deep_link_return`` checks the tool's signed LtiDeepLinkingResponse (signature against the
  tool's JWKS, iss = client id, aud = issuer, nonce, expiry, deployment) and keeps its links.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
import tornado.httpserver
import tornado.netutil
import tornado.web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/"
AGS_SCOPES = {AGS + "scope/lineitem", AGS + "scope/lineitem.readonly", AGS + "scope/score",
              AGS + "scope/result.readonly"}
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Refused(tornado.web.HTTPError):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.why = reason


class Base(tornado.web.RequestHandler):
    @property
    def platform(self) -> LtiPlatform:
        return self.settings["platform"]

    def check_xsrf_cookie(self) -> None:
        pass

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        why = getattr(exc, "why", self._reason)
        self.platform.refusals.append(why)
        self.finish({"error": why})

    def bearer(self, *accepted: str) -> None:
        """The request's access token must be live and carry one of ``accepted`` scopes."""
        header = self.request.headers.get("Authorization", "")
        grant = self.platform.tokens.get(header.removeprefix("Bearer ").strip()) if header.startswith("Bearer ") else None
        if grant is None or grant["expires"] < time.time():
            raise Refused(401, "invalid or expired access token")
        if not set(accepted) & set(grant["scopes"]):
            raise Refused(403, f"access token lacks scope {' or '.join(accepted)}")

    def media(self, expected: str) -> dict:
        if self.request.headers.get("Content-Type", "").split(";")[0].strip() != expected:
            raise Refused(415, f"expected Content-Type {expected}")
        return json.loads(self.request.body)


class JwksHandler(Base):
    def get(self) -> None:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.platform.key.public_key()))
        self.finish({"keys": [{**jwk, "kid": self.platform.kid, "alg": "RS256", "use": "sig"}]})


class AuthorizeHandler(Base):
    """The OIDC authorization endpoint (form_post of a signed id_token)."""

    def get(self) -> None:
        p = self.platform
        arg = lambda name: self.get_argument(name, None)  # noqa: E731
        checks = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post",
                  "prompt": "none", "client_id": p.client_id, "redirect_uri": p.tool_launch_url}
        for name, wanted in checks.items():
            if arg(name) != wanted:
                raise Refused(400, f"{name} must be {wanted!r}, got {arg(name)!r}")
        if not arg("nonce") or not arg("state"):
            raise Refused(400, "nonce and state are required")
        pending = p.pending.pop(arg("lti_message_hint") or "", None)
        if pending is None or pending["sub"] != arg("login_hint"):
            raise Refused(400, "unknown login hint")
        claims = {**pending, "iss": p.issuer, "aud": p.client_id, "azp": p.client_id, "nonce": arg("nonce"),
                  "iat": int(time.time()), "exp": int(time.time()) + 300}
        token = p.sign(claims)
        self.finish(f'<form method="post" action="{html.escape(arg("redirect_uri"))}">'
                    f'<input type="hidden" name="id_token" value="{token}">'
                    f'<input type="hidden" name="state" value="{html.escape(arg("state"))}"></form>')


class TokenHandler(Base):
    """OAuth 2 client credentials with a JWT client assertion (RFC 7523), as the LTI Security
    Framework requires."""

    def post(self) -> None:
        p = self.platform
        if self.get_body_argument("grant_type", None) != "client_credentials":
            raise Refused(400, "unsupported_grant_type")
        if self.get_body_argument("client_assertion_type", None) != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            raise Refused(400, "invalid client_assertion_type")
        claims = p.verify_tool_jwt(self.get_body_argument("client_assertion", ""), audience=p.token_url)
        if claims.get("iss") != p.client_id or claims.get("sub") != p.client_id:
            raise Refused(401, "invalid_client: iss and sub must be the client id")
        if not claims.get("jti") or claims["jti"] in p.seen_jtis:
            raise Refused(401, "invalid_client: client assertion replayed (jti)")
        p.seen_jtis.add(claims["jti"])
        scopes = self.get_body_argument("scope", "").split()
        if not scopes or not set(scopes) <= AGS_SCOPES & set(p.granted_scopes):
            raise Refused(400, f"invalid_scope: {scopes}")
        token = secrets.token_urlsafe(24)
        p.tokens[token] = {"scopes": scopes, "expires": time.time() + 3600}
        self.finish({"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": " ".join(scopes)})


class LineItemsHandler(Base):
    def get(self, context: str) -> None:
        self.bearer(AGS + "scope/lineitem", AGS + "scope/lineitem.readonly")
        items = list(self.platform.lineitems.get(context, {}).values())
        for name, key in (("tag", "tag"), ("resource_id", "resourceId"), ("resource_link_id", "resourceLinkId")):
            wanted = self.get_argument(name, None)
            if wanted is not None:
                items = [i for i in items if i.get(key) == wanted]
        self.set_header("Content-Type", "application/vnd.ims.lis.v2.lineitemcontainer+json")
        self.finish(json.dumps(items))

    def post(self, context: str) -> None:
        self.bearer(AGS + "scope/lineitem")
        body = self.media("application/vnd.ims.lis.v2.lineitem+json")
        if not body.get("label") or not isinstance(body.get("scoreMaximum"), (int, float)) or body["scoreMaximum"] <= 0:
            raise Refused(400, "a line item needs a label and a scoreMaximum > 0")
        items = self.platform.lineitems.setdefault(context, {})
        item_id = f"{self.platform.issuer}/contexts/{context}/lineitems/{len(items) + 1}"
        items[item_id] = {**body, "id": item_id}
        self.set_status(201)
        self.set_header("Content-Type", "application/vnd.ims.lis.v2.lineitem+json")
        self.finish(json.dumps(items[item_id]))


class ScoresHandler(Base):
    def post(self, context: str, number: str) -> None:
        self.bearer(AGS + "scope/score")
        item_id = f"{self.platform.issuer}/contexts/{context}/lineitems/{number}"
        if item_id not in self.platform.lineitems.get(context, {}):
            raise Refused(404, "no such line item")
        score = self.media("application/vnd.ims.lis.v1.score+json")
        missing = [k for k in ("userId", "activityProgress", "gradingProgress", "timestamp") if k not in score]
        if missing or ("scoreGiven" in score and "scoreMaximum" not in score):
            raise Refused(400, f"score lacks {missing or ['scoreMaximum']}")
        self.platform.score_posts.append((item_id, score))
        key = (item_id, score["userId"])
        held = self.platform.gradebook.get(key)
        if held is None or held["timestamp"] < score["timestamp"]:
            self.platform.gradebook[key] = score
        self.set_status(204)
        self.finish()


class DeepLinkReturnHandler(Base):
    def post(self) -> None:
        p = self.platform
        claims = p.verify_tool_jwt(self.get_body_argument("JWT", ""), audience=p.issuer)
        if claims.get("iss") != p.client_id:
            raise Refused(400, "the response's iss must be the client id")
        if claims.get(LTI + "message_type") != "LtiDeepLinkingResponse" or claims.get(LTI + "version") != "1.3.0":
            raise Refused(400, "not an LTI 1.3 LtiDeepLinkingResponse")
        if claims.get(LTI + "deployment_id") != p.deployment_id:
            raise Refused(400, "wrong deployment id")
        if not claims.get("nonce") or claims["nonce"] in p.seen_nonces:
            raise Refused(400, "missing or replayed nonce")
        p.seen_nonces.add(claims["nonce"])
        p.deep_links.extend(claims.get("https://purl.imsglobal.org/spec/lti-dl/claim/content_items") or [])
        self.finish({"ok": True})


class LtiPlatform:
    """The platform on a free loopback port, in a thread with its own event loop."""

    def __init__(self, tool_url: str, tool_public_url: str) -> None:
        self.key, self.kid = new_key(), "platform-key-1"
        self.client_id, self.deployment_id = f"podium-{uuid.uuid4().hex[:6]}", "deployment-1"
        self.tool_jwks_url = tool_url + "lti/jwks"
        self.tool_login_url = tool_url + "lti/login"
        self.tool_launch_url = tool_public_url + "lti/launch"
        self.granted_scopes = sorted(AGS_SCOPES)
        #: the tool's keys as registered by hand (some LMSs take a key, not a JWKS URL); None: fetch
        self.pinned_tool_keys: list[dict] | None = None
        self.pending: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.seen_jtis: set[str] = set()
        self.seen_nonces: set[str] = set()
        self.lineitems: dict[str, dict[str, dict]] = {}
        self.gradebook: dict[tuple[str, str], dict] = {}
        self.score_posts: list[tuple[str, dict]] = []
        self.deep_links: list[dict] = []
        self.refusals: list[str] = []
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.token_url = self.issuer + "/token"
        self._sockets = sockets
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="lti-platform")

    def _run(self) -> None:
        async def serve() -> None:
            app = tornado.web.Application([
                (r"/jwks", JwksHandler), (r"/authorize", AuthorizeHandler), (r"/token", TokenHandler),
                (r"/contexts/([^/]+)/lineitems", LineItemsHandler),
                (r"/contexts/([^/]+)/lineitems/(\d+)/scores", ScoresHandler),
                (r"/deep_link_return", DeepLinkReturnHandler),
            ], platform=self)
            self._server = tornado.httpserver.HTTPServer(app)
            self._server.add_sockets(self._sockets)
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()
            self._server.stop()

        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(serve())

    def start(self) -> LtiPlatform:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    # -- the registration, as an admin types it into Podium's configuration -------------------
    def registration(self) -> dict[str, Any]:
        return {self.issuer: {"client_id": self.client_id, "auth_login_url": self.issuer + "/authorize",
                              "auth_token_url": self.token_url, "key_set_url": self.issuer + "/jwks",
                              "deployment_ids": [self.deployment_id]}}

    # -- signing and verifying ----------------------------------------------------------------
    def sign(self, claims: dict, key: rsa.RSAPrivateKey | None = None, kid: str | None = None) -> str:
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def verify_tool_jwt(self, token: str, *, audience: str) -> dict:
        """Check a JWT of the tool against the tool's published JWKS, as a platform does."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            keys = self.pinned_tool_keys or requests.get(self.tool_jwks_url, timeout=10).json()["keys"]
            jwk = next((k for k in keys if k.get("kid") == kid), None)
            if jwk is None:
                raise Refused(401, f"no key {kid} in the tool's JWKS")
            return jwt.decode(token, RSAAlgorithm.from_jwk(json.dumps(jwk)), algorithms=["RS256"], audience=audience)
        except jwt.InvalidTokenError as e:
            raise Refused(401, f"invalid tool JWT: {e}") from e

    # -- what the LMS does when someone clicks the link ---------------------------------------
    def claims(self, *, sub: str, email: str, roles: list[str], context: str = "course-1",
               resource_link: str = "link-1", custom: dict | None = None, deep_link: bool = False) -> dict:
        claims: dict[str, Any] = {
            "sub": sub, "email": email, "name": email,
            LTI + "version": "1.3.0", LTI + "deployment_id": self.deployment_id,
            LTI + "roles": roles, LTI + "context": {"id": context, "title": f"Course {context}"},
            LTI + "target_link_uri": self.tool_launch_url,
            AGS + "claim/endpoint": {"scope": self.granted_scopes,
                                     "lineitems": f"{self.issuer}/contexts/{context}/lineitems"},
        }
        if deep_link:
            claims[LTI + "message_type"] = "LtiDeepLinkingRequest"
            claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = {
                "deep_link_return_url": self.issuer + "/deep_link_return",
                "accept_types": ["ltiResourceLink"], "accept_presentation_document_targets": ["iframe", "window"]}
        else:
            claims[LTI + "message_type"] = "LtiResourceLinkRequest"
            claims[LTI + "resource_link"] = {"id": resource_link, "title": "The competition"}
        if custom:
            claims[LTI + "custom"] = custom
        return claims

    def start_launch(self, browser: requests.Session, claims: dict) -> requests.Response:
        """The browser follows the course's link: login initiation at the tool, which sends it here."""
        hint = uuid.uuid4().hex
        self.pending[hint] = claims
        query = urlencode({"iss": self.issuer, "login_hint": claims["sub"], "target_link_uri": self.tool_launch_url,
                           "lti_message_hint": hint, "client_id": self.client_id,
                           "lti_deployment_id": self.deployment_id})
        return browser.get(f"{self.tool_login_url}?{query}", allow_redirects=False, timeout=30)

    def authorize(self, browser: requests.Session, login: requests.Response) -> dict[str, str]:
        """Follow the tool's redirect to the authorization endpoint; the form it answers."""
        assert login.status_code == 302, (login.status_code, login.text)
        answer = browser.get(login.headers["Location"], timeout=30)
        assert answer.status_code == 200, answer.text
        return dict(re.findall(r'name="(\w+)" value="([^"]*)"', answer.text))

    def launch(self, browser: requests.Session, claims: dict, tamper=None) -> requests.Response:
        """The whole launch, optionally changing the form (id_token, state) before it is posted."""
        form = self.authorize(browser, self.start_launch(browser, claims))
        if tamper is not None:
            form = tamper(form)
        return browser.post(self.tool_launch_url_direct, data=form, allow_redirects=False, timeout=30)

    @property
    def tool_launch_url_direct(self) -> str:
        return self.tool_login_url.removesuffix("login") + "launch"

    def private_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


@contextmanager
def registered(service: Any, key_file: Path) -> Iterator[LtiPlatform]:
    """A platform registered in the running service (its LTI traits set meanwhile, restored after):
    LMS users are mapped to hub users by their ``email`` claim."""
    lms = LtiPlatform(service.url, service.app.public_url).start()
    app = service.app
    saved = (app.lti_platforms, app.lti_private_key_file, app.lti_username_claim)
    app.lti_platforms = lms.registration()
    app.lti_private_key_file = str(key_file)
    app.lti_username_claim = "email"
    try:
        yield lms
    finally:
        app.lti_platforms, app.lti_private_key_file, app.lti_username_claim = saved
        lms.stop()
