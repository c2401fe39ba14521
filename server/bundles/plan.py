"""What the format readers produce: a competition body in Podium's own shape (the API's
``CompetitionIn``) whose programs and data are still references to files in the bundle, plus
every problem found, each naming the file and the key path."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from dateutil import parser as dateparser

from ..request_bodies import naive_utc

YAML = "competition.yaml"


@dataclass(frozen=True)
class FileRef:
    """A program or dataset the import stores: a path in the bundle or an existing dataset id."""

    path: str | None
    kind: str
    where: str
    dataset_id: int | None = None


@dataclass
class Plan:
    body: dict[str, Any] = field(default_factory=dict)
    files: dict[str, FileRef] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    logo: FileRef | None = None

    def bad(self, where: str, message: str) -> None:
        self.problems.append(f"{YAML}: {where}: {message}")

    def problems_at(self, where: str) -> bool:
        """Whether a problem was already recorded at ``where`` (so a second one would repeat it)."""
        return any(p.startswith(f"{YAML}: {where}: ") for p in self.problems)

    def ref(self, value: Any, kind: str, where: str, name: str, source) -> str | None:
        """Register a program or dataset reference; returns its placeholder, or None when absent
        (after recording a problem if it is missing from the bundle)."""
        if value is None or value == "":
            return None
        placeholder = f"@file{len(self.files)}"
        if isinstance(value, int) and not isinstance(value, bool):
            self.files[placeholder] = FileRef(None, kind, where, dataset_id=value)
            return placeholder
        if not isinstance(value, str) or source.resolve(value) is None:
            self.bad(where, f"{name} {value!r} not found in bundle")
            return None
        self.files[placeholder] = FileRef(value, kind, f"{where}.{name}")
        return placeholder


#: what the error says a date may look like (Codabench reads any form ``dateutil`` reads)
ACCEPTED_DATES = ("YYYY-MM-DD, M-D-YYYY or M/D/YYYY (month first), optionally with a time "
                  "(2024-03-01 12:00, 2024-03-01T12:00:00Z); times are UTC")


def parse_when(value: Any) -> datetime | None:
    """A YAML date, datetime or string as naive UTC, read as Codabench reads it (``dateutil``,
    month first, UTC unless an offset is written); None when absent; ValueError when no date.

    Two deliberate differences from Codabench's ``get_datetime``: a YAML datetime keeps its time
    (Codabench's ``datetime.combine`` drops it) and a written offset is converted to UTC
    (Codabench replaces it with UTC)."""
    if value is None or value == "" or (isinstance(value, str) and value.strip().lower() in ("null", "none")):
        return None
    if isinstance(value, datetime):
        return naive_utc(value)
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, str) and value.strip():
        try:
            return naive_utc(dateparser.parse(value.strip(), dayfirst=False))
        except (ValueError, OverflowError):
            pass
    raise ValueError(f"not a date: {value!r} (accepted: {ACCEPTED_DATES})")


def read_when(plan: Plan, value: Any, where: str) -> datetime | None:
    """``parse_when``, recording a problem at ``where`` (and giving None) when the value is no date."""
    try:
        return parse_when(value)
    except ValueError as e:
        plan.bad(where, str(e))
        return None


def show(moment: datetime) -> str:
    """A date as the organizer wrote it: without time when it is midnight."""
    return moment.date().isoformat() if moment.time() == time() else moment.isoformat()


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:50].strip("-")
    return slug if len(slug) >= 2 else f"competition-{slug or 'x'}"


def as_int(plan: Plan, value: Any, where: str, default: int | None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        plan.bad(where, f"must be a whole number, not {value!r}")
        return default
    try:
        number = int(value)
    except ValueError:
        plan.bad(where, f"must be a whole number, not {value!r}")
        return default
    if number < 0:
        plan.bad(where, f"must not be negative ({number})")
        return default
    return number


def shown(value: Any) -> str:
    """A value as a problem quotes it: its kind for mappings and lists, else its short repr."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple | set):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_key(plan: Plan, value: Any, where: str, what: str = "a number or a name") -> int | str | None:
    """A task, solution or column index (or a key): a number or a text, never a mapping or a
    list; None (after recording a problem) otherwise."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        if value is not None:
            plan.bad(where, f"must be {what}, not {shown(value)}")
        return None
    return value


def as_list(plan: Plan, value: Any, where: str, what: str) -> list:
    """A list in the bundle (absent → empty); anything else is a problem naming ``what`` it should hold."""
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        plan.bad(where, f"must be a list of {what}, not {shown(value)}")
        return []
    return value


def as_rank(plan: Plan, value: Any, where: str, default: float = 0) -> float:
    """A CodaLab ``rank`` (an order): a number, or a text holding one; a problem otherwise."""
    if value is None:
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    plan.bad(where, f"must be a number (the column's order), not {shown(value)}")
    return default


def check_phase_dates(plan: Plan, phases: list[dict[str, Any]], labels: list[str], allow_parallel: bool) -> None:
    """Each phase ends after it starts; phases do not overlap (unless the format allows it)."""
    for label, phase in zip(labels, phases, strict=True):
        start, end = phase.get("_start"), phase.get("_end")
        if start is not None and end is not None and end <= start:
            plan.bad(f"{label}.end", f"must be after {label}.start ({show(end)} < {show(start)})")
    if allow_parallel:
        return
    for (prev_label, prev), (label, cur) in zip(zip(labels, phases, strict=True), list(zip(labels, phases, strict=True))[1:], strict=False):
        p_start, p_end, c_start = prev.get("_start"), prev.get("_end"), cur.get("_start")
        if p_start is None or c_start is None:
            continue
        if p_end is None:
            plan.bad(f"{label}.start", f"overlaps {prev_label}, which never ends")
        elif c_start < p_end:
            plan.bad(f"{label}.start", f"overlaps {prev_label}, which ends {show(p_end)} ({show(c_start)} < {show(p_end)})")
