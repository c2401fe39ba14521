"""What a ``jupyterhub_config.py`` needs to run Podium as a hub service, in one helper.

    from podium.hub.service import configure
    configure(c, url="http://127.0.0.1:10101")

adds the Podium service (started and stopped by the hub unless ``managed=False``), its
least-privilege role (it reads user names and groups, nothing more), the scope
``access:services!service=podium`` to every user and to the tokens of single-user servers (so a
notebook calls the API with its own ``JUPYTERHUB_API_TOKEN`` — never with more than its user has),
``PODIUM_URL`` in the notebooks' environment, and the hub group whose members may create
competitions. Settings already in ``c`` are kept and extended, not replaced.
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


DEFAULT_SERVER_TOKEN_SCOPES = ["access:servers!server", "users:activity!user"]


def _current(section: Any, name: str, default: Any) -> Any:
    """A setting's value in a traitlets Config section (unset and lazy values resolved)."""
    from traitlets.config import LazyConfigValue

    if name not in section:
        return default
    value = section[name]
    return value.get_value(default) if isinstance(value, LazyConfigValue) else value


def configure(
    c: Any,
    url: str = "http://127.0.0.1:10101",
    *,
    name: str = SERVICE_NAME,
    managed: bool = True,
    api_token: str | None = None,
    environment: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
    public_url: str | None = None,
    creator_group: str = "podium-creators",
) -> None:
    """Add Podium to a JupyterHub configuration object ``c``."""
    services = list(_current(c.JupyterHub, "services", []))
    # the service must know the same creator group the hub creates (a managed service gets it
    # here; an external one needs PODIUM_CREATOR_GROUP or c.PodiumService.creator_group)
    environment = {"PODIUM_CREATOR_GROUP": creator_group, **(environment or {})}
    services.append(podium_service(url, name=name, managed=managed, api_token=api_token,
                                   environment=environment, extra_args=extra_args))
    c.JupyterHub.services = services

    roles = [dict(r) for r in _current(c.JupyterHub, "load_roles", [])]
    roles += podium_roles(name)
    user_role = next((r for r in roles if r.get("name") == "user"), None)
    if user_role is None:
        roles.append({"name": "user", "scopes": ["self", access_scope(name)]})
    elif access_scope(name) not in user_role.setdefault("scopes", ["self"]):
        user_role["scopes"] = [*user_role["scopes"], access_scope(name)]
    c.JupyterHub.load_roles = roles

    scopes = list(_current(c.Spawner, "server_token_scopes", DEFAULT_SERVER_TOKEN_SCOPES))
    if access_scope(name) not in scopes:
        scopes.append(access_scope(name))
    c.Spawner.server_token_scopes = scopes

    env = dict(_current(c.Spawner, "environment", {}))
    prefix = f"/services/{name}/"
    # the service's own URL is reachable from single-user servers wherever the hub is (a pod
    # next to the hub pod, a local process); a public URL is used only when the site gives one
    env.setdefault("PODIUM_URL", (public_url or url).rstrip("/") + prefix)
    c.Spawner.environment = env

    groups = dict(_current(c.JupyterHub, "load_groups", {}))
    if creator_group:
        groups.setdefault(creator_group, {"users": []})
    c.JupyterHub.load_groups = groups
