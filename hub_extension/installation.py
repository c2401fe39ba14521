"""Where the installation ``podium up`` made lives, so that ``podium token``, ``podium bundle`` and
``podium db`` find it without environment variables.

``podium up`` records ``installation.json`` (the hub's and the service's URLs) and, readable by
its owner only, ``admin_token`` (the token of its setup service, a hub admin while that hub runs)
in its data dir, and remembers that data dir in ``$XDG_STATE_HOME/podium/last-up`` (default
``~/.local/state``). A command looks in ``--data-dir``, else ``$PODIUM_DEMO_DIR``, else
``./podium-data/demo``, else the data dir remembered last.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

STATE_FILE = "installation.json"
ADMIN_TOKEN_FILE = "admin_token"
DEFAULT_DATA_DIR = "podium-data/demo"


def default_data_dir() -> Path:
    """Where ``podium up`` keeps its state unless told otherwise."""
    return Path(os.environ.get("PODIUM_DEMO_DIR") or DEFAULT_DATA_DIR).resolve()


def pointer_file() -> Path:
    """The file that remembers the data dir of the last ``podium up``."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "podium" / "last-up"


@dataclass(frozen=True)
class Installation:
    """An installation ``podium up`` made: its data dir and the URLs it serves on."""

    data_dir: Path
    hub_url: str
    service_url: str

    @property
    def podium_data_dir(self) -> Path:
        """The service's data dir (its SQLite database, storage and secret key)."""
        return self.data_dir / "podium"

    @property
    def hub_api_url(self) -> str:
        return self.hub_url.rstrip("/") + "/hub/api"

    def admin_token(self) -> str | None:
        """The hub admin token ``podium up`` keeps, if this user may read it."""
        try:
            return (self.data_dir / ADMIN_TOKEN_FILE).read_text().strip() or None
        except OSError:
            return None


def record(data_dir: Path, hub_url: str, service_url: str, admin_token: str) -> Installation:
    """Write the state of a starting ``podium up`` and remember its data dir."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    token_path = data_dir / ADMIN_TOKEN_FILE
    token_path.unlink(missing_ok=True)
    fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(admin_token + "\n")
    state = {"hub_url": hub_url, "service_url": service_url}
    (data_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    pointer = pointer_file()
    try:
        pointer.parent.mkdir(parents=True, exist_ok=True)
        pointer.write_text(str(data_dir) + "\n")
    except OSError:
        pass  # a read-only home: commands still find it with --data-dir or from the default place
    return Installation(data_dir, hub_url, service_url)


def load(data_dir: Path) -> Installation | None:
    """The installation recorded in ``data_dir``, or None."""
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return Installation(data_dir.resolve(), state["hub_url"], state["service_url"])


def find(data_dir: str | os.PathLike | None = None) -> Installation | None:
    """The installation in ``data_dir``, or where ``podium up`` put the last one (see the module)."""
    if data_dir is not None:
        return load(Path(data_dir))
    candidates = [default_data_dir()]
    try:
        candidates.append(Path(pointer_file().read_text().strip()))
    except OSError:
        pass
    for candidate in candidates:
        found = load(candidate)
        if found is not None:
            return found
    return None
