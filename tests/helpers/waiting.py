"""Waiting in a test for what another thread, process or timer does: poll until true, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], what: str = "", timeout: float = 60.0, every: float = 0.05) -> None:
    """Return once ``condition()`` is true, asking every ``every`` seconds; fail after ``timeout``
    seconds, naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what or 'the condition'}"
        time.sleep(every)
