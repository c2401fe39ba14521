"""Who may do what: platform roles from JupyterHub, per-competition roles from Podium's database.

Hub admins are Podium admins. Members of the configured creator group may create competitions.
Per competition: organizers (listed in the database, or members of the competition's organizer
group), participants (registered and approved, or members of one of its participant groups when
registration is restricted to hub groups), and everyone else. Unpublished competitions are
invisible (404) to everyone but their organizers and admins.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .auth import Identity
from .errors import NotFound, PermissionDenied
from .orm import (
    Competition,
    LeaderboardVisibility,
    Organizer,
    Participant,
    ParticipantStatus,
    Phase,
    RegistrationMode,
)


def can_create_competitions(identity: Identity, creator_group: str) -> bool:
    return identity.admin or not creator_group or creator_group in identity.groups


@dataclass(frozen=True)
class CompetitionRoles:
    """One user's standing in one competition."""

    identity: Identity
    competition: Competition
    is_organizer: bool
    participant_status: ParticipantStatus | None
    via_group: bool

    @property
    def is_admin(self) -> bool:
        return self.identity.admin

    @property
    def manages(self) -> bool:
        """Organizers and admins manage a competition."""
        return self.is_organizer or self.identity.admin

    @property
    def is_participant(self) -> bool:
        return self.participant_status == ParticipantStatus.approved

    @property
    def can_view(self) -> bool:
        return self.competition.published or self.manages

    def require_view(self) -> None:
        if not self.can_view:
            raise NotFound(f"No such competition: {self.competition.slug}")

    def require_manage(self) -> None:
        self.require_view()
        if not self.manages:
            raise PermissionDenied(
                f"Only the organizers of '{self.competition.slug}' may do this."
            )

    def require_participant(self) -> None:
        self.require_view()
        if not (self.is_participant or self.manages):
            raise PermissionDenied(
                f"Only approved participants of '{self.competition.slug}' may do this."
            )

    def can_see_leaderboard(self, phase: Phase) -> bool:
        if self.manages:
            return True
        if phase.leaderboard is not None and phase.leaderboard.hidden:
            return False
        visibility = phase.leaderboard_visibility
        if visibility == LeaderboardVisibility.public:
            return self.can_view
        if visibility == LeaderboardVisibility.participants:
            return self.is_participant
        return False


def competition_roles(session: Session, identity: Identity, competition: Competition) -> CompetitionRoles:
    """Compute ``identity``'s roles in ``competition`` (hub groups are read fresh from the token)."""
    # both database facts in one round trip: this runs on every request that names a competition
    listed_organizer = (
        select(Organizer.id)
        .where(Organizer.competition_id == competition.id, Organizer.username == identity.name)
        .exists()
    )
    registration = (
        select(Participant.status)
        .where(Participant.competition_id == competition.id, Participant.username == identity.name)
        .scalar_subquery()
    )
    organizer_row, registered_status = session.execute(select(listed_organizer, registration)).one()
    is_organizer = bool(
        (competition.organizer_group and competition.organizer_group in identity.groups) or organizer_row
    )
    via_group = False
    status: ParticipantStatus | None = None
    if competition.registration_mode == RegistrationMode.groups:
        if identity.groups & set(competition.participant_groups or ()):
            status, via_group = ParticipantStatus.approved, True
    elif registered_status is not None:
        status = ParticipantStatus(registered_status)  # a member or its stored value alike
    return CompetitionRoles(identity, competition, is_organizer, status, via_group)
