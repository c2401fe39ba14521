"""Teams in the notebook: ``MyTeam`` for a participant (my team, invitations to accept, create,
invite, leave) and ``TeamsTab`` for organizers (every team, create from names or a hub group,
a CSV roster, the team rules). Each button calls a public method, so a notebook, a script and a
test drive the same code; a service refusal becomes the panel's ``message``, not a traceback."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from .client import PodiumClient
from .messages import Messages


class _Panel(Messages, w.VBox):
    def __init__(self, slug: str, client: PodiumClient) -> None:
        super().__init__()
        self.slug, self.client, self.message = slug, client, ""
        self.status = w.HTML()


def team_sentence(team: dict[str, Any] | None) -> str:
    if team is None:
        return "You are not in a team."
    members = ", ".join(team["members"]) or (f"the hub group {team['hub_group']}" if team["hub_group"] else "nobody")
    invited = f" Invited: {', '.join(team['invited'])}." if team["invited"] else ""
    return f"Team {team['name']}: {members}.{invited}"


class MyTeam(_Panel):
    """``MyTeam("slug")``: the caller's team, the invitations waiting for them, and the actions
    the competition's rules allow."""

    def __init__(self, slug: str, *, client: PodiumClient | None = None) -> None:
        super().__init__(slug, client or PodiumClient())
        self.state: dict[str, Any] = {}
        self.team_html = w.HTML()
        self.invitations_box = w.VBox()
        self.name_input = w.Text(placeholder="Team name", description="New team")
        self.create_button = w.Button(description="Create team", icon="users")
        self.create_button.on_click(lambda _: self._guard(lambda: self.create(self.name_input.value)))
        self.invite_input = w.Text(placeholder="hub user name", description="Invite")
        self.invite_button = w.Button(description="Send invitation", icon="envelope")
        self.invite_button.on_click(lambda _: self._guard(lambda: self.invite(self.invite_input.value)))
        self.leave_button = w.Button(description="Leave team", button_style="warning")
        self.leave_button.on_click(lambda _: self._guard(self.leave))
        self.children = [self.team_html, self.invitations_box, w.HBox([self.name_input, self.create_button]),
                         w.HBox([self.invite_input, self.invite_button]), self.leave_button, self.status]
        self._guard(self.refresh)

    @property
    def team(self) -> dict[str, Any] | None:
        return self.state.get("team")

    def refresh(self) -> dict[str, Any]:
        return self._show(self.client.my_team(self.slug))

    def _show(self, state: dict[str, Any]) -> dict[str, Any]:
        self.state = state
        rules = state["policy"]
        self.team_html.value = f"<p>{html.escape(team_sentence(self.team))}</p>"
        buttons = []
        for invitation in state["invitations"]:
            accept = w.Button(description=f"Join {invitation['name']}", button_style="success")
            accept.on_click(lambda _, t=invitation["team"]: self._guard(lambda: self.accept(t)))
            decline = w.Button(description="Decline")
            decline.on_click(lambda _, t=invitation["team"]: self._guard(lambda: self.decline(t)))
            buttons.append(w.HBox([w.HTML(f"{html.escape(invitation['invited_by'])} invites you to "
                                          f"<b>{html.escape(invitation['name'])}</b>"), accept, decline]))
        self.invitations_box.children = buttons
        open_ = rules["participant_teams"]
        in_team = self.team is not None
        self.create_button.disabled = self.name_input.disabled = not open_ or in_team
        self.invite_button.disabled = self.invite_input.disabled = not open_ or not in_team
        self.leave_button.disabled = not open_ or not in_team
        return state

    def create(self, name: str) -> dict[str, Any]:
        self.client.create_team(self.slug, name)
        self._say(f"Team {name} created: invite your teammates.")
        return self.refresh()

    def invite(self, username: str) -> dict[str, Any]:
        self.client.invite(self.slug, self.team["id"], username)
        self._say(f"{username} is invited.")
        return self.refresh()

    def accept(self, team_id: int) -> dict[str, Any]:
        state = self._show(self.client.answer_invitation(self.slug, team_id, "accept"))
        self._say(f"You joined team {state['team']['name']}: your submissions are now the team's.")
        return state

    def decline(self, team_id: int) -> dict[str, Any]:
        return self._show(self.client.answer_invitation(self.slug, team_id, "decline"))

    def leave(self) -> dict[str, Any]:
        state = self._show(self.client.leave_team(self.slug))
        self._say("You left the team; its submissions and quota stay with it.")
        return state


class TeamsTab(_Panel):
    """``TeamsTab("slug")`` (also the organizer panel's Teams tab): every team, with forms to make
    teams from names, a hub group or a CSV roster, and the competition's team rules."""

    def __init__(self, slug: str, *, client: PodiumClient | None = None) -> None:
        super().__init__(slug, client or PodiumClient())
        self.teams: list[dict[str, Any]] = []
        self.table = w.HTML()
        self.name_input = w.Text(description="Team")
        self.members_input = w.Text(description="Members", placeholder="ann, bob (or leave empty)")
        self.group_input = w.Text(description="Hub group", placeholder="a hub group per team (optional)")
        self.create_button = w.Button(description="Create team", icon="users")
        self.create_button.on_click(lambda _: self._guard(self._create_from_form))
        self.roster_input = w.Textarea(placeholder="team,username\nRed,ann\nRed,bob", description="CSV")
        self.roster_button = w.Button(description="Import roster", icon="upload")
        self.roster_button.on_click(lambda _: self._guard(lambda: self.import_roster(self.roster_input.value)))
        self.participant_teams = w.Checkbox(description="Participants make their own teams")
        self.max_size = w.BoundedIntText(min=0, max=10_000, description="Max size")
        self.policy_button = w.Button(description="Save rules")
        self.policy_button.on_click(lambda _: self._guard(self._save_policy_from_form))
        self.children = [
            self.table,
            w.HBox([self.name_input, self.members_input, self.group_input, self.create_button]),
            w.HBox([self.roster_input, self.roster_button]),
            w.HBox([self.participant_teams, self.max_size, self.policy_button]),
            self.status,
        ]
        self._guard(self.refresh)

    def refresh(self) -> list[dict[str, Any]]:
        self.teams = self.client.teams(self.slug)
        rules = self.client.team_policy(self.slug)
        self.participant_teams.value = rules["participant_teams"]
        self.max_size.value = rules["max_size"] or 0
        rows = "".join(
            f"<tr><td>{html.escape(t['name'])}</td><td>{html.escape(', '.join(t['members']))}</td>"
            f"<td>{html.escape(t['hub_group'] or '')}</td><td>{html.escape(', '.join(t['invited']))}</td></tr>"
            for t in self.teams)
        self.table.value = ("<table><tr><th>Team</th><th>Members</th><th>Hub group</th><th>Invited</th></tr>"
                            f"{rows}</table>" if self.teams else "<p>No teams yet.</p>")
        return self.teams

    def create(self, name: str, members: list[str] | None = None, hub_group: str | None = None) -> dict[str, Any]:
        team = self.client.create_team(self.slug, name, members=members, hub_group=hub_group)
        self._say(f"Team {name} created.")
        self.refresh()
        return team

    def _create_from_form(self) -> dict[str, Any]:
        members = [m.strip() for m in self.members_input.value.split(",") if m.strip()]
        return self.create(self.name_input.value, members, self.group_input.value.strip() or None)

    def import_roster(self, text: str) -> list[dict[str, Any]]:
        teams = self.client.import_team_roster(self.slug, text)
        self._say(f"{len(teams)} team(s) made from the roster.")
        self.refresh()
        return teams

    def set_policy(self, participant_teams: bool, max_size: int = 0, join_deadline: str | None = None) -> dict[str, Any]:
        rules = self.client.set_team_policy(self.slug, participant_teams=participant_teams, max_size=max_size,
                                            join_deadline=join_deadline)
        self._say("Team rules saved.")
        self.refresh()
        return rules

    def _save_policy_from_form(self) -> dict[str, Any]:
        current = self.client.team_policy(self.slug)
        return self.set_policy(self.participant_teams.value, self.max_size.value, current["join_deadline"])
