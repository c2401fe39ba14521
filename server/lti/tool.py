"""The tool's side of each LMS registration: pylti1p3's configuration from the service's traits.

``lti_platforms`` names each platform by its issuer with the values the LMS shows when the tool
is registered there (client id, OIDC authorization URL, token URL, JWKS URL, deployment ids);
the tool's RSA key is ``lti_private_key_file`` (made on first use), published at ``lti/jwks``.
"""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pylti1p3.tool_config import ToolConfDict

from ..errors import NotFound

if TYPE_CHECKING:
    from ..app import PodiumService

REQUIRED = ("client_id", "auth_login_url", "auth_token_url", "key_set_url", "deployment_ids")
_lock = threading.Lock()
_cache: dict[str, ToolConfDict] = {}


def private_key_pem(path: str) -> str:
    """The tool's private key, made (RSA 2048, mode 0600) when the file does not exist yet."""
    with _lock:
        if not os.path.exists(path):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
    with open(path) as f:
        return f.read()


def public_key_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def tool_config(podium: PodiumService) -> ToolConfDict:
    """pylti1p3's configuration of every registered platform (built once per configuration)."""
    platforms: dict[str, Any] = dict(podium.lti_platforms)
    if not platforms:
        raise NotFound("LTI is not set up on this Podium: no platform is registered (lti_platforms).")
    key_file = podium.lti_private_key_file
    fingerprint = json.dumps([platforms, key_file], sort_keys=True)
    if fingerprint not in _cache:
        for issuer, settings in platforms.items():
            missing = [k for k in REQUIRED if not settings.get(k)]
            if missing:
                raise NotFound(f"The LTI platform {issuer} lacks {', '.join(missing)} in lti_platforms.")
        conf = ToolConfDict({issuer: dict(settings) for issuer, settings in platforms.items()})  # one client each
        private = private_key_pem(key_file)
        public = public_key_pem(private)
        for issuer, settings in platforms.items():
            conf.set_private_key(issuer, private, client_id=settings["client_id"])
            conf.set_public_key(issuer, public, client_id=settings["client_id"])
        _cache[fingerprint] = conf
    return _cache[fingerprint]


def jwks(podium: PodiumService) -> dict[str, Any]:
    """The tool's public keys, as the platforms fetch them to check its signatures."""
    from pylti1p3.registration import Registration

    return {"keys": [Registration.get_jwk(public_key_pem(private_key_pem(podium.lti_private_key_file)))]}
