"""Leaderboards kept in the database: rebuilt on writes, read with one bounded query.

Ranking itself is pure (``podium.server.leaderboard``). This module feeds it whenever something
that changes the ranking happens, and stores the ranked rows in ``leaderboard_entries``: a
leaderboard redefined or a phase's rule changed re-reads every finished submission; one
participant's new score or selection re-ranks from the stored entries and that participant's
candidates, writing only the rows that move (``rebuild``). A big phase's full re-read and
ranking runs in a child process when the service has one (``ranking_process``). Reading a page
of a leaderboard is then ``ORDER BY rank LIMIT n``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, case, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ..errors import Conflict, ValidationFailed
from ..lru import LeastRecentlyUsed
from ..offloop import collector_paused
from ..orm import (
    Leaderboard,
    LeaderboardEntry,
    Phase,
    Score,
    Submission,
    SubmissionRule,
    SubmissionStatus,
    Team,
)
from ..submissions import fact_sheets as facts
from ..submissions import task_scores
from ..teams import competitors
from . import uncertainty
from .ranking import (
    ColumnSpec,
    RankedEntry,
    ScoredSubmission,
    build_leaderboard,
    format_interval,
    format_value,
)
from .rerank import (
    EntryChanges,
    entry_as_submission,
    entry_changes,
    owners_rank_apart,
    rerank_owner,
)


def column_specs(board: Leaderboard) -> list[ColumnSpec]:
    return [
        ColumnSpec(
            key=c.key,
            title=c.title,
            index=c.index,
            sorting=c.sorting,  # type: ignore[arg-type]
            precision=c.precision,
            hidden=c.hidden,
            computation=c.computation,  # type: ignore[arg-type]
            computation_keys=tuple(c.computation_keys or ()),
        )
        for c in board.columns
    ]


#: rows per batch when a rebuild reads every submission of a phase
STREAM_BATCH = 5_000


def ranked_conditions(phase_id: int) -> list[ColumnElement[bool]]:
    """The phase's submissions a leaderboard ranks: finished, top level, not dry runs."""
    return [
        Submission.phase_id == phase_id,
        Submission.parent_id.is_(None),
        Submission.status == SubmissionStatus.finished,
        Submission.is_dry_run.is_(False),
    ]


def scored_submissions(session: Session, phase: Phase, owner: str | None = None,
                        submission_id: int | None = None) -> list[ScoredSubmission]:
    """The phase's ranked submissions (finished, top level, not dry runs) with their scores;
    only ``owner``'s, or only submission ``submission_id``, when given. A team's submissions rank
    under the team's key (``teams.competitors``): one row per team."""
    ranked = ranked_conditions(phase.id)
    if owner is not None:
        ranked.append(competitors.rows_of(owner, phase.competition_id))
    if submission_id is not None:
        ranked.append(Submission.id == submission_id)
    # one outer join (a submission row per score): not one query for the submissions and IN lists
    # of their ids for the scores, which PostgreSQL read with a scan of the whole scores table
    # per 5,000-id list, 200 of them at 1,000,000 rows (bench B8: 15 of the rebuild's 23 s)
    # and streamed in batches (a server-side cursor on PostgreSQL): the driver builds rows in C
    # holding the GIL, and a million at once kept the event loop's thread waiting for a second
    # (bench B9); between batches the loop gets its turn
    found: dict[int, ScoredSubmission] = {}
    scores: dict[int, dict[str, float]] = {}
    for sid, who, team, created_at, selected, key, value in session.execute(
        select(Submission.id, Submission.owner, Team.name, Submission.created_at, Submission.selected,
               Score.column_key, Score.value)
        .outerjoin(Score, Score.submission_id == Submission.id)
        .outerjoin(Team, Team.id == Submission.team_id)
        .where(*ranked),
        execution_options={"yield_per": STREAM_BATCH},
    ):
        if sid not in found:
            scores[sid] = {}
            found[sid] = ScoredSubmission(submission_id=sid, owner=competitors.row_key(who, team),
                                          created_at=created_at, scores=scores[sid], selected=selected)
        if key is not None:
            scores[sid][key] = value
    return list(found.values())


def _standing_entries(session: Session, phase_id: int) -> list[RankedEntry]:
    """The stored leaderboard of the phase, as the ranking functions return it."""
    return [
        RankedEntry(rank=r.rank, submission_id=r.submission_id, owner=r.owner, created_at=r.submitted_at,
                    values=r.values or {})
        for r in session.execute(
            select(LeaderboardEntry.rank, LeaderboardEntry.submission_id, LeaderboardEntry.owner,
                   LeaderboardEntry.submitted_at, LeaderboardEntry.values)
            .where(LeaderboardEntry.phase_id == phase_id)
        )
    ]


#: beyond this many moving runs of ranks, rewriting the whole leaderboard is the simpler write
MAX_SHIFT_RUNS = 20


#: the key of ``Session.info`` under which the service's sessions carry its
#: ``ranking_process.RankingProcess`` (sessions without it rank in their own thread)
RANKING_PROCESS = "podium.leaderboards.ranking_process"


def rebuild(session: Session, phase: Phase, owner: str | None = None, finished: int | None = None, *,
            rows_unchanged: bool = False) -> int:
    """Recompute and store the phase's leaderboard; returns the number of rows.

    With ``owner`` the caller says only that participant's submissions changed (a selection, or
    ``finished``: the id of their submission that just got its scores). Unless an ``avg_rank``
    column ties every value to the whole set, the others' stored entries stand and only
    ``owner``'s candidates are ranked again with them (``rerank_owner``): their standing
    entries and the finished submission under the ``best``, ``last`` and ``all`` rules (the
    best or last of a set grows one at a time), else all their submissions. Only the rows that
    change are written (``entry_changes``). The cost follows the leaderboard's size, not the
    phase's history (bench B8: 1,000,000 submissions). Anything else re-reads every submission.

    ``rows_unchanged``: the caller's transaction changed how the phase ranks (its leaderboard's
    definition, its rule) and nothing the ranking reads (submissions, scores, teams). A full
    rebuild of a big phase may then read and rank in a child process, which sees committed rows
    only (``ranking_process``; the session must carry one under ``RANKING_PROCESS``, as the
    service's do); the entries are written here all the same.

    Bumps the phase's ``leaderboard_version`` first, in the same transaction (an SQL increment,
    so two concurrent rebuilds never share a version): cached pages of the old version stop
    matching, and the phase row's lock makes concurrent rebuilds of one phase take turns, each
    reading what the one before it committed.
    """
    session.execute(
        update(Phase).where(Phase.id == phase.id)
        .values(leaderboard_version=Phase.leaderboard_version + 1)
        .execution_options(synchronize_session="fetch")
    )
    board = phase.leaderboard
    columns = column_specs(board) if board is not None else []
    rule = phase.submission_rule.value
    ranked: list[RankedEntry] | None = None
    process = session.info.get(RANKING_PROCESS)
    if process is not None and columns and (owner is None or not owners_rank_apart(columns)):
        ranked = process.rank(session, phase.id, columns, rule, board.primary_column_key,
                              rows_unchanged=rows_unchanged and owner is None)
    with collector_paused():  # a full rebuild makes an object per submission (bench B9)
        return _rank_and_store(session, phase, owner, finished, columns, rule, ranked)


def _rank_and_store(session: Session, phase: Phase, owner: str | None, finished: int | None,
                    columns: list[ColumnSpec], rule: str, ranked: list[RankedEntry] | None) -> int:
    """Rank in this thread unless ``ranked`` came from the child, then write what changed."""
    board = phase.leaderboard
    standing: list[RankedEntry] | None = None
    if ranked is None and columns and owner is not None and owners_rank_apart(columns):
        standing = _standing_entries(session, phase.id)
        if finished is not None and rule != "selected":
            mine = [entry_as_submission(e) for e in standing if e.owner == owner and e.submission_id != finished]
            mine += scored_submissions(session, phase, owner, submission_id=finished)
        else:
            mine = scored_submissions(session, phase, owner)
        ranked = rerank_owner(standing, owner, mine, columns, rule, board.primary_column_key)
    elif ranked is None:
        ranked = build_leaderboard(scored_submissions(session, phase), columns, rule,
                                   board.primary_column_key) if columns else []
    changes = entry_changes(standing, ranked) if standing is not None else None
    if changes is None or len(changes.shifts) > MAX_SHIFT_RUNS:
        session.execute(delete(LeaderboardEntry).where(LeaderboardEntry.phase_id == phase.id))
        changes = EntryChanges(removed=[], shifts=[], added=ranked)
    _write_changes(session, phase.id, changes)
    return len(ranked)


def _write_changes(session: Session, phase_id: int, changes: EntryChanges) -> None:
    """Deletes, then every rank move in one UPDATE (each row's new rank from its old one), then inserts."""
    entries = LeaderboardEntry.__table__
    if changes.removed:
        session.execute(delete(entries).where(entries.c.phase_id == phase_id,
                                              entries.c.submission_id.in_(changes.removed)))
    if changes.shifts:
        ranges = [(entries.c.rank.between(lo, hi), delta) for lo, hi, delta in changes.shifts]
        session.execute(
            update(entries)
            .where(entries.c.phase_id == phase_id, or_(*(r for r, _ in ranges)))
            .values(rank=case(*((r, entries.c.rank + delta) for r, delta in ranges), else_=entries.c.rank))
        )
    if changes.added:
        session.execute(
            insert(entries),
            [
                {
                    "phase_id": phase_id,
                    "submission_id": e.submission_id,
                    "owner": e.owner,
                    "rank": e.rank,
                    "values": dict(e.values),
                    "submitted_at": e.created_at,
                }
                for e in changes.added
            ],
        )


def rebuild_for_leaderboard(session: Session, board: Leaderboard) -> None:
    """Re-rank every phase of a leaderboard whose definition alone changed in this transaction."""
    for phase in session.scalars(select(Phase).where(Phase.leaderboard_id == board.id)):
        rebuild(session, phase, rows_unchanged=True)


def _interval(raw: Any) -> tuple[float, float]:
    """A reported ``[low, high]`` as two finite floats (not checked against the score: a bootstrap
    interval of a mean need not hold a score that is not that mean); ValueError says why not."""
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        raise ValueError("the interval is not [low, high]")
    low, high = float(raw[0]), float(raw[1])
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError("the interval's bounds are not finite with low <= high")
    return low, high


def record_scores(session: Session, submission: Submission, scores: Mapping[str, Any],
                  intervals: Mapping[str, Any] | None = None) -> None:
    """Write a submission's scores once, as Codabench's ``upload_submission_scores`` does.

    Only the keys that are (non-computed) columns of the phase's leaderboard are kept; other keys
    are ignored. A column the scoring program did not write stays missing (ranked last), so a
    task of a multi-task phase or a program that writes some columns is stored as it is. Every
    kept value must be a finite number; anything else is refused with the key named (never the
    value, which comes from the scoring program), so the caller can fail the submission clearly.
    """
    if session.scalar(select(func.count(Score.id)).where(Score.submission_id == submission.id)):
        raise Conflict(f"Submission {submission.id} already has scores; scores are written once.")
    board = submission.phase.leaderboard
    wanted = None if board is None else {c.key for c in board.columns if c.computation is None}
    if wanted is not None:
        wanted |= set(submission.phase.private_scores or ())  # the private board's keys (classroom.reveal)
    problems = []
    values: dict[str, float] = {}
    for key, raw in scores.items():
        if wanted is not None and str(key) not in wanted:
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            problems.append({"location": key, "message": "not a number"})
            continue
        if not math.isfinite(value):
            problems.append({"location": key, "message": "not a finite number"})
            continue
        values[str(key)] = value
    bounds: dict[str, tuple[float, float]] = {}
    for key, raw in (intervals or {}).items():
        if str(key) not in values:
            continue  # an interval of a column that is not stored is as ignored as its score
        try:
            bounds[str(key)] = _interval(raw)
        except (TypeError, ValueError) as e:
            problems.append({"location": f"{key} interval", "message": str(e) if isinstance(e, ValueError) else "not numbers"})
    if problems:
        raise ValidationFailed(
            "Invalid scores: " + "; ".join(f"{p['location']}: {p['message']}" for p in problems), problems
        )
    session.add_all(Score(submission_id=submission.id, column_key=k, value=v,
                          low=bounds.get(k, (None, None))[0], high=bounds.get(k, (None, None))[1])
                    for k, v in values.items())
    session.flush()


class PageCache(LeastRecentlyUsed[tuple, str]):
    """Leaderboard pages as the API returns them (JSON text), keyed by the phase's
    ``leaderboard_version``.

    A leaderboard is read far more often than it changes (bench B2): a page is built once per
    version of the stored ranking and served from memory until a rebuild bumps the version. The
    version is read with the phase row, which every request loads anyway, so a cache in each
    service process stays exact when several processes share the database. Bounded, least
    recently used out first. A page is kept as its text only: as objects, a page of 100 entries
    held four times the memory (84 KB against 19), in every service process (bench B7).
    """

    def __init__(self, size: int = 256) -> None:
        super().__init__(size)


PAGES = PageCache()


def page_identity(
    engine: Engine,
    *,
    phase_id: int,
    version: int,
    rule: SubmissionRule,
    leaderboard: tuple[int | None, str | None, str | None],
    competition_updated_at: object,
) -> tuple:
    """The part of a page's cache key that the stored ranking's version does not cover: the
    database, the phase's rule and leaderboard (id, key, title), and the competition's last
    change (its fact sheet's leaderboard questions become columns). Built the same way from ORM
    objects here and from the fast path's row (``leaderboards.reads``)."""
    return (engine.url, phase_id, version, rule, leaderboard, competition_updated_at)


def _page_key(session: Session, phase: Phase, limit: int, offset: int, show_hidden: bool) -> tuple:
    board = phase.leaderboard
    identity = page_identity(
        session.get_bind(),
        phase_id=phase.id,
        version=phase.leaderboard_version,
        rule=phase.submission_rule,
        leaderboard=(board.id, board.key, board.title) if board else (None, None, None),
        competition_updated_at=phase.competition.updated_at,
    )
    return (identity, limit, offset, show_hidden)


def _cached_page(session: Session, phase: Phase, limit: int, offset: int, show_hidden: bool) -> str:
    """The page's JSON text, built and remembered when it is not cached yet."""
    key = _page_key(session, phase, limit, offset, show_hidden)
    cached = PAGES.get(key)
    if cached is None:
        cached = json.dumps(_build_page(session, phase, limit=limit, offset=offset, show_hidden=show_hidden),
                            default=str)
        PAGES.put(key, cached)
    return cached


def _with_me(text: str, me: str) -> str:
    return text[:-1] + ', "me": ' + json.dumps(me) + "}"


def cached_page_json(identity: tuple, *, limit: int, offset: int, show_hidden: bool, me: str) -> str | None:
    """The page's JSON from the cache alone (the fast path), or None when it is not built yet."""
    cached = PAGES.get((identity, limit, offset, show_hidden))
    return None if cached is None else _with_me(cached, me)


def read_page(
    session: Session, phase: Phase, *, limit: int, offset: int, show_hidden: bool
) -> dict[str, Any]:
    """One page of a phase's leaderboard, as the API returns it: objects of its own, decoded
    from the cached text (for the CSV export and the HTML page; the JSON API sends the text)."""
    return json.loads(_cached_page(session, phase, limit, offset, show_hidden))


def read_page_json(
    session: Session, phase: Phase, *, limit: int, offset: int, show_hidden: bool, me: str
) -> str:
    """The same page as JSON text with the caller's name as ``me``, encoded once per version."""
    return _with_me(_cached_page(session, phase, limit, offset, show_hidden), me)


def _build_page(
    session: Session, phase: Phase, *, limit: int, offset: int, show_hidden: bool
) -> dict[str, Any]:
    board = phase.leaderboard
    columns = [c for c in (board.columns if board else []) if show_hidden or not c.hidden]
    total = session.scalar(
        select(func.count(LeaderboardEntry.id)).where(LeaderboardEntry.phase_id == phase.id)
    )
    # plain rows, not ORM objects: this is the hot read path (see bench B2)
    entries = session.execute(
        select(LeaderboardEntry.rank, LeaderboardEntry.owner, LeaderboardEntry.submission_id,
               LeaderboardEntry.submitted_at, LeaderboardEntry.values)
        .where(LeaderboardEntry.phase_id == phase.id)
        .order_by(LeaderboardEntry.rank)
        .limit(limit)
        .offset(offset)
    ).all()
    questions = facts.leaderboard_questions(phase.competition.fact_sheet or {})
    # a multi-task phase shows every task's scores (its children's), as Codabench does
    per_task = task_scores.by_task(session, [e.submission_id for e in entries]) if len(phase.phase_tasks) > 1 else None
    bounds = _page_intervals(session, phase, board, entries)
    answers: dict[int, dict] = {}
    if questions and entries:
        answers = dict(session.execute(
            select(Submission.id, Submission.fact_sheet_answers).where(Submission.id.in_([e.submission_id for e in entries]))
        ).all())
    return {
        "phase": phase.id,
        "fact_columns": questions,
        "leaderboard": board.key if board else None,
        "title": board.title if board else None,
        "submission_rule": phase.submission_rule.value,
        "columns": [
            {
                "key": c.key,
                "title": c.title,
                "sorting": c.sorting,
                "precision": c.precision,
                "computation": c.computation,
                "hidden": c.hidden,
            }
            for c in columns
        ],
        **({} if bounds is None else {"tied_on": bounds.column, "confidence_level": board.bootstrap_level}),
        "total": total or 0,
        "limit": limit,
        "offset": offset,
        "entries": [
            {
                "rank": e.rank,
                "owner": e.owner,
                "team": competitors.team_named(e.owner),
                "submission": e.submission_id,
                "submitted_at": e.submitted_at.isoformat() + "Z",
                "scores": {c.key: (e.values or {}).get(c.key) for c in columns},
                "display": {c.key: format_value((e.values or {}).get(c.key), c.precision) for c in columns},
                "facts": {q["key"]: (answers.get(e.submission_id) or {}).get(q["key"]) for q in questions},
                **({} if per_task is None else {"tasks": {
                    task: {c.key: values[c.key] for c in columns if c.key in values}
                    for task, values in per_task.get(e.submission_id, {}).items()}}),
                **({} if bounds is None else {
                    "intervals": {c.key: list(bounds.intervals[e.submission_id][c.key]) for c in columns
                                  if c.key in bounds.intervals.get(e.submission_id, {})},
                    "interval_display": {c.key: format_interval(bounds.intervals[e.submission_id][c.key], c.precision)
                                         for c in columns if c.key in bounds.intervals.get(e.submission_id, {})},
                    "tied_with_leader": bounds.tied[e.submission_id],
                }),
            }
            for e in entries
        ],
    }


@dataclass(frozen=True)
class PageIntervals:
    intervals: dict[int, dict[str, uncertainty.Interval]]
    tied: dict[int, bool]
    #: the column the ties are judged on
    column: str | None


def _page_intervals(session: Session, phase: Phase, board: Leaderboard | None,
                    entries: list) -> PageIntervals | None:
    """The page's intervals and ties with the leader, or None when the phase has no intervals
    (the page then looks as it always did)."""
    if board is None or not entries:
        return None
    leader = session.scalar(select(LeaderboardEntry.submission_id)
                            .where(LeaderboardEntry.phase_id == phase.id).order_by(LeaderboardEntry.rank).limit(1))
    found = uncertainty.intervals_of(session, [e.submission_id for e in entries] + [leader])
    if not found:
        return None
    column = board.primary_column.key if board.primary_column is not None else None
    ties = uncertainty.tied_with_leader([(e.rank, e.submission_id) for e in entries], found, leader, column)
    return PageIntervals(found, ties, column)


def _cell(value: Any) -> Any:
    """Neutralize spreadsheet formulas in text cells (user names are free text)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(page: dict[str, Any]) -> str:
    """The leaderboard page as CSV: rank, participant, submission, time, then each column; with
    confidence intervals, each column that has them is followed by its low and high bounds, and
    a last column says who is statistically tied with the leader."""
    out = io.StringIO()
    writer = csv.writer(out)
    has_bounds = {k for e in page["entries"] for k in e.get("intervals", {})}
    header = ["rank", "participant", "submission", "submitted_at"]
    for c in page["columns"]:
        header += [c["title"]] + ([f"{c['title']} low", f"{c['title']} high"] if c["key"] in has_bounds else [])
    tied = any("tied_with_leader" in e for e in page["entries"])
    writer.writerow(header + (["tied with leader"] if tied else []))
    for entry in page["entries"]:
        row = [entry["rank"], _cell(entry["owner"]), entry["submission"], entry["submitted_at"]]
        for c in page["columns"]:
            row.append(entry["display"][c["key"]] if entry["display"][c["key"]] is not None else "")
            if c["key"] in has_bounds:
                low, high = entry.get("intervals", {}).get(c["key"], ("", ""))
                row += [low, high]
        writer.writerow(row + ([entry.get("tied_with_leader", False)] if tied else []))
    return out.getvalue()
