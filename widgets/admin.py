"""``AdminDashboard()``: compute queues, their workers and how to attach one more (hub admins,
and organizers for the queues they own or that are shared with them).

Reads ``GET /api/v1/queues`` (depth, workers with version, state, last seen and running attempts,
recent failures) and writes the exact ``podium worker`` command for a queue, with a token that the
service shows only when it is created (a new queue, or a re-keyed one: re-keying refuses workers
that still hold the old token, which is how a leaked token is withdrawn). A queue's owner shares
it with hub users or groups (who may then run their competitions on it), stops sharing it, or
deletes it (refused while competitions use it).
"""

from __future__ import annotations

import shlex
from typing import Any

import ipywidgets as w

from . import display
from .client import NotFound, PodiumAPIError, PodiumClient


def worker_command(service_url: str, token: str, name: str = "", executor: str = "docker",
                   work_dir: str = "~/podium-worker") -> str:
    """The command an admin runs on the machine that will do the work (flags of
    ``podium worker --help``); the base install plus the ``worker`` extra is enough there."""
    parts = ["podium", "worker", "--service-url", service_url, "--token", token]
    if name:
        parts += ["--name", name]
    parts += ["--executor", executor, "--work-dir", work_dir]
    return " ".join(shlex.quote(p) if p != work_dir else p for p in parts)


class AdminDashboard:
    """Queues as a table, a form to create a queue or re-key one, and the worker command."""

    def __init__(self, client: PodiumClient | None = None, service_url: str | None = None) -> None:
        self.client = client or PodiumClient()
        # the URL workers use; the notebook's PODIUM_URL may be the hub's internal one
        self.service_url = service_url or self.client.url
        self.queues: list[dict[str, Any]] = []
        self.last_command = ""
        self.last_token = ""
        self.queues_html = w.HTML()
        self.message_html = w.HTML()
        self.queue_name_text = w.Text(placeholder="e.g. gpu-lab", description="Queue")
        self.create_button = w.Button(description="Create queue", button_style="primary", icon="plus")
        self.create_button.on_click(lambda _: self._guard(self.create_from_form))
        self.queue_dropdown = w.Dropdown(description="Queue")
        self.rekey_button = w.Button(description="New token", button_style="warning", icon="key")
        self.rekey_button.on_click(lambda _: self._guard(self.rekey_from_form))
        self.share_kind = w.Dropdown(options=[("hub user", "user"), ("hub group", "group")], description="With")
        self.share_name_text = w.Text(placeholder="a user or group name", description="Name")
        self.share_button = w.Button(description="Share", icon="share")
        self.share_button.on_click(lambda _: self._guard(lambda: self.share_from_form(True)))
        self.unshare_button = w.Button(description="Stop sharing", icon="ban")
        self.unshare_button.on_click(lambda _: self._guard(lambda: self.share_from_form(False)))
        self.delete_button = w.Button(description="Delete queue", button_style="danger", icon="trash")
        self.delete_button.on_click(lambda _: self._guard(self.delete_from_form))
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self._guard(self.refresh))
        self.command_text = w.Textarea(layout=w.Layout(width="100%", height="5em"), disabled=True)
        self.widget = w.VBox([
            w.HTML("<h3>Compute queues</h3>"), self.queues_html, self.refresh_button,
            w.HTML("<h4>Attach a worker</h4><p>Create a queue (or give an existing one a new token), "
                   "then run the command on the machine that will do the work. "
                   "<code>pip install 'jupyter-podium[worker]'</code> is all it needs; "
                   "Docker runs the programs.</p>"),
            w.HBox([self.queue_name_text, self.create_button]),
            w.HBox([self.queue_dropdown, self.rekey_button, self.delete_button]),
            w.HTML("<h4>Share a queue</h4><p>Organizers you share a queue with (or the members of a hub "
                   "group) may run their competitions on it; only you and hub admins re-key or delete it.</p>"),
            w.HBox([self.share_kind, self.share_name_text, self.share_button, self.unshare_button]),
            self.command_text, self.message_html,
        ])
        self.refresh()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _guard(self, action: Any) -> None:
        try:
            action()
        except PodiumAPIError as exc:
            self.message_html.value = f'<p style="color:#a00">{display.html.escape(exc.message)}</p>'

    def refresh(self) -> list[dict[str, Any]]:
        """Read the queues again and redraw the table."""
        self.queues = self.client.queues()
        self.queues_html.value = queues_html(self.queues)
        names = [q["name"] for q in self.queues]
        self.queue_dropdown.options = names
        if names and self.queue_dropdown.value not in names:
            self.queue_dropdown.value = names[0]
        return self.queues

    def create_queue(self, name: str) -> str:
        """Create a queue; returns (and shows) the worker command with its new token."""
        created = self.client.create_queue(name)
        return self._show_command(created["name"], created["token"], f"Queue '{name}' created.")

    def rekey(self, name: str) -> str:
        """Give a queue a new token (old workers are refused); returns the new worker command."""
        answer = self.client.queue_token(name)
        return self._show_command(answer["name"], answer["token"],
                                  f"Queue '{name}' has a new token; workers with the old one are refused.")

    def attach_worker(self, name: str) -> str:
        """The command for a worker on ``name``: the queue is created, or re-keyed if it exists
        (the old token is not shown again by the service, so there is no other way to get one)."""
        try:
            return self.rekey(name)
        except NotFound:
            return self.create_queue(name)

    def create_from_form(self) -> str | None:
        name = self.queue_name_text.value.strip()
        if not name:
            self.message_html.value = "<p>Type a queue name first (lowercase letters, digits and dashes).</p>"
            return None
        command = self.create_queue(name)
        self.queue_name_text.value = ""
        return command

    def rekey_from_form(self) -> str | None:
        if not self.queue_dropdown.value:
            self.message_html.value = "<p>There is no queue to re-key yet: create one.</p>"
            return None
        return self.rekey(self.queue_dropdown.value)

    def share(self, queue: str, *, user: str | None = None, group: str | None = None) -> dict[str, Any]:
        """Let a hub user or group use ``queue``; returns the queue as the service now has it."""
        answer = self.client.share_queue(queue, user=user, group=group)
        self._said(f"Queue '{queue}' is shared with the {'user' if user else 'group'} '{user or group}'.")
        return answer

    def unshare(self, queue: str, *, user: str | None = None, group: str | None = None) -> dict[str, Any]:
        answer = self.client.unshare_queue(queue, user=user, group=group)
        self._said(f"Queue '{queue}' is no longer shared with the {'user' if user else 'group'} '{user or group}'.")
        return answer

    def delete_queue(self, queue: str) -> None:
        self.client.delete_queue(queue)
        self._said(f"Queue '{queue}' deleted.")

    def share_from_form(self, sharing: bool) -> dict[str, Any] | None:
        name = self.share_name_text.value.strip()
        if not self.queue_dropdown.value or not name:
            self.message_html.value = "<p>Choose a queue and type a user or group name first.</p>"
            return None
        who = {self.share_kind.value: name}
        return self.share(self.queue_dropdown.value, **who) if sharing else self.unshare(self.queue_dropdown.value, **who)

    def delete_from_form(self) -> None:
        if self.queue_dropdown.value:
            self.delete_queue(self.queue_dropdown.value)

    def _said(self, message: str) -> None:
        self.message_html.value = f"<p>{display.html.escape(message, quote=False)}</p>"
        self.refresh()

    def _show_command(self, queue: str, token: str, message: str) -> str:
        self.last_token = token
        self.last_command = worker_command(self.service_url, token, name=f"{queue}-worker-1")
        self.command_text.value = self.last_command
        self.message_html.value = (f"<p>{display.html.escape(message, quote=False)} The token is shown only now: "
                                   "copy the command.</p>")
        self.refresh()
        return self.last_command


def queues_html(queues: list[dict[str, Any]]) -> str:
    """One row per worker of each queue (a queue without workers gets one row saying so),
    then the recent failures."""
    if not queues:
        return "<p>No compute queue yet.</p>"
    rows = []
    for q in queues:
        workers = q["workers"] or [None]
        for worker in workers:
            if worker is None:
                rows.append([q["name"], q["depth"], "no worker attached", "", "", "", "", queue_access(q)])
                continue
            running = ", ".join(f"attempt {a}" for a in worker["running"]) or "idle"
            state = f"cannot work: {worker['cannot_work']}" if worker.get("cannot_work") else "ready"
            rows.append([q["name"], q["depth"], f"{worker['name']} ({worker.get('hostname') or '?'})",
                         worker.get("version") or "unknown", state, display.when(worker.get("last_seen")), running,
                         queue_access(q)])
    table = display.html_table(["queue", "waiting jobs", "worker", "version", "state", "last seen", "running",
                                "owner and sharing"], rows, css_class="podium-queues")
    failures = [[q["name"], f["submission"], display.when(f.get("at")), f.get("reason") or ""]
                for q in queues for f in q.get("recent_failures", [])]
    if failures:
        table += "<h4>Recent failures</h4>" + display.html_table(
            ["queue", "submission", "when", "reason"], failures, css_class="podium-failures")
    return table


def queue_access(queue: dict[str, Any]) -> str:
    """A queue's owner and whom it is shared with (the service tells its managers only)."""
    label = f"owner {queue['owner']}" if queue.get("owner") else "the platform's"
    shared = queue.get("shared_with") or {}
    names = list(shared.get("users", [])) + [f"group {g}" for g in shared.get("groups", [])]
    return label + (f", shared with {', '.join(names)}" if names else "")
