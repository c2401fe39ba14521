"""Where ``podium login`` keeps the service URL and token, readable by its owner only.

The file is ``$PODIUM_CONFIG`` if set, else ``$XDG_CONFIG_HOME/podium/login.json`` (by default
``~/.config/podium/login.json``), created with mode 0600 in a 0700 folder: a token is a password.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Login:
    """A stored login: the Podium service's URL and a hub token that may call it."""

    url: str
    token: str


def login_file() -> Path:
    """The file ``podium login`` writes and the participant commands read."""
    explicit = os.environ.get("PODIUM_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "podium" / "login.json"


def save(login: Login) -> Path:
    """Write ``login`` to the login file (mode 0600, replacing an earlier one); returns its path."""
    path = login_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file keeps its mode through O_CREAT: set it again
    with os.fdopen(fd, "w") as f:
        json.dump({"url": login.url, "token": login.token}, f)
        f.write("\n")
    return path


def load() -> Login | None:
    """The stored login, or None when there is none (or it cannot be read as one)."""
    try:
        data = json.loads(login_file().read_text())
        return Login(url=str(data["url"]), token=str(data["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def forget() -> bool:
    """Remove the stored login; False when there was none."""
    try:
        login_file().unlink()
    except FileNotFoundError:
        return False
    return True
