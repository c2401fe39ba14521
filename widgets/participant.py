"""``Competition("slug")``: a competition as a participant sees it in a notebook.

One object is both a widget (display it as the last expression of a cell) and a plain Python API:
every button calls a public method (``register``, ``download``, ``submit_upload``, ``refresh``),
and every way of submitting is a method too (``submit_file``, ``submit_dataframe``,
``submit_function``, ``submit_notebook``), so a notebook, a script and a test drive the same code.

State lives in widget attributes that can be read back: ``status_label.value``,
``message_html.value``, ``leaderboard_html.value``, ``history_html.value``, ``progress.value``.

After an upload a background thread follows the submission with ``PodiumClient.wait`` and
updates the widgets (ipykernel sends widget updates from any thread), so the notebook stays free;
``wait()`` blocks until the result is there, for notebooks run top to bottom.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w

from . import classroom, display, packaging, parity
from .client import TERMINAL_STATUSES, PodiumAPIError, PodiumClient, current_phase
from .teams import MyTeam

LOG_LINES = 30


class Competition:
    """A competition's page, quota, data, submission form, leaderboard and my history."""

    def __init__(self, slug: str, client: PodiumClient | None = None, *,
                 download_dir: str | os.PathLike[str] | None = None) -> None:
        self.client = client or PodiumClient()
        self.slug = slug
        self.download_dir = Path(download_dir or Path.home() / "podium" / slug).expanduser()
        self.competition: dict[str, Any] = {}
        self.phase: dict[str, Any] = {}
        self.quota: dict[str, Any] | None = None
        self.me: str = ""
        self.registration: str | None = None
        self.last_submission: dict[str, Any] | None = None
        self.rank: int | None = None
        self.team: str | None = None
        self._watcher: threading.Thread | None = None
        self._build()
        self.refresh()

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.title_html = w.HTML()
        self.phase_html = w.HTML()
        self.quota_html = w.HTML()
        self.message_html = w.HTML()
        self.environment_html = w.HTML()  # filled by environment_diff()
        self.register_button = w.Button(description="Register", button_style="primary", icon="user-plus")
        self.register_button.on_click(lambda _: self._guard(self.register))
        self.download_buttons: dict[str, w.Button] = {}
        self.downloads_box = w.HBox()
        self.file_upload = w.FileUpload(description="Choose file", multiple=False)
        self.description_text = w.Text(placeholder="What is new in this submission?", description="Description")
        self.submit_button = w.Button(description="Submit", button_style="success", icon="upload")
        self.submit_button.on_click(lambda _: self._guard(self.submit_upload))
        self.progress = w.IntProgress(value=0, min=0, max=100, description="Upload")
        self.status_label = w.Label(value="")
        self.log_html = w.HTML()
        self.result_html = w.HTML()
        self.leaderboard_html = w.HTML()
        self.history_html = w.HTML()
        self.history_plot = w.Image(format="png", layout=w.Layout(display="none"))
        self.final_html = w.HTML()
        self.selection: dict[str, Any] | None = None
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self._guard(self.refresh))
        submit_box = w.VBox([
            w.HBox([self.file_upload, self.description_text, self.submit_button]),
            self.progress, self.status_label, self.log_html, self.result_html, self.environment_html,
        ])
        self.team_box = w.VBox()
        self.team_panel: MyTeam | None = None
        tabs = w.Tab(children=[submit_box, self.leaderboard_html, w.VBox([self.history_plot, self.history_html]),
                               self.final_html, self.team_box])
        for i, name in enumerate(("Submit", "Leaderboard", "My submissions", "Final", "Team")):
            tabs.set_title(i, name)
        self.widget = w.VBox([
            self.title_html, self.phase_html, self.quota_html,
            w.HBox([self.register_button, self.downloads_box, self.refresh_button]),
            self.message_html, tabs,
        ])

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _guard(self, action: Callable[[], Any]) -> None:
        """Run a button's action; an error becomes a sentence in the widget, not a traceback."""
        try:
            action()
        except (PodiumAPIError, packaging.PackagingError, OSError) as exc:
            self.show_error(exc)

    def show_error(self, exc: BaseException) -> str:
        sentence = display.error_sentence(exc, self.phase)
        self.message_html.value = f'<p style="color:#a00">{display.html.escape(sentence)}</p>'
        return sentence

    def _say(self, text: str) -> None:
        self.message_html.value = f"<p>{display.html.escape(text)}</p>"

    # -- reading -------------------------------------------------------------------------------
    @property
    def registered(self) -> bool:
        return self.registration == "approved"

    @property
    def phase_id(self) -> int:
        return self.phase["id"]

    @property
    def columns(self) -> list[dict[str, Any]]:
        board = self._board_definition()
        return [c for c in (board or {}).get("columns", []) if not c.get("hidden")]

    @property
    def primary_column(self) -> str | None:
        board = self._board_definition()
        if not board:
            return None
        return board.get("primary_column") or (self.columns[0]["key"] if self.columns else None)

    def describe(self) -> str:
        """The header as plain text (title, phase, deadline, registration, quota) for a print."""
        phase = self.phase
        lines = [f"{self.competition['title']} ({self.slug})"]
        if phase:
            end = f", ends {display.when(self.deadline)}" if self.deadline else ""
            lines.append(f"Phase: {phase['name']} ({phase['status']}){end}")
            if phase.get("accepts_notebooks"):
                lines.append("Notebooks: submit_notebook() sends this notebook; the worker executes it "
                             "(read /app/input_data, write predictions to /app/output)")
        lines.append(f"Registration: {self.registration or 'not registered'}")
        if self.team:
            lines.append(f"Team: {self.team}")
        lines.append(f"Quota: {display.quota_sentence(self.quota)}")
        return "\n".join(lines)

    @property
    def deadline(self) -> str | None:
        """My own deadline in the phase (an extension moves it), as the service says it."""
        return (self.phase.get("my_deadline") or {}).get("end") or self.phase.get("end")

    def _board_definition(self) -> dict[str, Any] | None:
        key = self.phase.get("leaderboard")
        return next((b for b in self.competition.get("leaderboards", []) if b["key"] == key), None)

    def refresh(self) -> None:
        """Read the competition, my quota, the leaderboard and my submissions again."""
        self.competition = self.client.competition(self.slug)
        self.phase = current_phase(self.competition["phases"])
        self.registration = self.competition["my_role"]["participant"]
        me = self.client.me()
        self.me = me["name"]
        entry = next((c for c in me["competitions"] if c["id"] == self.competition["id"]), None)
        phases = {p["id"]: p for p in (entry or {}).get("phases", [])}
        self.quota = phases.get(self.phase.get("id"), {}).get("quota")
        self.team = (entry or {}).get("team")
        self._show_header()
        self.refresh_leaderboard()
        self.refresh_history()
        self.refresh_final()
        self.refresh_team()

    def refresh_final(self) -> str:
        """The Final tab: my deadline, my final selection (or its fallback), and once revealed the
        private leaderboard with my shake-up."""
        if not self.phase:
            return ""
        selection = private = None
        if self.registered and self.phase.get("max_selected"):
            selection = self.selection = self.client.final_selection(self.phase_id)
        if self.phase.get("private_board") and self.phase.get("revealed"):
            private = self.client.private_leaderboard(self.phase_id)
        self.final_html.value = classroom.final_tab_html(self.phase, selection, private, self.me)
        return self.final_html.value

    def select_final(self, *submission_ids: int) -> dict[str, Any]:
        """Choose my final submissions (no ids: back to the fallback, my best public ones)."""
        self.selection = self.client.set_final_selection(self.phase_id, list(submission_ids))
        self.refresh_final()
        chosen = ", ".join(f"#{i}" for i in self.selection["submissions"]) or "none"
        self._say(f"Final selection: {chosen}" + (" (fallback)" if self.selection["fallback"] else "") + ".")
        return self.selection

    def refresh_team(self) -> None:
        """My team, and the invitations waiting for me (once registered)."""
        if not self.registered:
            self.team_box.children = [w.HTML("<p>Register to join a team.</p>")]
            return
        if self.team_panel is None:
            self.team_panel = MyTeam(self.competition["id"], client=self.client)
        else:
            self.team_panel._guard(self.team_panel.refresh)
        self.team_box.children = [self.team_panel]

    def _show_header(self) -> None:
        comp, phase = self.competition, self.phase
        self.title_html.value = (f"<h3>{display.html.escape(comp['title'])}</h3>"
                                 f"<p>{display.html.escape(comp.get('description') or '')}</p>")
        if phase:
            deadline = (f"ends {display.when(self.deadline)}" if self.deadline else "has no end date")
            if (phase.get("my_deadline") or {}).get("extended"):
                deadline += " (your extension)"
            opening = f"; opens {display.when(phase['start'])}" if phase["status"] == "next" else ""
            self.phase_html.value = (f"<p>Phase <b>{display.html.escape(phase['name'])}</b> "
                                     f"({phase['status']}) {deadline}{opening}.</p>")
        else:
            self.phase_html.value = "<p>This competition has no phase yet.</p>"
        self.quota_html.value = f"<p>{display.html.escape(display.quota_sentence(self.quota))}</p>"
        self.register_button.layout.display = "none" if self.registration else None
        if self.registration == "pending":
            self._say("Your registration waits for an organizer's approval.")
        elif self.registration == "denied":
            self._say("Your registration was denied by the organizers.")
        buttons = []
        for kind, label in (("public_data", "public data"), ("starting_kit", "starting kit")):
            if phase.get(kind):
                button = self.download_buttons.get(kind) or w.Button(description=f"Download {label}", icon="download")
                if kind not in self.download_buttons:
                    button.on_click(lambda _, k=kind: self._guard(lambda: self.download(k)))
                    self.download_buttons[kind] = button
                buttons.append(button)
        self.downloads_box.children = buttons

    def refresh_leaderboard(self) -> dict[str, Any] | None:
        """The phase's leaderboard, my rows highlighted; also sets ``rank`` (mine, or None)."""
        if not self.phase:
            return None
        try:
            board = self.client.leaderboard(self.phase_id)
        except PodiumAPIError as exc:
            self.leaderboard_html.value = f"<p>{display.html.escape(exc.message)}</p>"
            return None
        self.leaderboard_html.value = display.leaderboard_html(board, self.me, self.team)
        self.rank = next((e["rank"] for e in board["entries"]
                          if e["owner"] == self.me or (self.team and e.get("team") == self.team)), None)
        return board

    def refresh_history(self) -> list[dict[str, Any]]:
        """My submissions in the phase as a table, and my primary score over time as a plot."""
        if not self.phase or not self.registration:
            self.history_html.value = "<p>Register to submit.</p>"
            return []
        subs = self.client.my_submissions(self.phase_id)["submissions"]
        column = self.primary_column
        self.history_html.value = display.history_html(subs, column)
        title = next((c["title"] for c in self.columns if c["key"] == column), column or "")
        png = display.score_plot_png(subs, column, title) if column else None
        self.history_plot.value = png or b""
        self.history_plot.layout.display = None if png else "none"
        return subs

    # -- acting --------------------------------------------------------------------------------
    def register(self) -> dict[str, Any]:
        """Register for the competition (approved at once, or pending the organizers' approval)."""
        answer = self.client.register(self.slug)
        self.refresh()
        if answer["status"] == "approved":
            self._say("You are registered: download the data and submit.")
        return answer

    def download(self, kind: str = "public_data") -> Path:
        """Save the phase's ``public_data`` or ``starting_kit`` in ``download_dir`` and unpack it
        next to the zip (``~/podium/<slug>/public_data/``); returns the folder (or the file)."""
        dataset = self.phase.get(kind)
        if not dataset:
            raise packaging.PackagingError(f"Phase '{self.phase.get('name')}' has no {kind.replace('_', ' ')}.")
        saved = self.client.download_dataset(dataset, self.download_dir / f"{kind}.zip")
        target = packaging.unpack(saved, self.download_dir / kind)
        self._say(f"Saved the {kind.replace('_', ' ')} in {target}")
        return target

    def share_code(self, submission_id: int, share: bool = True) -> dict[str, Any]:
        """Consent (or not) to show a submission's code to every participant once the phase
        ends, where the phase reveals code."""
        return self.client.update_submission(submission_id, is_public=share)

    def revealed_code(self) -> list[dict[str, Any]]:
        """The code the current phase reveals, once it has ended: rank, owner, scores and a
        download link for each revealed submission."""
        return self.client.revealed_code(self.phase_id)

    def start_from(self, submission_id: int) -> Path:
        """Start from a revealed submission: its code unpacked in ``download_dir/revealed-<id>/``
        (returned), to read, change and submit as your own."""
        found = next((s for s in self.revealed_code() if s["id"] == submission_id), None)
        if found is None or not found.get("code"):
            raise packaging.PackagingError(f"Submission {submission_id} is not among this phase's revealed code.")
        saved = self.download_dir / f"revealed-{submission_id}.zip"
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_bytes(self.client.get_object(found["code"]["download_url"]))
        target = packaging.unpack(saved, self.download_dir / f"revealed-{submission_id}")
        self._say(f"Submission {submission_id} by {found['owner']} is in {target}")
        return target

    def download_all(self) -> dict[str, Path]:
        """Every dataset the phase offers participants, by kind."""
        return {kind: self.download(kind) for kind in ("public_data", "starting_kit") if self.phase.get(kind)}

    def submit_upload(self) -> dict[str, Any] | None:
        """The Submit button: send the file chosen in ``file_upload`` with ``description_text``."""
        if not self.file_upload.value:
            self._say("Choose a file first (a .zip is sent as it is; any other file is zipped).")
            return None
        chosen = self.file_upload.value[0]
        data = packaging.zip_upload(chosen["name"], bytes(chosen["content"]))
        submission = self.submit_bytes(data, self.description_text.value or chosen["name"])
        self.file_upload.value = ()
        self.description_text.value = ""
        return submission

    def submit_file(self, path: str | os.PathLike[str], description: str = "", wait: bool = False) -> dict[str, Any]:
        """A file (zipped under its name), a folder (its content zipped) or a .zip (as it is)."""
        return self.submit_bytes(packaging.zip_path(path), description or Path(path).name, wait)

    def submit_dataframe(self, df: Any, filename: str = "predictions.csv", description: str = "",
                         wait: bool = False, index: bool = False) -> dict[str, Any]:
        """Predictions in a DataFrame, written as ``filename`` (the name the scoring program reads)."""
        return self.submit_bytes(packaging.zip_dataframe(df, filename, index), description or filename, wait)

    def submit_function(self, *objs: Callable[..., Any] | type, module: str = "model", name: str | None = None,
                        description: str = "", wait: bool = False) -> dict[str, Any]:
        """Code: functions or classes packaged with their source as ``<module>.py`` (what an
        ingestion program imports), with the imports they use; ``name`` aliases the first one."""
        data = packaging.zip_code(list(objs), module=module, name=name)
        return self.submit_bytes(data, description or ", ".join(o.__name__ for o in objs), wait)

    def submit_notebook(self, path: str | os.PathLike[str] | None = None, as_script: bool = False,
                        module: str = "model", description: str = "", wait: bool = False) -> dict[str, Any]:
        """The notebook itself, as last saved: the kernel cannot save it for JupyterLab, so press
        Ctrl+S first. Its path comes from ``path``, else from the kernel's session. A phase that
        accepts notebooks executes it top to bottom in the competition's image (it reads
        ``/app/input_data`` and writes predictions to ``/app/output``); the executed copy comes
        back on the submission's page. With ``as_script`` it is converted by nbconvert and sent
        as ``<module>.py``, for a phase whose ingestion program imports it."""
        notebook = packaging.current_notebook_path(path)
        data = packaging.zip_notebook(notebook, as_script, module)
        return self.submit_bytes(data, description or notebook.name, wait)

    def submit_bytes(self, data: bytes, description: str = "", wait: bool = False) -> dict[str, Any]:
        """Upload a submission zip with a progress bar, then follow it in the background."""
        if not self.phase:
            raise packaging.PackagingError("This competition has no phase to submit to.")
        self.progress.value = 0
        self.progress.bar_style = ""
        self.result_html.value = self.log_html.value = ""
        self.status_label.value = "uploading"
        try:
            submission = self.client.submit(self.phase_id, data, description=description, progress=self._on_progress)
        except PodiumAPIError as exc:
            self.status_label.value = "refused"
            self.progress.bar_style = "danger"
            self.show_error(exc)
            raise
        self.progress.value = 100
        self.progress.bar_style = "success"
        if submission.get("quota"):
            self.quota = submission["quota"]
            self.quota_html.value = f"<p>{display.html.escape(display.quota_sentence(self.quota))}</p>"
        self._say(f"Submission {submission['id']} uploaded ({len(data):,} bytes).")
        self._on_update(submission)
        self.watch(submission)
        return self.wait(submission) if wait else submission

    def _on_progress(self, sent: int, total: int) -> None:
        self.progress.value = 100 if total == 0 else int(100 * sent / total)

    def watch(self, submission: dict[str, Any]) -> None:
        """Follow a submission in a background thread until it is finished, failed or cancelled."""
        self._watch_error: PodiumAPIError | None = None

        def follow() -> None:
            try:
                self._finish(self.client.wait(submission["id"], on_update=self._on_update))
            except PodiumAPIError as exc:
                self._watch_error = exc
                self.status_label.value = display.error_sentence(exc)

        self._watcher = threading.Thread(target=follow, name=f"podium-watch-{submission['id']}", daemon=True)
        self._watcher.start()

    def wait(self, submission: dict[str, Any] | None = None, timeout: float = 600) -> dict[str, Any]:
        """Block until the followed submission is done; returns its final model."""
        if self._watcher is not None:
            self._watcher.join(timeout)
        sid = (submission or self.last_submission or {}).get("id")
        if sid is None:
            raise packaging.PackagingError("Nothing was submitted yet.")
        final = self.client.submission(sid)
        if final["status"] not in TERMINAL_STATUSES:
            final = self.client.wait(sid, timeout=timeout, on_update=self._on_update)
            self._finish(final)
        return final

    def _on_update(self, submission: dict[str, Any]) -> None:
        self.last_submission = submission
        self.status_label.value = submission["status"]
        if submission.get("queue"):
            self.status_label.value += f": {display.queue_sentence(submission['queue'])}"
        lines = (submission.get("live_log") or submission.get("log_tail") or "").splitlines()[-LOG_LINES:]
        if submission["status"] == "failed" or lines:
            sentence = display.html.escape(display.status_sentence(submission))
            log = display.html.escape("\n".join(lines))
            self.log_html.value = f"<p>{sentence}</p>" + (f'<pre style="max-height:14em;overflow:auto">{log}</pre>'
                                                          if lines else "")

    def _finish(self, submission: dict[str, Any]) -> None:
        """Show the scores and my new rank, and refresh the leaderboard, history and quota."""
        self._on_update(submission)
        try:
            self.refresh()
        except PodiumAPIError as exc:
            self.show_error(exc)
        if submission["status"] == "finished":
            rank = f"; you are ranked {self.rank} on the leaderboard" if self.rank else ""
            self.result_html.value = (f"<p><b>Submission {submission['id']} finished</b>: "
                                      f"{display.html.escape(display.scores_sentence(submission.get('scores'), self.columns))}"
                                      f"{rank}.</p>")
        elif submission["status"] == "failed":
            self.result_html.value = f'<p style="color:#a00">{display.html.escape(display.status_sentence(submission))}</p>'
        else:
            self.result_html.value = f"<p>Submission {submission['id']} was cancelled.</p>"
        self.last_submission = submission

    # -- environment parity ----------------------------------------------------------------------
    def environment_diff(self, source: parity.Source) -> list[dict[str, Any]]:
        """How this kernel differs from the phase's runtime image for what ``source`` (a file, a
        notebook, a folder or a module) imports; shown as a table in the widget, and returned."""
        image = self.client.get(f"phases/{self.phase_id}/environment")
        rows = parity.environment_diff(image, source)
        self.environment_html.value = parity.diff_html(rows, image["image"])
        return rows

    def check(self, submission: str | os.PathLike[str], task: str | None = None,
              keep_output: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """Score ``submission`` on this machine with the phase's public scoring kit, in its image and
        with a worker's limits, before spending quota; nothing is sent. Returns the state, scores,
        reason and log (``keep_output``: where to save the scoring output zip)."""
        self._say("Checking on this machine with the public scoring kit...")
        result = parity.check(self.client, self.phase_id, submission, task, keep_output=keep_output)
        if result.state != "succeeded":
            self.message_html.value = (f'<p style="color:#a00">Local check failed: '
                                       f'{display.html.escape(result.reason or result.state)}</p>')
        else:
            shown = ", ".join(f"{k} {v}" for k, v in result.scores.items())
            self._say(f"Local check on the public reference data: {shown}")
        return {"state": result.state, "scores": result.scores, "reason": result.reason, "log": result.log}

    def cancel(self, submission: dict[str, Any] | None = None) -> dict[str, Any]:
        """Cancel a queued or running submission (by default the last one)."""
        target = submission or self.last_submission
        if not target:
            raise packaging.PackagingError("Nothing was submitted yet.")
        return self.client.cancel(target["id"])
