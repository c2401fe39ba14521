"""Podium in the notebook: a small client of the REST API and the ipywidgets built on it."""

from typing import Any

from .authoring import Column, CompetitionDraft, DryRunFailed
from .client import PodiumClient
from .scoring import scoring_program

# The widgets need ipywidgets (the `widgets` extra); the client does not, and the server and
# `podium up` import it: so the widget classes load on first use, not with the package.
_LAZY = {"Competition": ".participant", "AdminDashboard": ".admin"}
_LAZY["OrganizerPanel"] = ".organizer"
_LAZY.update(MyTeam=".teams", TeamsTab=".teams")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AdminDashboard", "Competition", "PodiumClient"]
__all__ += ["Column", "CompetitionDraft", "DryRunFailed", "OrganizerPanel", "scoring_program"]
__all__ += ["MyTeam", "TeamsTab"]
