"""Codabench (``version: 2``) ``competition.yaml`` → Podium.

Tasks, solutions, phases with task lists and quotas, every leaderboard (Codabench keeps only the
first), columns with ``index``, ``sorting``, ``computation`` / ``computation_indexes``,
``precision`` and ``hidden``, ``submission_rule``, pages, terms, ``docker_image``, ``queue`` (a
compute queue's name, which the importing organizer must be allowed to use) and the
detailed-results flags. Defaults are Codabench's: 5 submissions per day, 100 in total, 600 s.
Keys Podium adds on export (``key``, ``leaderboard_visibility``, ...) are read back, so an
exported competition imports equal.
"""

from __future__ import annotations

from typing import Any

from ..submissions.code_reveal import CODE_REVEAL_MODES
from .plan import Plan, as_int, as_key, as_list, check_phase_dates, read_when, shown, slugify

#: decimals shown when a column gives no ``precision`` (Codabench's Column default)
DEFAULT_PRECISION = 2
DEFAULTS = {"max_submissions_per_day": 5, "max_submissions": 100, "execution_time_limit": 600}
SUBMISSION_RULES = {
    "Add": "selected",
    "Add_And_Delete": "selected",
    "Add_And_Delete_Multiple": "selected",
    "Force_Last": "last",
    "Force_Latest_Multiple": "all",
    "Force_Best": "best",
}
COMPUTATIONS = {"avg": "mean", "mean": "mean", "sum": "sum", "min": "min", "max": "max", "avg_rank": "avg_rank"}
PROGRAMS = ("scoring_program", "ingestion_program", "input_data", "reference_data")


#: what each top-level list holds, for the problem when it is not a list
LIST_OF = {"phases": "phases", "pages": "pages (title and file)", "tasks": "tasks (index and programs)",
           "solutions": "solutions (index, tasks and path)", "leaderboards": "leaderboards (key, title and columns)"}


def _list(plan: Plan, data: dict, key: str) -> list:
    return as_list(plan, data.get(key), key, LIST_OF[key])


def _mapping(plan: Plan, item: Any, where: str) -> dict:
    if not isinstance(item, dict):
        plan.bad(where, f"must be a mapping of keys to values, not {shown(item)}")
        return {}
    return item


def convert(source) -> Plan:
    """A Codabench ``competition.yaml`` as Podium's competition body, with every problem found."""
    data = source.data
    plan = Plan()
    body = _competition(plan, data, source)
    body["pages"] = _pages(plan, data, source)
    tasks, task_keys = _tasks(plan, data, source)
    body["tasks"] = tasks
    _check_solutions(plan, data, source, task_keys)
    boards, rules = _leaderboards(plan, data)
    body["leaderboards"] = boards
    phases, labels = [], []
    for i, phase in enumerate(_list(plan, data, "phases")):
        phase = _mapping(plan, phase, f"phases[{i}]")
        labels.append(f"phases[{i}]")
        phases.append(_phase(plan, source, i, phase, task_keys, boards, rules))
    check_phase_dates(plan, phases, labels, allow_parallel=bool(data.get("parallel_phases", False)))
    body["phases"] = phases
    _read_podium_keys(plan, data, body)
    plan.body = body
    return plan


def _competition(plan: Plan, data: dict, source) -> dict[str, Any]:
    """The competition's own fields (title, registration, image, terms, logo), before its parts."""
    title = data.get("title")
    if not title or not isinstance(title, str):
        plan.bad("title", "is required")
        title = "Untitled"
    body: dict[str, Any] = {
        "slug": slugify(data.get("slug") or title),
        "title": title[:200],
        "description": str(data.get("description") or ""),
        "registration_mode": "open" if data.get("registration_auto_approve", False) else "approval",
        "docker_image": data.get("docker_image") or "codalab/codalab-legacy:py3",  # Codabench v2's default
        "enable_detailed_results": bool(data.get("enable_detailed_results", False)),
        "make_programs_available": bool(data.get("make_programs_available", False)),
    }
    if data.get("queue") is not None:
        # Codabench names the queue by its broker vhost; Podium by its name. Either way the
        # importing organizer must be allowed to use it (checked when the competition is made)
        if isinstance(data["queue"], str) and data["queue"]:
            body["queue"] = data["queue"]
        else:
            plan.bad("queue", f"must be a compute queue's name, not {shown(data['queue'])}")
    if data.get("registration_mode") in ("open", "approval"):
        body["registration_mode"] = data["registration_mode"]
    terms = data.get("terms")
    if isinstance(terms, str) and terms:
        text = source.read_text(terms)
        body["terms"] = text if text is not None else terms
    if data.get("image"):
        plan.logo = plan.files.get(plan.ref(data["image"], "logo", "image", "image", source) or "")
    return body


def _pages(plan: Plan, data: dict, source) -> list[dict[str, Any]]:
    """The pages, each from its ``file`` in the bundle or its inline ``content``."""
    pages = []
    for i, page in enumerate(_list(plan, data, "pages")):
        page = _mapping(plan, page, f"pages[{i}]")
        file = page.get("file")
        content = source.read_text(file) if file else page.get("content", "")
        if file and content is None:
            plan.bad(f"pages[{i}].file", f"{file!r} not found in bundle")
        key = page.get("key") or slugify(str(file or page.get("title") or f"page-{i}").rsplit("/", 1)[-1].rsplit(".", 1)[0])
        pages.append({"key": key[:64], "title": str(page.get("title") or key)[:200], "content": content or "", "index": i})
    return pages


def _tasks(plan: Plan, data: dict, source) -> tuple[list[dict[str, Any]], dict[Any, str]]:
    """The tasks with their programs and data, and each task's key by its Codabench ``index``."""
    tasks, task_keys = [], {}
    for i, task in enumerate(_list(plan, data, "tasks")):
        task = _mapping(plan, task, f"tasks[{i}]")
        index = as_key(plan, task.get("index", i), f"tasks[{i}].index", "a number")
        index = i if index is None else index
        key = str(task.get("key") or f"task-{index}")
        task_keys[index] = key
        out = {"key": key, "name": str(task.get("name") or key)[:200], "description": str(task.get("description") or ""),
               "ingestion_only_during_scoring": bool(task.get("ingestion_only_during_scoring", False))}
        if not task.get("scoring_program"):
            plan.bad(f"tasks[{i}]", "scoring_program is required")
        for name in PROGRAMS:
            placeholder = plan.ref(task.get(name), name, f"tasks[{i}]", name, source)
            if placeholder:
                out[name] = placeholder
        tasks.append(out)
    return tasks, task_keys


def _check_solutions(plan: Plan, data: dict, source, task_keys: dict[Any, str]) -> None:
    """Solutions are not imported, but their paths and task indexes must be right."""
    for i, solution in enumerate(_list(plan, data, "solutions")):
        solution = _mapping(plan, solution, f"solutions[{i}]")
        plan.ref(solution.get("path"), "solution", f"solutions[{i}]", "path", source)
        for t in as_list(plan, solution.get("tasks"), f"solutions[{i}].tasks", "task indexes (for example [0, 1])"):
            t = as_key(plan, t, f"solutions[{i}].tasks", "a list of task indexes")
            if t is not None and t not in task_keys:
                plan.bad(f"solutions[{i}].tasks", f"no task with index {t}")


def _leaderboards(plan: Plan, data: dict) -> tuple[list[dict[str, Any]], list[str]]:
    """Every leaderboard with its columns, and each one's submission rule in Podium's words."""
    boards, rules = [], []
    for i, board in enumerate(_list(plan, data, "leaderboards")):
        board = _mapping(plan, board, f"leaderboards[{i}]")
        rule = board.get("submission_rule", "Add")
        if not isinstance(rule, str) or (rule not in SUBMISSION_RULES and rule not in SUBMISSION_RULES.values()):
            plan.bad(f"leaderboards[{i}].submission_rule",
                     f"must be one of {', '.join(SUBMISSION_RULES)}, not {shown(rule)}"
                     if not isinstance(rule, str) else
                     f"unknown rule {rule!r} (expected one of {', '.join(SUBMISSION_RULES)})")
            rule = "Add"
        rules.append(SUBMISSION_RULES.get(rule, rule))
        columns = _columns(plan, f"leaderboards[{i}]", as_list(plan, board.get("columns"), f"leaderboards[{i}].columns",
                                                               "columns (key, title, index, sorting)"))
        if not columns:
            plan.bad(f"leaderboards[{i}].columns", "a leaderboard needs at least one column")
        boards.append({"key": str(board.get("key") or f"leaderboard-{i}")[:64], "title": str(board.get("title") or "Results")[:200],
                       "index": board.get("index", i), "hidden": bool(board.get("hidden", False)),
                       "primary_column": board.get("primary_column"), "columns": columns,
                       **_bootstrap(plan, board.get("bootstrap"), f"leaderboards[{i}].bootstrap")})
    return boards, rules


def _code_reveal(plan: Plan, phase: dict, where: str, out: dict[str, Any]) -> None:
    """Podium's ``code_reveal`` and ``code_reveal_top`` keys of a phase (Codabench has none)."""
    if "code_reveal" in phase:
        mode = phase["code_reveal"]
        if isinstance(mode, str) and mode in CODE_REVEAL_MODES:
            out["code_reveal"] = mode
        else:
            plan.bad(f"{where}.code_reveal", f"must be one of {', '.join(CODE_REVEAL_MODES)}, not {shown(mode)}")
    if "code_reveal_top" in phase:
        out["code_reveal_top"] = as_int(plan, phase["code_reveal_top"], f"{where}.code_reveal_top", 3)


def _bootstrap(plan: Plan, raw: Any, where: str) -> dict[str, Any]:
    """Podium's ``bootstrap`` key of a leaderboard (Codabench has none): confidence intervals'
    ``resamples`` (0: none), ``level`` and ``seed``; each checked here so the error names it."""
    if raw is None:
        return {}
    raw = _mapping(plan, raw, where)
    settings: dict[str, Any] = {}
    for key, kind, ok, rule in (("resamples", int, lambda v: 0 <= v <= 100_000, "a whole number from 0 to 100000"),
                                ("level", float, lambda v: 0 < v < 1, "a number between 0 and 1, such as 0.95"),
                                ("seed", int, lambda v: 0 <= v < 2**31, "a whole number from 0")):
        if key not in raw:
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and not float(value).is_integer()) \
                or not ok(value):
            plan.bad(f"{where}.{key}", f"must be {rule}, not {shown(value)}")
            continue
        settings[key] = kind(value)
    unknown = sorted(str(k) for k in raw if k not in ("resamples", "level", "seed"))
    if unknown:
        plan.bad(where, f"unknown key(s) {', '.join(unknown)} (expected resamples, level, seed)")
    return {"bootstrap": settings}


def _columns(plan: Plan, board_where: str, raw_columns: list) -> list[dict[str, Any]]:
    """One leaderboard's columns: keys checked first, so computed columns can name others by index."""
    by_index, seen = {}, {}
    for j, column in enumerate(raw_columns):
        column = _mapping(plan, column, f"{board_where}.columns[{j}]")
        key = str(column.get("key") or "")
        if not key:
            plan.bad(f"{board_where}.columns[{j}].key", "is required")
        elif key in seen:
            plan.bad(f"{board_where}.columns[{j}].key", f"{key!r} is used twice (also columns[{seen[key]}])")
        seen.setdefault(key, j)
        index = as_key(plan, column.get("index", j), f"{board_where}.columns[{j}].index", "a number")
        by_index[j if index is None else index] = key
    columns = []
    for j, column in enumerate(raw_columns):
        if not isinstance(column, dict):
            continue
        where = f"{board_where}.columns[{j}]"
        index = column.get("index", j)
        index = index if isinstance(index, int | float | str) and not isinstance(index, bool) else j
        out = {"key": str(column.get("key") or f"column-{j}"), "title": str(column.get("title") or column.get("key") or "")[:200] or None,
               "index": index, "sorting": column.get("sorting", "desc"),
               "hidden": bool(column.get("hidden", False))}
        if out["sorting"] not in ("asc", "desc"):
            plan.bad(f"{where}.sorting", f"must be asc or desc, not {out['sorting']!r}")
        if column.get("precision") is not None:
            out["precision"] = as_int(plan, column["precision"], f"{where}.precision", None)
        elif not column.get("full_precision"):  # Podium's exports mark columns shown in full
            out["precision"] = DEFAULT_PRECISION
        computation = column.get("computation")
        if computation:
            if not isinstance(computation, str) or computation not in COMPUTATIONS:
                plan.bad(f"{where}.computation", f"unknown computation {shown(computation)} (expected avg, sum, min or max)")
                computation = "avg"
            indexes = as_list(plan, column.get("computation_indexes"), f"{where}.computation_indexes",
                              "column indexes (for example [0, 1])")
            keys = _computation_keys(plan, where, out["index"], indexes, by_index)
            out["computation"] = COMPUTATIONS.get(computation, "mean")
            out["computation_keys"] = keys
        columns.append(out)
    return columns


def _computation_keys(plan: Plan, where: str, own_index: Any, indexes: list, by_index: dict[Any, str]) -> list[str]:
    """The keys of the columns a computed column reads, from its ``computation_indexes``."""
    keys = []
    for ref in indexes:
        ref = as_key(plan, ref, f"{where}.computation_indexes", "a list of column indexes")
        if ref is None:
            continue
        if ref == own_index:
            plan.bad(f"{where}.computation_indexes", "references the column itself")
        elif ref not in by_index:
            plan.bad(f"{where}.computation_indexes", f"no column with index {ref}")
        else:
            keys.append(by_index[ref])
    if not indexes and not plan.problems_at(f"{where}.computation_indexes"):
        plan.bad(f"{where}.computation_indexes", "a computed column needs computation_indexes (for example [0, 1])")
    return keys


def _phase(plan: Plan, source, i: int, phase: dict, task_keys: dict[Any, str],
           boards: list[dict[str, Any]], rules: list[str]) -> dict[str, Any]:
    """One phase: dates, tasks, quotas with Codabench's defaults, flags, rule, leaderboard, public data."""
    where = f"phases[{i}]"
    start = read_when(plan, phase.get("start"), f"{where}.start")
    end = read_when(plan, phase.get("end"), f"{where}.end")
    if start is None and "start" not in phase:
        plan.bad(f"{where}.start", "is required")
    out = {
        "name": str(phase.get("name") or f"Phase {i + 1}")[:200],
        "description": str(phase.get("description") or ""),
        "index": phase.get("index", i),
        "start": start.isoformat() + "Z" if start else None,
        "end": end.isoformat() + "Z" if end else None,
        "tasks": _phase_tasks(plan, where, phase, task_keys),
        "_start": start,
        "_end": end,
    }
    for name, default in DEFAULTS.items():
        out[name] = as_int(plan, phase.get(name), f"{where}.{name}", default)
    if phase.get("execution_time_limit_ms") and "execution_time_limit" not in phase:
        # Codabench's v2 unpacker copies this key's value into the phase's limit, which its
        # compute worker reads in seconds: despite the name, the number is seconds
        out["execution_time_limit"] = as_int(plan, phase["execution_time_limit_ms"],
                                             f"{where}.execution_time_limit_ms", DEFAULTS["execution_time_limit"])
    if "auto_migrate_to_this_phase" in phase:
        out["auto_migrate"] = bool(phase["auto_migrate_to_this_phase"])
    for flag in ("hide_output", "hide_prediction_output", "hide_score_output", "show_scoring_output",
                 "count_failed_submissions", "accepts_notebooks"):
        if flag in phase:
            out[flag] = bool(phase[flag])
    if phase.get("max_submission_size"):
        out["max_submission_size"] = as_int(plan, phase["max_submission_size"], f"{where}.max_submission_size", None)
    if phase.get("leaderboard_visibility") in ("public", "participants", "private"):
        out["leaderboard_visibility"] = phase["leaderboard_visibility"]
    rule = phase.get("submission_rule") or (rules[0] if rules else None)
    if rule is not None and not isinstance(rule, str):
        plan.bad(f"{where}.submission_rule", f"must be one of {', '.join(SUBMISSION_RULES)}, not {shown(rule)}")
        rule = None
    if rule:
        out["submission_rule"] = SUBMISSION_RULES.get(rule, rule) if rule in SUBMISSION_RULES or rule in SUBMISSION_RULES.values() else "best"
    _code_reveal(plan, phase, where, out)
    board_key = phase.get("leaderboard") or (boards[0]["key"] if boards else None)
    if board_key:
        out["leaderboard"] = board_key
    for name in ("public_data", "starting_kit"):
        placeholder = plan.ref(phase.get(name), name, where, name, source)
        if placeholder:
            out[name] = placeholder
    return out


def _phase_tasks(plan: Plan, where: str, phase: dict, task_keys: dict[Any, str]) -> list[str]:
    """The keys of a phase's tasks, named by Codabench index or (in Podium's exports) by key."""
    keys = []
    for t in as_list(plan, phase.get("tasks"), f"{where}.tasks", "task indexes (for example [0, 1])"):
        t = as_key(plan, t, f"{where}.tasks", "a list of task indexes (for example [0, 1])")
        if t is None:
            continue
        if t in task_keys:
            keys.append(task_keys[t])
        elif t in task_keys.values():
            keys.append(t)
        else:
            plan.bad(f"{where}.tasks", f"no task with index {t!r}")
    if not phase.get("tasks"):
        plan.bad(f"{where}.tasks", "a phase needs at least one task (a list of task indexes, for example [0])")
    return keys


def _read_podium_keys(plan: Plan, data: dict, body: dict[str, Any]) -> None:
    """What Podium's own exports add (fact sheet, hub groups, listing, group registration)."""
    if data.get("fact_sheet"):
        if isinstance(data["fact_sheet"], dict):
            body["fact_sheet"] = data["fact_sheet"]
        else:
            plan.bad("fact_sheet", "must be a mapping of question key to question")
    for name in ("participant_groups", "organizer_group", "listed"):
        if name in data:
            body[name] = data[name]
    if data.get("registration_mode") == "groups":
        body["registration_mode"] = "groups"
