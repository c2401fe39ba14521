"""Fact sheets: questions a competition asks with every submission (Codabench's ``fact_sheet``),
checked when the submission is created and shown as leaderboard columns when the competition says
so (``is_on_leaderboard``)."""

from __future__ import annotations

from typing import Any

from ..errors import ValidationFailed


def validate_answers(questions: dict[str, dict[str, Any]], answers: dict[str, Any]) -> dict[str, Any]:
    """The answers, checked against the questions; every problem is reported at once."""
    problems = []
    for key in answers:
        if key not in questions:
            problems.append({"location": f"fact_sheet.{key}", "message": "no such question"})
    clean: dict[str, Any] = {}
    for key, question in (questions or {}).items():
        where = f"fact_sheet.{key}"
        if key not in answers or answers[key] in ("", None):
            if question.get("is_required"):
                problems.append({"location": where, "message": f"is required ({question.get('title', key)})"})
            continue
        value = answers[key]
        kind = question.get("type")
        if kind == "checkbox" and not isinstance(value, bool):
            problems.append({"location": where, "message": f"must be true or false, not {value!r}"})
        elif kind == "select" and value not in (question.get("selection") or []):
            options = ", ".join(map(str, question.get("selection") or []))
            problems.append({"location": where, "message": f"must be one of {options}, not {value!r}"})
        elif kind == "text" and (not isinstance(value, str) or len(value) > 2000):
            problems.append({"location": where, "message": "must be text of at most 2000 characters"})
        else:
            clean[key] = value
    if problems:
        raise ValidationFailed(
            "Invalid fact sheet: " + "; ".join(f"{p['location']}: {p['message']}" for p in problems), problems
        )
    return clean


def leaderboard_questions(questions: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    return [{"key": k, "title": q.get("title", k)} for k, q in (questions or {}).items() if q.get("is_on_leaderboard")]
