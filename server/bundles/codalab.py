"""CodaLab (no ``version``, ``1``, ``1.5`` or ``1.8``) ``competition.yaml`` → Podium.

``html`` pages; ``phases`` keyed by ``phasenumber``, each with its own programs and data (one
Podium task per phase), each phase ending where the next starts and the last at ``end_date``
(v1.8 phases may give their own ``end_date`` and run in parallel); ``leaderboard`` with
``leaderboards`` and ``columns`` (``label``, ``rank``, ``sort``, ``numeric_format``, ``hidden``,
``computed`` ``Avg`` as the average rank); ``force_submission_to_leaderboard`` → the last
submission, ``force_best_submission_to_leaderboard`` → the best, otherwise the participant's
choice; ``has_registration`` (unset: true, as Codabench reads it) → approval; ``competition_docker_image``. Defaults are CodaLab's:
100 submissions in total, no daily limit, 300 s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .plan import Plan, as_int, as_rank, check_phase_dates, read_when, shown, slugify

PAGE_KEYS = {"overview": "Overview", "evaluation": "Evaluation", "terms": "Terms and Conditions",
             "terms_and_conditions": "Terms and Conditions", "data": "Get Data"}
PROGRAMS = ("scoring_program", "ingestion_program", "input_data", "reference_data")


def convert(source, version: str) -> Plan:
    """A CodaLab ``competition.yaml`` as Podium's competition body, with every problem found."""
    data = source.data
    plan = Plan()
    body = _competition(plan, data, source)
    pages, terms = _pages(plan, data, source)
    if terms is not None:
        body["terms"] = terms
    body["pages"] = pages
    tasks, phases = _tasks_and_phases(plan, data, source, version)
    body["tasks"] = tasks
    body["phases"] = phases
    body["leaderboards"] = _leaderboards(plan, data.get("leaderboard") or {})
    if body["leaderboards"]:
        for phase in phases:
            phase["leaderboard"] = body["leaderboards"][0]["key"]
    plan.body = body
    return plan


def _competition(plan: Plan, data: dict, source) -> dict[str, Any]:
    """The competition's own fields (title, registration, image, logo), before pages and phases."""
    title = data.get("title")
    if not title or not isinstance(title, str):
        plan.bad("title", "is required")
        title = "Untitled"
    body: dict[str, Any] = {
        "slug": slugify(title),
        "title": title[:200],
        "description": str(data.get("description") or ""),
        # as Codabench's v1 unpacker: an unset has_registration means approval (CodaLab's own
        # default was open); the participant is told their registration waits for approval
        "registration_mode": "approval" if data.get("has_registration", True) else "open",
        "docker_image": data.get("competition_docker_image") or "codalab/codalab-legacy:py37",
        "enable_detailed_results": bool(data.get("enable_detailed_results", False)),
    }
    if data.get("image"):
        plan.logo = plan.files.get(plan.ref(data["image"], "logo", "image", "image", source) or "")
    return body


def _pages(plan: Plan, data: dict, source) -> tuple[list[dict[str, Any]], str | None]:
    """The ``html`` section's pages, and the terms page's text (None when there is none)."""
    pages, terms = [], None
    html = data.get("html") or {}
    if not isinstance(html, dict):
        plan.bad("html", "must be a mapping of page name to HTML file")
        html = {}
    for i, (key, file) in enumerate(html.items()):
        content = source.read_text(file) if isinstance(file, str) else None
        if content is None:
            plan.bad(f"html.{key}", f"{file!r} not found in bundle")
            continue
        pages.append({"key": slugify(key)[:64], "title": PAGE_KEYS.get(key, str(key).replace("_", " ").title()),
                      "content": content, "index": i})
        if key in ("terms", "terms_and_conditions"):
            terms = content
    return pages, terms


def _ordered_phases(plan: Plan, data: dict) -> list[tuple[int, str, dict]]:
    """The phases as (number, key path, phase) sorted by ``phasenumber``; numbers used twice are problems."""
    raw_phases = data.get("phases") or {}
    if isinstance(raw_phases, list):
        raw_phases = {p.get("phasenumber", i + 1) if isinstance(p, dict) else i + 1: p for i, p in enumerate(raw_phases)}
    if not isinstance(raw_phases, dict) or not raw_phases:
        plan.bad("phases", "at least one phase is required")
        raw_phases = {}
    ordered = []
    for key, phase in raw_phases.items():
        where = f"phases.{key}"
        if not isinstance(phase, dict):
            plan.bad(where, "must be a mapping")
            continue
        number = phase.get("phasenumber", key)
        try:
            number = int(number)
        except (TypeError, ValueError):
            plan.bad(f"{where}.phasenumber", f"must be a number, not {number!r}")
            continue
        ordered.append((number, where, phase))
    ordered.sort(key=lambda item: item[0])
    numbers = [n for n, _, _ in ordered]
    for n in sorted({n for n in numbers if numbers.count(n) > 1}):
        plan.bad(f"phases.{n}.phasenumber", f"phase number {n} is used twice")
    return ordered


def _tasks_and_phases(plan: Plan, data: dict, source, version: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One Podium task and one Podium phase per CodaLab phase, in phase-number order, dates checked."""
    ordered = _ordered_phases(plan, data)
    competition_end = read_when(plan, data.get("end_date"), "end_date")
    starts = []
    for _number, where, phase in ordered:
        starts.append(read_when(plan, phase.get("start_date"), f"{where}.start_date"))
        if starts[-1] is None and "start_date" not in phase:
            plan.bad(f"{where}.start_date", "is required")
    tasks, phases, labels = [], [], []
    for position, (number, where, phase) in enumerate(ordered):
        task = _task(plan, source, number, where, phase)
        tasks.append(task)
        if version == "1.8" and phase.get("end_date"):
            end = read_when(plan, phase.get("end_date"), f"{where}.end_date")
        elif position + 1 < len(ordered):
            end = starts[position + 1]
        else:
            end = competition_end
        phases.append(_phase(plan, source, number, where, phase, position, starts[position], end, task["key"]))
        labels.append(where)
    for (_, prev_where, _), (_, where, _), prev, cur in zip(ordered, ordered[1:], starts, starts[1:], strict=False):
        if prev is not None and cur is not None and cur <= prev and version != "1.8":
            plan.bad(f"{where}.start_date", f"must be after {prev_where}.start_date ({cur.date()} <= {prev.date()})")
    check_phase_dates(plan, phases, labels, allow_parallel=True)
    return tasks, phases


def _task(plan: Plan, source, number: int, where: str, phase: dict) -> dict[str, Any]:
    """The Podium task holding one CodaLab phase's programs and data (CodaLab keeps them per phase)."""
    task = {"key": f"phase-{number}", "name": str(phase.get("label") or f"Phase {number}")[:200],
            "description": str(phase.get("description") or ""),
            "ingestion_only_during_scoring": bool(phase.get("ingestion_program_only_during_scoring", False))}
    if not phase.get("scoring_program"):
        plan.bad(where, "scoring_program is required")
    for name in PROGRAMS:
        placeholder = plan.ref(phase.get(name), name, where, name, source)
        if placeholder:
            task[name] = placeholder
    return task


def _submission_rule(phase: dict) -> str:
    """Which of a participant's submissions stands on the leaderboard, from CodaLab's force flags."""
    if phase.get("force_submission_to_leaderboard"):
        return "last"
    if phase.get("force_best_submission_to_leaderboard"):
        return "best"
    return "selected"


def _phase(plan: Plan, source, number: int, where: str, phase: dict, position: int,
           start: datetime | None, end: datetime | None, task_key: str) -> dict[str, Any]:
    """One CodaLab phase as a Podium phase: dates, quotas with CodaLab's defaults, rule, public data."""
    out = {
        "name": str(phase.get("label") or f"Phase {number}")[:200],
        "description": str(phase.get("description") or ""),
        "index": position,
        "start": start.isoformat() + "Z" if start else None,
        "end": end.isoformat() + "Z" if end else None,
        "tasks": [task_key],
        "max_submissions": as_int(plan, phase.get("max_submissions"), f"{where}.max_submissions", 100),
        "max_submissions_per_day": as_int(plan, phase.get("max_submissions_per_day"),
                                          f"{where}.max_submissions_per_day", 0),
        "execution_time_limit": as_int(plan, phase.get("execution_time_limit"), f"{where}.execution_time_limit", 300),
        "submission_rule": _submission_rule(phase),
        "_start": start,
        "_end": end,
    }
    if phase.get("auto_migration"):
        out["auto_migrate"] = True
    if phase.get("leaderboard_management_mode") == "hide_results":
        out["leaderboard_visibility"] = "private"
    for name in ("public_data", "starting_kit"):
        placeholder = plan.ref(phase.get(name), name, where, name, source)
        if placeholder:
            out[name] = placeholder
    return out


def _leaderboards(plan: Plan, section: Any) -> list[dict[str, Any]]:
    """The ``leaderboard`` section: boards ordered by ``rank``, each with its columns; every problem recorded."""
    if not isinstance(section, dict):
        plan.bad("leaderboard", "must be a mapping with leaderboards and columns")
        return []
    boards_in = section.get("leaderboards") or {}
    columns_in = section.get("columns") or {}
    if not isinstance(boards_in, dict) or not isinstance(columns_in, dict):
        plan.bad("leaderboard", "leaderboards and columns must be mappings")
        return []
    boards: list[dict[str, Any]] = []
    by_label: dict[str, dict[str, Any]] = {}
    def board_rank(kv: tuple) -> float:
        board = kv[1] if isinstance(kv[1], dict) else {}
        return as_rank(plan, board.get("rank"), f"leaderboard.leaderboards.{kv[0]}.rank")

    def column_rank(kv: tuple) -> float:
        column = kv[1] if isinstance(kv[1], dict) else {}
        return as_rank(plan, column.get("rank"), f"leaderboard.columns.{kv[0]}.rank")

    ranked_boards = sorted(((name, board, board_rank((name, board))) for name, board in boards_in.items()),
                           key=lambda item: item[2])
    for i, (name, board, _rank) in enumerate(ranked_boards):
        if not isinstance(board, dict):
            plan.bad(f"leaderboard.leaderboards.{name}", f"must be a mapping with a label, not {shown(board)}")
            board = {}
        label = str(board.get("label") or name)
        out = {"key": slugify(name)[:64], "title": label[:200], "index": i, "columns": []}
        boards.append(out)
        by_label[label] = out
        by_label[str(name)] = out
    ranked_columns = sorted(((key, column, column_rank((key, column))) for key, column in columns_in.items()),
                            key=lambda item: item[2])
    for key, column, rank in ranked_columns:
        where = f"leaderboard.columns.{key}"
        if not isinstance(column, dict):
            plan.bad(where, f"must be a mapping (leaderboard, label, rank, sort), not {shown(column)}")
            continue
        owner = column.get("leaderboard")
        label = owner.get("label") if isinstance(owner, dict) else owner
        board = by_label.get(str(label)) if label is not None else (boards[0] if len(boards) == 1 else None)
        if board is None:
            plan.bad(f"{where}.leaderboard", f"no leaderboard {label!r}")
            continue
        sort = column.get("sort", "desc")
        if sort not in ("asc", "desc"):
            plan.bad(f"{where}.sort", f"must be asc or desc, not {shown(sort)}")
        out: dict[str, Any] = {"key": str(key), "title": str(column.get("label") or key)[:200],
                               "index": int(rank),
                               "sorting": sort, "hidden": bool(column.get("hidden", False))}
        # without numeric_format Codabench's v1 unpacker shows 2 decimals
        out["precision"] = as_int(plan, column.get("numeric_format", 2), f"{where}.numeric_format", 2)
        computed = column.get("computed")
        if computed:
            out["computation"] = "avg_rank"
            out["computation_keys"] = _average_rank_of(plan, where, str(key), computed, columns_in)
        board["columns"].append(out)
    for board in boards:
        keys = [c["key"] for c in board["columns"]]
        if not board["columns"]:
            plan.bad(f"leaderboard.leaderboards.{board['title']}", "has no columns")
        for dup in sorted({k for k in keys if keys.count(k) > 1}):
            plan.bad(f"leaderboard.columns.{dup}", "is used twice")
    return boards


def _average_rank_of(plan: Plan, where: str, key: str, computed: Any, columns_in: dict) -> list[str]:
    """The columns a CodaLab ``computed: {operation: Avg, fields: ...}`` column averages the ranks of."""
    operation = computed.get("operation") if isinstance(computed, dict) else None
    if operation != "Avg":
        plan.bad(f"{where}.computed.operation", f"unknown operation {operation!r} (CodaLab knows Avg)")
    fields = computed.get("fields") if isinstance(computed, dict) else None
    if isinstance(fields, str):
        names = [f.strip() for f in fields.split(",")]
    elif isinstance(fields, list) and all(isinstance(f, str) for f in fields):
        names = list(fields)
    else:
        if fields is not None:
            plan.bad(f"{where}.computed.fields", f"must be column names separated by commas, not {shown(fields)}")
        names = []
    if key in names:
        plan.bad(f"{where}.computed.fields", "references the column itself")
    unknown = [n for n in names if n not in columns_in]
    if unknown:
        plan.bad(f"{where}.computed.fields", f"unknown column(s) {', '.join(map(repr, unknown))}")
    return [n for n in names if n in columns_in and n != key]
