"""A class's course loop over the API: deadline extensions, the final selection, the private
board's reveal and shake-up, and grades for the gradebook."""

from __future__ import annotations

from sqlalchemy import select

from ..classroom import deadlines, grades, reveal, selection
from ..errors import PermissionDenied
from ..leaderboards import store as leaderboard_store
from ..lti.grades import is_linked, send_grades_at_reveal_logged
from ..orm import Phase, RegistrationMode, Team
from ..request_bodies import ExtensionIn, FinalSelectionIn, GradesQuery
from ..teams import competitors
from .base import APIHandler, api


class ClassRoster:
    """The class as the hub knows it, for the grades (mixed into a handler: needs ``db``,
    ``podium`` and ``on_loop``)."""

    def roster(self, phase: Phase) -> list[str]:
        """The hub groups' members (a class) and everyone the database knows as a participant
        (the hub is asked on the loop: its client is asynchronous)."""
        names = set(grades.default_roster(self.db, phase))
        competition = phase.competition
        if competition.registration_mode == RegistrationMode.groups:
            for group in competition.participant_groups or ():
                names |= set(self.on_loop(self.podium.hub.group_members(group)))
        return sorted(names)

    def teams(self, phase: Phase) -> dict[str, str]:
        """``{username: team name}``: the teams' recorded members and the hub groups' of the teams
        made from a hub group."""
        found = grades.default_teams(self.db, phase)
        for team in self.db.scalars(select(Team).where(Team.competition_id == phase.competition_id,
                                                       Team.hub_group.is_not(None))):
            for name in self.on_loop(self.podium.hub.group_members(team.hub_group)):
                found.setdefault(name, team.name)
        return found


class ExtensionsHandler(APIHandler):
    @api("List the phase's deadline extensions (organizers).", requires="manage")
    async def get(self, phase: Phase) -> None:
        self.write_json({"phase": phase.id, "extensions": [
            deadlines.extension_model(e) for e in deadlines.extensions(self.db, phase)]})

    @api("Give one participant (`username`) or one team (`team`: every member) a later deadline in the "
         "phase, replacing an earlier extension (organizers).", requires="manage", body=ExtensionIn)
    async def post(self, phase: Phase) -> None:
        body: ExtensionIn = self.body
        kind, subject = ("team", body.team) if body.team else ("user", body.username)
        extension = deadlines.grant(self.db, phase, subject, body.end, self.user.name, body.reason, kind)
        self.db.commit()
        self.write_json(deadlines.extension_model(extension))


class ExtensionHandler(APIHandler):
    @api("Withdraw a participant's extension (organizers).", requires="manage", status=204)
    async def delete(self, phase: Phase, username: str) -> None:
        deadlines.revoke(self.db, phase, username)
        self.db.commit()
        self.set_status(204)
        self.finish()


class TeamExtensionHandler(APIHandler):
    @api("Withdraw a team's extension (organizers).", requires="manage", status=204)
    async def delete(self, phase: Phase, team: str) -> None:
        deadlines.revoke(self.db, phase, team, subject_kind="team")
        self.db.commit()
        self.set_status(204)
        self.finish()


class SelectionHandler(APIHandler):
    @api("My final selection in the phase (my team's, in a team): the submissions chosen, or the "
         "fallback (the best public ones) that counts if none is chosen, and when it locks.",
         requires="participate")
    async def get(self, phase: Phase) -> None:
        self.write_json(selection.selection_model(self.db, phase, self.competitor(phase)))

    @api("Replace my final selection, or my team's (at most the phase's max_selected finished "
         "submissions; an empty list returns to the fallback). Locked after my (team's) deadline and "
         "grace period.", requires="participate", body=FinalSelectionIn)
    async def put(self, phase: Phase) -> None:
        who = self.competitor(phase)
        selection.replace_selection(self.db, phase, who, self.body.submissions)
        if phase.submission_rule.value == "selected":
            leaderboard_store.rebuild(self.db, phase, owner=who.key)
        self.db.commit()
        self.write_json(selection.selection_model(self.db, phase, who))

    def competitor(self, phase: Phase) -> competitors.Competitor:
        return competitors.competitor(self.db, phase.competition_id, self.user)


class RevealHandler(ClassRoster, APIHandler):
    @api("Whether the phase's private board is revealed, and when it will be.", requires="view")
    async def get(self, phase: Phase) -> None:
        self.write_json(reveal.reveal_model(phase))

    @api("Reveal the phase's private board to participants now (organizers); where courses link the "
         "competition (LTI 1.3), its grades go to their gradebooks too (`lti`: what was sent, or why not).",
         requires="manage")
    async def post(self, phase: Phase) -> None:
        reveal.reveal(phase)
        self.db.commit()
        answer = reveal.reveal_model(phase)
        answer["lti"] = send_grades_at_reveal_logged(self.podium, phase.id, self.roster(phase), self.teams(phase)) \
            if is_linked(self.db, phase.competition_id) else None
        self.write_json(answer)


class PrivateLeaderboardHandler(APIHandler):
    @api("The private board: each participant's final selection ranked on the private scores, with "
         "their public rank and shake-up (places gained). Participants see it once it is revealed.",
         requires="view")
    async def get(self, phase: Phase) -> None:
        roles = self.caller_roles
        if not roles.can_see_leaderboard(phase):
            raise PermissionDenied("The leaderboard of this phase is not visible to you.")
        if not roles.manages and not reveal.is_revealed(phase):
            when = f" at {phase.reveal_at.isoformat()}Z" if phase.reveal_at else " by the organizers"
            raise PermissionDenied(f"The private leaderboard of phase '{phase.name}' is revealed{when}.")
        board = phase.leaderboard
        self.write_json({
            **reveal.reveal_model(phase),
            "columns": [{"key": c.key, "title": c.title, "precision": c.precision}
                        for c in (board.columns if board else []) if roles.manages or not c.hidden],
            "entries": [r.as_json() for r in reveal.private_board(self.db, phase)],
            "me": competitors.competitor(self.db, phase.competition_id, self.user).key,  # a team ranks as one row
        })


class GradesHandler(ClassRoster, APIHandler):
    @api("Grades for every roster member (the class's hub groups and every participant), including those "
         "who never submitted: final score, rank, late penalty and grade from the phase's grade_mapping. "
         "?format=csv&layout=canvas|moodle gives the gradebooks' import layouts (organizers).",
         requires="manage", query=GradesQuery, produces=("application/json", "text/csv"))
    async def get(self, phase: Phase) -> None:
        roster = self.roster(phase)
        rows = grades.grades_for_phase(self.db, phase, roster, teams=self.teams(phase))
        q: GradesQuery = self.query
        if q.format == "csv":
            self.set_header("Content-Type", "text/csv; charset=UTF-8")
            self.set_header("Content-Disposition",
                            f'attachment; filename="{phase.competition.slug}-phase-{phase.id}-grades-{q.layout}.csv"')
            self.finish(grades.to_csv(rows, phase, q.layout))
            return
        self.write_json({"phase": phase.id, "roster": len(rows), "grade_mapping": phase.grade_mapping or grades.DEFAULT_MAPPING,
                         "points_possible": grades.points_possible(phase.grade_mapping), "grades": [r.as_json() for r in rows]})


default_handlers = [
    ("/phases/{phase}/extensions", ExtensionsHandler),
    ("/phases/{phase}/extensions/{username}", ExtensionHandler),
    ("/phases/{phase}/team-extensions/{team}", TeamExtensionHandler),
    ("/phases/{phase}/selection", SelectionHandler),
    ("/phases/{phase}/reveal", RevealHandler),
    ("/phases/{phase}/private-leaderboard", PrivateLeaderboardHandler),
    ("/phases/{phase}/grades", GradesHandler),
]
