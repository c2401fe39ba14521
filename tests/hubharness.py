"""The test suite's JupyterHub: ``podium.hub.launcher.HubProcess`` in a temporary directory."""

from __future__ import annotations

import tempfile
from pathlib import Path

from podium.hub.launcher import HubProcess

ROOT = Path(__file__).resolve().parent.parent


class HubHarness(HubProcess):
    """A hub for tests: Podium registered as an external service at ``service_url``."""

    def __init__(self, service_url: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="podium-hub-")
        super().__init__(self._tmp.name, service_url=service_url, creator_group="creators", project_dir=ROOT)

    def stop(self, timeout: float = 15) -> None:
        super().stop(timeout)
        artifacts = ROOT / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        if self.log_path.exists():
            (artifacts / "jupyterhub.log").write_text(self.log_path.read_text(errors="replace"))
