"""The hub configurations in jupyter_config/ and `podium.hub.service.configure`."""

from __future__ import annotations

from pathlib import Path

from podium.hub.service import access_scope, configure
from traitlets.config import Config, PyFileConfigLoader

ROOT = Path(__file__).resolve().parents[2]


def load(name: str, monkeypatch=None) -> Config:
    return PyFileConfigLoader(name, path=str(ROOT / "jupyter_config")).load_config()


def test_embedded_default_config_registers_podium() -> None:
    c = load("jupyterhub_config.py")
    (service,) = c.JupyterHub.services
    assert service["name"] == "podium" and service["url"] == "http://127.0.0.1:10101"
    assert service["command"][-2:] == ["service", "--upgrade-db"]
    assert c.Spawner.environment["PODIUM_URL"] == "http://127.0.0.1:8000/services/podium/"
    assert access_scope() in c.Spawner.server_token_scopes
    role = next(r for r in c.JupyterHub.load_roles if r["name"] == "podium-service")
    assert role["scopes"] == ["read:users:name", "read:users:groups", "read:groups"]
    assert "podium-creators" in c.JupyterHub.load_groups


def test_production_example_loads(monkeypatch) -> None:
    for name in ("PODIUM_DB_URL", "PODIUM_BROKER_URL", "PODIUM_SECRET_KEY", "PODIUM_QUEUE_TOKEN"):
        monkeypatch.setenv(name, f"value-of-{name}")
    c = load("jupyterhub_config_production.py")
    (service,) = c.JupyterHub.services
    assert service["environment"]["PODIUM_DB_URL"] == "value-of-PODIUM_DB_URL"
    assert "instructors" in c.JupyterHub.load_groups
    # the service hears of the same group the hub creates
    assert service["environment"]["PODIUM_CREATOR_GROUP"] == "instructors"


def test_the_service_takes_its_creator_group_from_the_environment(monkeypatch) -> None:
    from podium.server.app import PodiumService

    monkeypatch.setenv("PODIUM_CREATOR_GROUP", "instructors")
    assert PodiumService().creator_group == "instructors"
    monkeypatch.setenv("PODIUM_CREATOR_GROUP", "")
    assert PodiumService().creator_group == ""  # everyone may create competitions
    monkeypatch.delenv("PODIUM_CREATOR_GROUP")
    assert PodiumService().creator_group == "podium-creators"


def test_configure_extends_a_site_configuration() -> None:
    c = Config()
    c.JupyterHub.services = [{"name": "idle-culler", "command": ["cull"]}]
    c.JupyterHub.load_roles = [{"name": "user", "scopes": ["self", "access:services!service=idle-culler"]}]
    c.Spawner.server_token_scopes = ["access:servers!server"]
    configure(c, managed=False, public_url="https://hub.example.org")
    assert [s["name"] for s in c.JupyterHub.services] == ["idle-culler", "podium"]
    assert "command" not in c.JupyterHub.services[1]
    user = next(r for r in c.JupyterHub.load_roles if r["name"] == "user")
    assert user["scopes"] == ["self", "access:services!service=idle-culler", access_scope()]
    assert c.Spawner.server_token_scopes == ["access:servers!server", access_scope()]
    assert c.Spawner.environment["PODIUM_URL"] == "https://hub.example.org/services/podium/"
