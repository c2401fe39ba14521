"""Rendering shared by the widgets: times, quotas, errors, tables, a score plot.

Everything here is a pure function of API models (and ``now``), so the sentences a participant
reads can be tested without a browser and reused by the participant, organizer and admin views.
"""

from __future__ import annotations

import html
import io
from datetime import UTC, datetime
from typing import Any

from .client import PodiumAPIError, QuotaExceeded


def parse_time(value: str | None) -> datetime | None:
    """An API timestamp (ISO 8601, ``Z``) as an aware UTC datetime."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def duration(seconds: float) -> str:
    """``3 h 12 min``, ``4 min``, ``2 days 3 h``: what a person wants to know, not more."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} day{'s' if days > 1 else ''}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return "less than a minute"


def when(value: str | None, now: datetime | None = None) -> str:
    """``2025-03-01 00:00 UTC (in 3 h 12 min)`` or ``(5 min ago)``."""
    moment = parse_time(value)
    if moment is None:
        return "never"
    delta = (moment - (now or utcnow())).total_seconds()
    relative = f"in {duration(delta)}" if delta >= 0 else f"{duration(-delta)} ago"
    return f"{moment:%Y-%m-%d %H:%M} UTC ({relative})"


def reset_time(value: str | None, now: datetime | None = None) -> str:
    """``00:00 UTC (in 3 h 12 min)``: the daily reset is always within a day, so no date."""
    moment = parse_time(value)
    if moment is None:
        return "an unknown time"
    return f"{moment:%H:%M} UTC (in {duration((moment - (now or utcnow())).total_seconds())})"


def quota_sentence(quota: dict[str, Any] | None, now: datetime | None = None) -> str:
    """How many submissions are left today and in the phase, and when the daily count resets."""
    if not quota:
        return "Register to see your submission quota."
    parts = []
    if quota.get("max_per_day") is not None:
        parts.append(f"{quota['remaining_today']} of {quota['max_per_day']} submissions left today "
                     f"(the count resets at {reset_time(quota.get('resets_at'), now)})")
    if quota.get("max_total") is not None:
        parts.append(f"{quota['remaining_total']} of {quota['max_total']} left in this phase")
    if not parts:
        return "No limit on submissions in this phase."
    return "; ".join(parts) + "."


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def error_sentence(exc: BaseException, phase: dict[str, Any] | None = None,
                   now: datetime | None = None) -> str:
    """An error as a sentence for the participant. A quota error says how many submissions were
    used and when more are allowed, not the service's timestamp."""
    if isinstance(exc, QuotaExceeded):
        phase = phase or {}
        if exc.resets_at:
            limit = phase.get("max_submissions_per_day")
            used = f"your {plural(limit, 'submission')}" if limit else "all your submissions"
            return f"You have used {used} for today; the quota resets at {reset_time(exc.resets_at, now)}."
        limit = phase.get("max_submissions")
        used = f"your {plural(limit, 'submission')}" if limit else "all your submissions"
        return f"You have used {used} in this phase; no more can be made in it."
    if isinstance(exc, PodiumAPIError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def status_sentence(submission: dict[str, Any]) -> str:
    """One line on where a submission is."""
    status = submission["status"]
    sid = submission["id"]
    if status == "failed":
        return f"Submission {sid} failed: {submission.get('failure_reason') or 'no reason was given'}"
    waiting = {"submitting": "uploading", "submitted": "queued, waiting for a worker",
               "running": "running", "scoring": "scoring"}
    return f"Submission {sid}: {waiting.get(status, status)}"


def queue_sentence(queue: dict[str, Any], now: datetime | None = None) -> str:
    """Where a waiting submission stands: ``2nd of 3 waiting in queue 'default'; starts in about
    4 min, done in about 6 min`` (estimates from recent runs), or that no worker serves the queue."""
    place = queue["position"]
    suffix = "th" if 10 <= place % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(place % 10, "th")
    sentence = f"{place}{suffix} of {queue['waiting']} waiting in queue '{queue['name']}'"
    if not queue.get("workers"):
        return f"{sentence}; no worker is serving this queue"
    start, finish = parse_time(queue.get("estimated_start")), parse_time(queue.get("estimated_finish"))
    if start is None:
        return f"{sentence}; no recent run to estimate its start from"
    current = now or utcnow()
    sentence += f"; starts in about {duration((start - current).total_seconds())}"
    if finish is not None:
        sentence += f", done in about {duration((finish - current).total_seconds())}"
    return sentence


def format_score(value: Any, precision: int | None = None) -> str:
    if isinstance(value, float) and precision is not None:
        return f"{value:.{precision}f}"
    return "–" if value is None else str(value)


def scores_sentence(scores: dict[str, Any] | None, columns: list[dict[str, Any]] | None = None) -> str:
    """``Accuracy 0.750, Runtime 1.5`` in the leaderboard's column order and precision."""
    if not scores:
        return "no scores"
    titles = {c["key"]: c for c in columns or []}
    ordered = [k for k in titles if k in scores] + [k for k in scores if k not in titles]
    return ", ".join(
        f"{titles.get(k, {}).get('title', k)} {format_score(scores[k], titles.get(k, {}).get('precision'))}"
        for k in ordered
    )


TABLE_STYLE = "border-collapse:collapse;font-size:13px"
CELL = "padding:3px 8px;border-bottom:1px solid #ddd;text-align:left"
MINE = "background:#fff3c4;font-weight:bold"


def html_table(headers: list[str], rows: list[list[Any]], highlight: set[int] | None = None,
               css_class: str = "podium-table") -> str:
    """A plain HTML table (no extra packages), every cell escaped; rows in ``highlight`` marked."""
    head = "".join(f'<th style="{CELL}">{html.escape(str(h))}</th>' for h in headers)
    body = []
    for i, row in enumerate(rows):
        style = f' class="podium-mine" style="{MINE}"' if highlight and i in highlight else ""
        cells = "".join(f'<td style="{CELL}">{html.escape(str(c))}</td>' for c in row)
        body.append(f"<tr{style}>{cells}</tr>")
    return f'<table class="{css_class}" style="{TABLE_STYLE}"><tr>{head}</tr>{"".join(body)}</table>'


def leaderboard_html(board: dict[str, Any], me: str | None = None, team: str | None = None) -> str:
    """A phase's leaderboard page as a table; ``me``'s rows (and my ``team``'s) highlighted."""
    if not board.get("entries"):
        return "<p>The leaderboard is empty: no submission has been scored yet.</p>"
    columns = [c for c in board["columns"] if not c.get("hidden")]
    tied_on = board.get("tied_on")  # the board has confidence intervals
    rows, mine = [], set()
    for i, entry in enumerate(board["entries"]):
        display = entry.get("display") or {}
        bounds = entry.get("interval_display") or {}
        values = [f"{display.get(c['key'], format_score(entry['scores'].get(c['key']), c.get('precision')))}"
                  + (f" {bounds[c['key']]}" if c["key"] in bounds else "")
                  for c in columns]
        tied = ["≈ tied" if entry.get("tied_with_leader") else ""] if tied_on else []
        who = f"team {entry['team']}" if entry.get("team") else entry["owner"]
        rows.append([entry["rank"], who, *values, *tied, (entry.get("submitted_at") or "")[:16].replace("T", " ")])
        if (me and entry["owner"] == me) or (team and entry.get("team") == team):
            mine.add(i)
    title = html.escape(board.get("title") or "Leaderboard")
    headers = ["#", "participant", *[c["title"] for c in columns], *(["tied with leader"] if tied_on else []), "submitted"]
    table = html_table(headers, rows, mine, "podium-leaderboard")
    more = f"<p>Showing {len(rows)} of {board['total']}.</p>" if board.get("total", 0) > len(rows) else ""
    return f"<h4>{title}</h4>{table}{more}"


def shown_total(answer: dict[str, Any]) -> str:
    """A list answer's ``total`` as people read it: "1,234", or "10,000+" past the count's cap."""
    return f"{answer.get('total', 0):,}{'+' if answer.get('total_is_lower_bound') else ''}"


def history_html(submissions: list[dict[str, Any]], column: str | None) -> str:
    """My submissions, newest first: when, status, the primary score and the description."""
    if not submissions:
        return "<p>You have not submitted to this phase yet.</p>"
    rows = [
        [s["id"], (s.get("created_at") or "")[:16].replace("T", " "), s["status"],
         format_score((s.get("scores") or {}).get(column)) if column else "", s.get("description") or ""]
        for s in submissions
    ]
    return html_table(["id", "created (UTC)", "status", column or "score", "description"], rows,
                      css_class="podium-history")


def score_plot_png(submissions: list[dict[str, Any]], column: str, title: str = "") -> bytes | None:
    """A PNG of ``column`` over time for finished submissions, or None without matplotlib or
    without two points to draw (one point is no trend; the table shows it)."""
    points = sorted(
        (parse_time(s.get("created_at")), s["scores"][column])
        for s in submissions
        if s["status"] == "finished" and isinstance((s.get("scores") or {}).get(column), int | float)
    )
    if len(points) < 2:
        return None
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    figure = Figure(figsize=(5, 2.6), dpi=90)
    axes = figure.add_subplot()
    axes.plot([p[0] for p in points], [p[1] for p in points], marker="o")
    axes.set_ylabel(title or column)
    axes.set_title(f"My {title or column} over time", fontsize=10)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
