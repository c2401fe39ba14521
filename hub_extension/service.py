"""What a ``jupyterhub_config.py`` needs to run Podium as a hub service, in one helper.

    from podium.hub.service import podium_service, podium_roles
    c.JupyterHub.services = [podium_service(url="http://127.0.0.1:10101")]
    c.JupyterHub.load_roles = podium_roles()
    c.Spawner.server_token_scopes = [..., "access:services!service=podium"]

The service's own role is least privilege: it reads users and their groups, nothing more.
"""

from __future__ import annotations

import sys
from typing import Any

SERVICE_NAME = "podium"
SERVICE_SCOPES = ["read:users:name", "read:users:groups", "read:groups"]


def access_scope(name: str = SERVICE_NAME) -> str:
    """The scope a token needs to call the Podium API."""
    return f"access:services!service={name}"


def podium_service(
    url: str = "http://127.0.0.1:10101",
    *,
    name: str = SERVICE_NAME,
    managed: bool = True,
    api_token: str | None = None,
    environment: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
) -> dict[str, Any]:
    """The ``c.JupyterHub.services`` entry; ``managed`` lets the hub start and stop the service."""
    service: dict[str, Any] = {"name": name, "url": url, "display": True, "oauth_no_confirm": True}
    if managed:
        service["command"] = [sys.executable, "-m", "podium.hub.cli", "service", *(extra_args or [])]
        service["environment"] = dict(environment or {})
    if api_token:
        service["api_token"] = api_token
    return service


def podium_roles(name: str = SERVICE_NAME) -> list[dict[str, Any]]:
    """The roles Podium needs on the hub: read users and groups (for per-competition roles)."""
    return [{"name": f"{name}-service", "scopes": list(SERVICE_SCOPES), "services": [name]}]
