"""The organizer panel's course tabs (late policy and extensions, the reveal, grades) and the
participant widget's final tab (my deadline, my final selection, the private board's shake-up).

As in the rest of the panel, every button calls a plain method a notebook may call too
(``grant_extension``, ``save_late_policy``, ``reveal``, ``grades``, ``export_grades``), and what
it changed is kept in attributes (``message``, ``last_export``) so it can be checked headless.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as w

from .authoring import iso_utc
from .client import PodiumAPIError
from .display import html_table

GRADE_LAYOUTS = ("podium", "canvas", "moodle")


class CourseTabs:
    """Mixed into ``OrganizerPanel``: needs its ``client``, ``slug``, ``competition``,
    ``phase_id``, ``export_dir``, ``_say``, ``_guard`` and ``_save_and_offer``."""

    def _build_course_widgets(self) -> None:
        self.extension_user = w.Text(description="Student", placeholder="hub user name, or team/<name>")
        self.extension_end = w.Text(description="Until", placeholder="2026-12-24T12:00:00Z")
        self.extension_reason = w.Text(description="Reason")
        self.extension_button = w.Button(description="Grant extension")
        self.extension_button.on_click(lambda _: self._guard(self.grant_extension))
        self.grace_input = w.FloatText(description="Grace (h)")
        self.penalty_kind = w.Dropdown(description="Penalty", options=["none", "fixed", "per_day"])
        self.penalty_value = w.BoundedFloatText(description="Deduct", min=0, max=1, step=0.05)
        self.policy_button = w.Button(description="Save late policy")
        self.policy_button.on_click(lambda _: self._guard(self.save_late_policy))
        self.deadlines_html = w.HTML()
        self.reveal_button = w.Button(description="Reveal private leaderboard", button_style="warning", icon="eye")
        self.reveal_button.on_click(lambda _: self._guard(self.reveal))
        self.private_html = w.HTML()
        self.grade_layout = w.Dropdown(description="Layout", options=list(GRADE_LAYOUTS))
        self.grades_button = w.Button(description="Export grades CSV", icon="download")
        self.grades_button.on_click(lambda _: self._guard(lambda: self.export_grades(self.grade_layout.value)))
        self.grades_html = w.HTML()
        self.grades_link = w.HTML()

    def _course_sections(self) -> list[tuple[str, w.Widget]]:
        """The tabs, for the chosen phase (refreshed with it)."""
        phase = self._phase()
        if phase is None:
            return []
        self.grace_input.value = (phase.get("grace_seconds") or 0) / 3600
        self.penalty_kind.value = phase.get("late_penalty_kind") or "none"
        self.penalty_value.value = phase.get("late_penalty_value") or 0.0
        self._show_extensions(phase)
        self._show_private(phase)
        return [
            ("Late policy", w.VBox([self.deadlines_html, w.HBox([self.grace_input, self.penalty_kind,
                                                                 self.penalty_value, self.policy_button]),
                                    w.HBox([self.extension_user, self.extension_end, self.extension_reason,
                                            self.extension_button])])),
            ("Reveal", w.VBox([self.private_html, self.reveal_button])),
            ("Grades", w.VBox([w.HBox([self.grade_layout, self.grades_button]), self.grades_link, self.grades_html])),
        ]

    def _phase(self) -> dict[str, Any] | None:
        return next((p for p in self.competition.get("phases", []) if p["id"] == self.phase_id), None)

    def _show_extensions(self, phase: dict[str, Any]) -> None:
        rows = [[("team/" if e["subject_kind"] == "team" else "") + e["subject"], e["end"], e["reason"], e["granted_by"]]
                for e in self.client.extensions(phase["id"])]
        intro = (f"<p>Deadline of <b>{html.escape(phase['name'])}</b>: {phase['end'] or 'none'}; "
                 f"{len(rows)} extension(s).</p>")
        self.deadlines_html.value = intro + (html_table(["student", "until", "reason", "granted by"], rows) if rows else "")

    def _show_private(self, phase: dict[str, Any]) -> None:
        if not phase.get("private_board"):
            self.private_html.value = "<p>This phase has no private board (set <code>private_scores</code>).</p>"
            self.reveal_button.disabled = True
            return
        self.reveal_button.disabled = bool(phase.get("revealed"))
        board = self.client.private_leaderboard(phase["id"])
        rows = [[e["rank"], e["owner"], e["public_rank"] or "—", _shake(e["shake_up"])] for e in board["entries"]]
        state = "revealed to participants" if board["revealed"] else "hidden from participants"
        self.private_html.value = f"<p>Private leaderboard: {state}.</p>" + (
            html_table(["#", "participant", "public #", "shake-up"], rows, css_class="podium-private") if rows else "")

    # -- actions ----------------------------------------------------------------------------------
    def grant_extension(self, username: str | None = None, end: Any = None, reason: str | None = None,
                        phase_id: int | None = None, *, team: str | None = None) -> dict[str, Any]:
        """Give one student, or one team (``team=``, or ``team/<name>`` in the input: every member),
        a later deadline in the phase (from the arguments, else the inputs)."""
        phase_id = phase_id or self.phase_id
        username = username or self.extension_user.value.strip()
        if team is None and username.startswith("team/"):
            team, username = username[len("team/"):], None
        end = iso_utc(end if end is not None else self.extension_end.value.strip())
        extension = self.client.grant_extension(phase_id, username, end,
                                                reason if reason is not None else self.extension_reason.value, team=team)
        self.refresh()
        who = f"Team {team}" if team is not None else username
        self._say(f"{who} may submit until {extension['end']}.")
        return extension

    def save_late_policy(self, grace_hours: float | None = None, kind: str | None = None, value: float | None = None,
                         phase_id: int | None = None) -> dict[str, Any]:
        """The phase's grace period and the late penalty taken off the grade (a share, 0..1)."""
        phase_id = phase_id or self.phase_id
        grace = self.grace_input.value if grace_hours is None else grace_hours
        body = {"grace_seconds": int(round(grace * 3600)), "late_penalty_kind": kind or self.penalty_kind.value,
                "late_penalty_value": self.penalty_value.value if value is None else value}
        phase = self.client.patch(f"phases/{phase_id}", body)
        self.refresh()
        self._say(f"Late policy of '{phase['name']}': {grace:g} h of grace, penalty {body['late_penalty_kind']} "
                  f"{body['late_penalty_value']:g}.")
        return phase

    def reveal(self, phase_id: int | None = None) -> dict[str, Any]:
        """Show the private leaderboard (and each student's shake-up) to the class."""
        phase_id = phase_id or self.phase_id
        answer = self.client.reveal(phase_id)
        self.refresh()
        self._say("The private leaderboard is revealed.")
        return answer

    def grades(self, phase_id: int | None = None) -> Any:
        """Every roster member's grade as a pandas DataFrame (one row each, those who never
        submitted included): username, team, score, rank, late_penalty, raw_grade, grade, submission
        (a team's members each have the team's)."""
        import pandas as pd

        rows = self.client.grades(phase_id or self.phase_id)["grades"]
        columns = ["username", "team", "score", "rank", "late_penalty", "raw_grade", "grade", "submission"]
        return pd.DataFrame(rows, columns=columns).set_index("username")

    def export_grades(self, layout: str = "podium", phase_id: int | None = None, path: str | Path | None = None) -> Path:
        """Save the grades as CSV in ``layout`` (podium, canvas or moodle) and offer the file."""
        phase_id = phase_id or self.phase_id
        if phase_id is None:
            raise PodiumAPIError("This competition has no phase, so no grades to export.")
        text = self.client.grades_csv(phase_id, layout)
        target = self._save_and_offer(text, path or self.export_dir / f"{self.slug}-phase-{phase_id}-grades-{layout}.csv",
                                      self.grades_link)
        self._say(f"Exported the grades ({layout}) to {target}.")
        return target


def _shake(value: int | None) -> str:
    if value is None:
        return "—"
    return f"▲ +{value}" if value > 0 else (f"▼ {value}" if value < 0 else "0")


def final_tab_html(phase: dict[str, Any], selection: dict[str, Any] | None, private: dict[str, Any] | None,
                   me: str) -> str:
    """The participant's final tab: my deadline, what counts for the final ranking, and after the
    reveal my private rank and shake-up."""
    deadline = phase.get("my_deadline") or {}
    parts = []
    if deadline.get("end"):
        text = f"Your deadline: {deadline['end']}" + (" (extended)" if deadline.get("extended") else "")
        if phase.get("grace_seconds"):
            text += f"; late submissions until {deadline['grace_until']}, with a penalty on the grade"
        parts.append(f"<p>{html.escape(text)}.</p>")
    if selection and selection.get("max_selected"):
        ids = ", ".join(f"#{i}" for i in selection["submissions"]) or "none yet"
        whose = f"team {selection['team']}'s" if selection.get("team") else "your"
        how = ("selected" if selection.get("team") else "you selected") if selection["chosen"] \
            else f"fallback: {whose} best public submissions"
        lock = "locked" if selection["locked"] else f"open until {selection['locks_at']}"
        parts.append(f"<p>Final selection ({html.escape(how)}): {html.escape(ids)}; {html.escape(lock)}.</p>")
    if private:
        me = private.get("me") or me  # the service's name for the caller's row: ``team/<name>`` in a team
        mine = next((e for e in private["entries"] if e["owner"] == me), None)
        if mine:
            parts.append(f"<p>Private leaderboard: rank {mine['rank']} (public {mine['public_rank']}, "
                         f"shake-up {html.escape(_shake(mine['shake_up']))}).</p>")
        rows = [[e["rank"], e["owner"], e["public_rank"] or "—", _shake(e["shake_up"])] for e in private["entries"]]
        marked = {i for i, e in enumerate(private["entries"]) if e["owner"] == me}
        parts.append(html_table(["#", "participant", "public #", "shake-up"], rows, marked, "podium-private"))
    elif phase.get("private_board"):
        parts.append("<p>The private leaderboard is revealed at the end.</p>")
    return "".join(parts) or "<p>No deadline or final selection in this phase.</p>"
