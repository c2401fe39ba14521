"""The organizer's panel: participants, submissions, leaderboard export, the compute queue, and a
class's roster and deadlines, for one competition, in a notebook.

Every button calls a plain method (``approve``, ``deny``, ``rerun``, ``cancel``,
``download_outputs``, ``export_leaderboard``, ``use_queue``, ``save_roster``, ``save_deadlines``, and for a
class the course tabs' ``grant_extension``, ``save_late_policy``, ``reveal``, ``grades``,
``export_grades``: see ``podium.widgets.classroom``) that a script
may call too; the state those methods read and change lives in attributes (``participants``,
``submissions``, ``message``, ``last_export``, ...), so what the panel shows can be checked
without a browser. Errors from the service are shown as the service's own sentence in
``message`` instead of a traceback: an organizer clicking a button wants to read what went wrong.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import ipywidgets as w

from .authoring import iso_utc
from .classroom import CourseTabs
from .client import PodiumAPIError, PodiumClient
from .display import shown_total
from .messages import Messages
from .teams import TeamsTab

EXPORT_DIR = Path("~/podium-exports")
"""Where exports and downloaded outputs go: the user's home, so they survive the kernel."""


class OrganizerPanel(CourseTabs, Messages, w.VBox):
    """``OrganizerPanel("slug")``: manage a competition you organize."""

    def __init__(self, slug: str, *, client: PodiumClient | None = None, export_dir: str | Path | None = None) -> None:
        super().__init__()
        self.slug = slug
        self.client = client or PodiumClient()
        self.export_dir = Path(export_dir or EXPORT_DIR).expanduser()
        self.competition: dict[str, Any] = {}
        self.participants: list[dict[str, Any]] = []
        self.submissions: list[dict[str, Any]] = []
        self.message = ""
        self.last_export: Path | None = None
        self.last_download: list[Path] = []
        self.participant_buttons: dict[str, dict[str, w.Button]] = {}
        self.submission_buttons: dict[int, dict[str, w.Button]] = {}
        self.deadline_inputs: dict[int, dict[str, w.Widget]] = {}

        self.status = w.HTML()
        self.heading = w.HTML()
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.phase_picker = w.Dropdown(description="Phase")
        self.phase_picker.observe(lambda _: self._guard(self._load_submissions), names="value")
        self.participants_box = w.VBox()
        self.submissions_box = w.VBox()
        self.export_button = w.Button(description="Export leaderboard CSV", icon="download")
        self.export_button.on_click(lambda _: self._guard(self.export_leaderboard))
        self.download_link = w.HTML()
        self.lti_button = w.Button(description="Send grades to the LMS", icon="graduation-cap",
                                   tooltip="The chosen phase's grades to every course that links this competition (LTI)")
        self.lti_button.on_click(lambda _: self._guard(self.send_grades_to_lms))
        self.roster_input = w.Text(description="Roster groups", placeholder="class-101, class-102")
        self.organizer_group_input = w.Text(description="TA group", placeholder="hub group of co-organizers")
        self.roster_button = w.Button(description="Save roster")
        self.roster_button.on_click(lambda _: self._guard(self.save_roster))
        self.class_box = w.VBox()
        self.queue_picker = w.Dropdown(description="Queue")
        self.queue_button = w.Button(description="Use this queue", icon="server")
        self.queue_button.on_click(lambda _: self._guard(self.use_queue))
        self.queue_html = w.HTML()
        self._build_course_widgets()
        self.tabs = w.Tab()
        self.teams_tab: TeamsTab | None = None
        self.refresh()

    @property
    def phase_id(self) -> int | None:
        return self.phase_picker.value

    @property
    def is_class(self) -> bool:
        return self.competition.get("registration_mode") == "groups"

    # -- loading ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the competition, its registrations and the chosen phase's submissions again."""
        self.competition = self.client.competition(self.slug)
        phases = self.competition.get("phases", [])
        options = [(f"{p['name']} ({p['status']})", p["id"]) for p in phases]
        current = self.phase_picker.value
        self.phase_picker.options = options
        ids = [p["id"] for p in phases]
        if current not in ids:
            live = next((p["id"] for p in phases if p["status"] == "current"), ids[0] if ids else None)
            self.phase_picker.value = live
        state = "published" if self.competition["published"] else "not published"
        self.heading.value = (f"<h3>{html.escape(self.competition['title'])} <small>({html.escape(self.slug)}, "
                            f"{state}, registration: {self.competition['registration_mode']})</small></h3>")
        self._load_participants()
        self._load_submissions()
        self._load_queues()
        self._build_class()
        sections = [("Participants", self.participants_box),
                    ("Submissions", w.VBox([self.phase_picker, self.submissions_box])),
                    ("Leaderboard", w.VBox([w.HBox([self.export_button, self.lti_button]), self.download_link]))]
        if self.is_class:
            sections.append(("Class", self.class_box))
            sections += self._course_sections()
        if self.teams_tab is None:
            self.teams_tab = TeamsTab(self.slug, client=self.client)
        else:
            self.teams_tab._guard(self.teams_tab.refresh)
        sections.append(("Teams", self.teams_tab))
        sections.append(("Compute", w.VBox([self.queue_html, w.HBox([self.queue_picker, self.queue_button])])))
        self.tabs.children = [box for _, box in sections]
        for i, (name, _) in enumerate(sections):
            self.tabs.set_title(i, name)
        self.children = [w.HBox([self.heading, self.refresh_button]), self.tabs, self.status]

    def _load_participants(self) -> None:
        answer = self.client.participants(self.slug, limit=1000)
        self.participants = answer["participants"]
        self.participant_buttons = {}
        rows: list[w.Widget] = []
        if self.is_class:
            groups = ", ".join(answer.get("participant_groups") or []) or "none"
            rows.append(w.HTML(f"Members of the hub group(s) <b>{html.escape(groups)}</b> take part without "
                               "registering."))
        for p in self.participants:
            approve = w.Button(description="Approve", button_style="success", disabled=p["status"] == "approved")
            deny = w.Button(description="Deny", button_style="danger", disabled=p["status"] == "denied")
            approve.on_click(lambda _, u=p["username"]: self._guard(lambda: self.approve(u)))
            deny.on_click(lambda _, u=p["username"]: self._guard(lambda: self.deny(u)))
            self.participant_buttons[p["username"]] = {"approve": approve, "deny": deny}
            rows.append(w.HBox([w.Label(f"{p['username']}: {p['status']}"), approve, deny]))
        if answer.get("next"):
            rows.append(w.Label(f"The first {len(self.participants)} of {shown_total(answer)} registrations; "
                                "the competition's participants page lists them all."))
        if not self.participants and not self.is_class:
            rows.append(w.Label("No registrations yet."))
        self.participants_box.children = rows

    def _load_submissions(self) -> None:
        self.submissions, self.submission_buttons = [], {}
        if self.phase_id is None:
            self.submissions_box.children = [w.Label("No phase yet.")]
            return
        answer = self.client.phase_submissions(self.phase_id, limit=200)
        self.submissions = answer["submissions"]
        rows: list[w.Widget] = []
        for s in self.submissions:
            buttons = {name: w.Button(description=name.capitalize()) for name in ("rerun", "cancel", "download")}
            buttons["cancel"].disabled = s["status"] in ("finished", "failed", "cancelled")
            buttons["rerun"].on_click(lambda _, i=s["id"]: self._guard(lambda: self.rerun(i)))
            buttons["cancel"].on_click(lambda _, i=s["id"]: self._guard(lambda: self.cancel(i)))
            buttons["download"].on_click(lambda _, i=s["id"]: self._guard(lambda: self.download_outputs(i)))
            self.submission_buttons[s["id"]] = buttons
            scores = ", ".join(f"{k}={v:g}" for k, v in (s.get("scores") or {}).items())
            label = (f"#{s['id']} {s['owner']}{' (dry run)' if s.get('dry_run') else ''}: {s['status']}"
                     f"{' ' + scores if scores else ''}{' - ' + s['failure_reason'] if s.get('failure_reason') else ''}")
            rows.append(w.HBox([w.Label(label), *buttons.values()]))
        if answer.get("next"):
            rows.append(w.Label(f"The newest {len(self.submissions)} of {shown_total(answer)} submissions; "
                                "the phase's web page lists them all."))
        self.submissions_box.children = rows or [w.Label("No submissions in this phase yet.")]

    def _build_class(self) -> None:
        self.deadline_inputs = {}
        if not self.is_class:
            self.class_box.children = []
            return
        self.roster_input.value = ", ".join(self.competition.get("participant_groups") or [])
        self.organizer_group_input.value = self.competition.get("organizer_group") or ""
        rows: list[w.Widget] = [w.HTML("<b>Roster</b>: who takes part (hub groups) and who helps organize."),
                                self.roster_input, self.organizer_group_input, self.roster_button,
                                w.HTML("<b>Deadlines</b> (UTC, ISO format)")]
        for phase in self.competition.get("phases", []):
            start = w.Text(value=phase["start"] or "", description="Start")
            end = w.Text(value=phase["end"] or "", description="End", placeholder="no end")
            save = w.Button(description="Save dates")
            save.on_click(lambda _, i=phase["id"]: self._guard(lambda: self.save_deadlines(i)))
            self.deadline_inputs[phase["id"]] = {"start": start, "end": end, "save": save}
            rows.append(w.HBox([w.Label(phase["name"]), start, end, save]))
        self.class_box.children = rows

    # -- actions (what the buttons do) --------------------------------------------------------
    def approve(self, username: str) -> dict[str, Any]:
        result = self.client.decide(self.slug, username, "approve")
        self._load_participants()
        self._say(f"{username} is approved.")
        return result

    def deny(self, username: str, reason: str = "") -> dict[str, Any]:
        result = self.client.decide(self.slug, username, "deny", reason)
        self._load_participants()
        self._say(f"{username} is denied.")
        return result

    def rerun(self, submission_id: int) -> dict[str, Any]:
        """Run a submission again as a new one that costs its owner no quota."""
        copy = self.client.rerun(submission_id)
        self._load_submissions()
        self._say(f"Submission {submission_id} is re-running as submission {copy['id']}.")
        return copy

    def cancel(self, submission_id: int) -> dict[str, Any]:
        result = self.client.cancel(submission_id)
        self._load_submissions()
        self._say(f"Submission {submission_id} is cancelled.")
        return result

    def download_outputs(self, submission_id: int, destination: str | Path | None = None) -> list[Path]:
        """Save every file of a submission (its upload, outputs, logs) under the export folder."""
        folder = Path(destination or self.export_dir / self.slug / f"submission-{submission_id}").expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        saved = []
        for f in self.client.outputs(submission_id):
            if not f.get("download_url"):
                continue
            target = folder / f"{f['role']}-{Path(f['name']).name}"
            target.write_bytes(self.client.get_object(f["download_url"]))
            saved.append(target)
        self.last_download = saved
        self._say(f"Saved {len(saved)} file(s) of submission {submission_id} in {folder}.")
        return saved

    def send_grades_to_lms(self, phase_id: int | None = None) -> dict[str, Any]:
        """Send the phase's grades to the gradebooks of the courses that link the competition
        (LTI 1.3); sending again replaces the scores."""
        phase_id = phase_id or self.phase_id
        if phase_id is None:
            raise PodiumAPIError("This competition has no phase, so no grades to send.")
        sent = self.client.send_lti_grades(phase_id)
        missing = sent["without_lti_identity"]
        note = f"; not in the LMS yet (never launched from the course): {', '.join(missing)}" if missing else ""
        self._say(f"Sent {sent['sent']} grade(s) to {len(sent['courses'])} course(s){note}.")
        return sent

    def export_leaderboard(self, phase_id: int | None = None, path: str | Path | None = None) -> Path:
        """Write the phase's leaderboard as CSV in the export folder and offer it as a download."""
        phase_id = phase_id or self.phase_id
        if phase_id is None:
            raise PodiumAPIError("This competition has no phase, so no leaderboard to export.")
        text = self.client.leaderboard_csv(phase_id)
        target = self._save_and_offer(text, path or self.export_dir / f"{self.slug}-phase-{phase_id}-leaderboard.csv",
                                      self.download_link)
        rows = max(0, len(text.strip().splitlines()) - 1)
        self._say(f"Exported {rows} leaderboard row(s) to {target}.")
        return target

    def _save_and_offer(self, text: str, path: str | Path, link: w.HTML) -> Path:
        """Write an export as CSV under the home and offer it as a download link in ``link``."""
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        self.last_export = target
        payload = base64.b64encode(text.encode()).decode()
        link.value = (f'<a download="{html.escape(target.name)}" href="data:text/csv;base64,{payload}">'
                      f"Download {html.escape(target.name)}</a> (also saved as {html.escape(str(target))})")
        return target

    def _load_queues(self) -> None:
        """The queues this organizer may run the competition on: their own, the ones shared with
        them or a hub group of theirs, and the platform's."""
        current = self.competition.get("queue") or "default"
        names = [q["name"] for q in self.client.queues()]
        self.queue_picker.options = names if current in names else [current, *names]
        self.queue_picker.value = current
        self.queue_html.value = (f"<p>Submissions run on the compute queue <b>{html.escape(current)}</b>. You may "
                                 "choose a queue of yours or one shared with you (see <code>AdminDashboard()</code> "
                                 "to create and share queues).</p>")

    def use_queue(self, name: str | None = None) -> dict[str, Any]:
        """Send the competition's next submissions to the compute queue ``name`` (else the picker's)."""
        name = name or self.queue_picker.value
        self.competition = self.client.update_competition(self.slug, {"queue": name})
        self._load_queues()
        self._say(f"Submissions now run on the compute queue '{name}'.")
        return self.competition

    def save_roster(self, groups: list[str] | None = None, organizer_group: str | None = None) -> dict[str, Any]:
        """Set the hub group(s) whose members take part, and the group of co-organizers (TAs)."""
        if groups is None:
            groups = [g.strip() for g in self.roster_input.value.split(",") if g.strip()]
        if organizer_group is None:
            organizer_group = self.organizer_group_input.value.strip()
        body: dict[str, Any] = {"registration_mode": "groups", "participant_groups": groups}
        if organizer_group:
            body["organizer_group"] = organizer_group
        self.competition = self.client.update_competition(self.slug, body)
        self._build_class()
        self._say(f"Roster saved: {', '.join(groups)}" + (f"; organizers: {organizer_group}" if organizer_group else ""))
        return self.competition

    def save_deadlines(self, phase_id: int, start: Any = None, end: Any = None) -> dict[str, Any]:
        """Change a phase's dates (from the arguments, else from the panel's inputs)."""
        inputs = self.deadline_inputs.get(phase_id, {})
        if start is None and inputs:
            start = inputs["start"].value.strip() or None
        if end is None and inputs:
            end = inputs["end"].value.strip() or None
        body: dict[str, Any] = {"end": iso_utc(end)}
        if start is not None:
            body["start"] = iso_utc(start)
        phase = self.client.patch(f"phases/{phase_id}", body)
        self.refresh()
        self._say(f"Phase '{phase['name']}' now runs {phase['start']} to {phase['end'] or 'no end'}.")
        return phase
