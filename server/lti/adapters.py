"""pylti1p3's generic request, cookie and launch-data interfaces, for Tornado and the database.

pylti1p3 ships adapters for Django and Flask only; these are the same small classes for a Tornado
handler. Launch state lives in the ``lti_states`` table rather than a process's memory, so the
OIDC login and the launch may reach different replicas. pylti1p3 only checks that a launch's
nonce was issued; ``DatabaseLaunchStorage`` also deletes it when checked, so a replayed id_token
is refused.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pylti1p3.cookie import CookieService
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.oidc_login import OIDCLogin
from pylti1p3.request import Request
from pylti1p3.session import SessionService
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from tornado.web import RequestHandler

from ..clock import utcnow
from ..orm import LtiState


class TornadoRequest(Request):
    """A Tornado request as pylti1p3 reads it: parameters from the query or the form, cookies."""

    def __init__(self, handler: RequestHandler, params: dict[str, str] | None = None) -> None:
        self.handler = handler
        self.params = params

    @property
    def session(self) -> dict:
        return {}

    def is_secure(self) -> bool:
        return self.handler.request.protocol == "https"

    def get_param(self, key: str) -> str | None:
        if self.params is not None:
            return self.params.get(key)
        return self.handler.get_argument(key, None)

    def get_cookie(self, key: str) -> str | None:
        return self.handler.get_cookie(key)


class TornadoCookieService(CookieService):
    """The login's state cookie: set on the answer, read from the launch. ``SameSite=None;
    Secure`` over HTTPS, because the launch is a cross-site POST from the LMS (often in an iframe)."""

    def __init__(self, request: TornadoRequest) -> None:
        self.request = request

    def _key(self, name: str) -> str:
        return f"{self._cookie_prefix}-{name}"

    def get_cookie(self, name: str) -> str | None:
        return self.request.get_cookie(self._key(name))

    def set_cookie(self, name: str, value: Any, exp: int | None = 3600) -> None:
        extra: dict[str, Any] = {"httponly": True}
        if self.request.is_secure():
            extra.update(secure=True, samesite="None")
        self.request.handler.set_cookie(self._key(name), str(value), expires_days=None,
                                        max_age=exp, path="/", **extra)


class DatabaseLaunchStorage(LaunchDataStorage):
    """Launch data, login states and nonces in ``lti_states``, each with an expiry."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        super().__init__()
        self.session_factory = session_factory

    def get_session_cookie_name(self) -> str | None:
        return None  # keys are the platform's state and our random nonces: nothing to bind further

    def can_set_keys_expiration(self) -> bool:
        return True

    def get_value(self, key: str) -> Any:
        key = self._prepare_key(key)
        with self.session_factory() as session:
            row = session.get(LtiState, key)
            if row is None or row.expires_at <= utcnow():
                return None
            return row.value.get("v")

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        key = self._prepare_key(key)
        with self.session_factory() as session:
            session.execute(delete(LtiState).where(LtiState.expires_at <= utcnow()))
            session.merge(LtiState(key=key, value={"v": value},
                                   expires_at=utcnow() + timedelta(seconds=exp or 3600)))
            session.commit()

    def check_value(self, key: str) -> bool:
        """True once for a nonce (it is deleted: a replay finds nothing), else whether it is there."""
        key = self._prepare_key(key)
        with self.session_factory() as session:
            if "-nonce-" in key:
                used = session.execute(delete(LtiState).where(LtiState.key == key,
                                                              LtiState.expires_at > utcnow())).rowcount
                session.commit()
                return bool(used)
            return session.scalar(select(LtiState.key).where(LtiState.key == key,
                                                              LtiState.expires_at > utcnow())) is not None


def session_service(request: TornadoRequest, storage: DatabaseLaunchStorage) -> SessionService:
    service = SessionService(request)
    service.set_data_storage(storage)
    return service


class TornadoOIDCLogin(OIDCLogin):
    """The OIDC login initiation: its answer is a redirect the handler sends itself."""

    def __init__(self, request: TornadoRequest, tool_config: Any, storage: DatabaseLaunchStorage) -> None:
        super().__init__(request, tool_config, session_service(request, storage), TornadoCookieService(request))

    def get_redirect(self, url: str) -> Any:
        return _Redirect(url)


class _Redirect:
    def __init__(self, url: str) -> None:
        self.url = url

    def get_redirect_url(self) -> str:
        return self.url


class TornadoMessageLaunch(MessageLaunch):
    """A launch (the id_token the platform POSTs) validated by pylti1p3."""

    def __init__(self, request: TornadoRequest, tool_config: Any, storage: DatabaseLaunchStorage) -> None:
        super().__init__(request, tool_config, session_service(request, storage), TornadoCookieService(request))
        self.set_launch_data_storage(storage)

    def _get_request_param(self, key: str) -> str:
        return self._request.get_param(key)
