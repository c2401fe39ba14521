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
        return leaderboard_visible(
            manages=self.manages,
            can_view=self.can_view,
            is_participant=self.is_participant,
            board_hidden=phase.leaderboard is not None and phase.leaderboard.hidden,
            visibility=phase.leaderboard_visibility,
        )


def leaderboard_visible(
    *, manages: bool, can_view: bool, is_participant: bool, board_hidden: bool, visibility: LeaderboardVisibility
) -> bool:
    """Whether a phase's leaderboard may be read: organizers always, others by its visibility."""
    if manages:
        return True
    if board_hidden:
        return False
    if visibility == LeaderboardVisibility.public:
        return can_view
    if visibility == LeaderboardVisibility.participants:
        return is_participant
    return False


@dataclass(frozen=True)
class Standing:
    """What the database and the hub groups say about one user in one competition."""

    is_organizer: bool
    participant_status: ParticipantStatus | None
    via_group: bool


def standing(
    identity: Identity,
    *,
    organizer_group: str | None,
    registration_mode: RegistrationMode,
    participant_groups: list | None,
    listed_organizer: bool,
    registered_status: ParticipantStatus | str | None,
) -> Standing:
    """Combine the hub's groups with the organizer and registration rows read for ``identity``."""
    is_organizer = bool((organizer_group and organizer_group in identity.groups) or listed_organizer)
    if registration_mode == RegistrationMode.groups:
        if identity.groups & set(participant_groups or ()):
            return Standing(is_organizer, ParticipantStatus.approved, True)
        return Standing(is_organizer, None, False)
    if registered_status is not None:  # a member or its stored value alike
        return Standing(is_organizer, ParticipantStatus(registered_status), False)
    return Standing(is_organizer, None, False)


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
    facts = standing(
        identity,
        organizer_group=competition.organizer_group,
        registration_mode=competition.registration_mode,
        participant_groups=competition.participant_groups,
        listed_organizer=bool(organizer_row),
        registered_status=registered_status,
    )
    return CompetitionRoles(identity, competition, facts.is_organizer, facts.participant_status, facts.via_group)
