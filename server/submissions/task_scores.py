"""A multi-task submission's scores, kept per task as Codabench keeps them: each task's scores on
its own child submission (listed by the API and shown on the leaderboard entry), and on the
parent, which is what ranks, one value per column: the mean over the tasks that wrote it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from ..orm import Score, Submission, Task


def parent_scores(per_task: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The parent's value of each column: the mean of the tasks' values (one task: its value).
    Codabench adds every task's score to the parent; a leaderboard ranks on one value, and the
    mean keeps every task in it instead of the last one to finish."""
    totals: dict[str, list[float]] = {}
    for scores in per_task:
        for key, value in scores.items():
            totals.setdefault(key, []).append(value)
    return {key: sum(values) / len(values) for key, values in totals.items()}


def by_task(session: Session, parent_ids: Iterable[int]) -> dict[int, dict[str, dict[str, float]]]:
    """Each parent's children's scores, by the task's key: ``{parent: {task key: {column: value}}}``,
    in one query."""
    ids = list(parent_ids)
    found: dict[int, dict[str, dict[str, float]]] = {}
    if not ids:
        return found
    child = aliased(Submission)
    for parent_id, task_key, column, value in session.execute(
        select(child.parent_id, Task.key, Score.column_key, Score.value)
        .join(Task, Task.id == child.task_id)
        .outerjoin(Score, Score.submission_id == child.id)
        .where(child.parent_id.in_(ids))
        .order_by(child.id)
    ):
        tasks = found.setdefault(parent_id, {}).setdefault(task_key, {})
        if column is not None:
            tasks[column] = value
    return found
