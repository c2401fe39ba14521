"""The one line of feedback a panel shows: ``message`` (readable in tests) in its ``status`` HTML."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from .client import PodiumAPIError


class Messages:
    """Mixed into a panel that has a ``status`` HTML widget."""

    status: w.HTML
    message: str = ""

    def _say(self, message: str, error: bool = False) -> None:
        self.message = message
        color = "#b00020" if error else "#1b5e20"
        self.status.value = f'<span style="color:{color}">{html.escape(message)}</span>'

    def _guard(self, action: Callable[[], Any]) -> Any:
        """Run a button's action; a service error becomes the panel's message, not a traceback."""
        try:
            return action()
        except PodiumAPIError as exc:
            self._say(exc.message, error=True)
            return None
