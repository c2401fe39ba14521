"""Who may do what: platform roles from JupyterHub, per-competition roles from Podium's database.

Hub admins are Podium admins. Members of the configured creator group may create competitions.
Compute queues have owners and are shared with hub users and groups (``compute.queue_access``).
Per competition: organizers (listed in the database, or members of the competition's organizer
group), participants (registered and approved, or members of one of its participant groups when
registration is restricted to hub groups), and everyone else. Unpublished competitions are
invisible (404) to everyone but their organizers and admins.

Each API verb declares what it requires (``@api(..., requires="manage")``, see
``apihandlers.base``), in the words of ``REQUIREMENTS``; the base handler checks it on the
object the path names before the verb runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..errors import NotFound, PermissionDenied
from ..orm import (
    Competition,
    LeaderboardVisibility,
    Organizer,
    Participant,
    ParticipantStatus,
    Phase,
    RegistrationMode,
)
from .identity import Identity

#: What a verb may require, with the sentence the API's document shows for it. A verb declares
#: one of these, or ``None`` when it is public (no token at all).
REQUIREMENTS: dict[str, str] = {
    "user": "any hub user",
    "view": "a hub user who may see the competition: everyone once it is published, before that "
    "its organizers and hub admins (others get 404); a submission is seen by its owner, the "
    "competition's organizers and hub admins",
    "participate": "an approved participant of the competition, one of its organizers or a hub admin",
    "manage": "an organizer of the competition or a hub admin",
    "own": "the hub user who created it (a submission: its owner; an upload or an import: its "
    "creator or a hub admin)",
    "create": "a hub admin or a member of the hub group allowed to create competitions",
    "admin": "a hub admin",
    "queue token": "a compute worker, with its queue's token instead of a hub token",
    "create queues": "a hub admin, a hub user who may create competitions, or a member of the hub group "
    "allowed to run compute queues (queue_organizer_group)",
    "use queue": "the compute queue's owner, a hub user or a member of a hub group it is shared with, or a hub "
    "admin (others get 404); a queue without an owner (the platform's) is used by everyone",
    "manage queue": "the compute queue's owner or a hub admin",
}
#: the requirements checked on the object the path names (its competition, or its creator)
ON_THE_PATH = ("view", "participate", "manage", "own", "use queue", "manage queue")
#: the requirements checked on the compute queue the path names
ON_A_QUEUE = ("use queue", "manage queue")


def can_create_competitions(identity: Identity, creator_group: str) -> bool:
    return identity.admin or not creator_group or creator_group in identity.groups


@dataclass(frozen=True)
class Standing:
    """What the database and the hub say about one user in one competition, and the rules that
    follow from it: the one definition of who manages, views and may read a leaderboard, shared
    by the ORM path (``CompetitionRoles``) and the leaderboard's fast path (``leaderboards.reads``)."""

    is_organizer: bool
    participant_status: ParticipantStatus | None
    via_group: bool
    is_admin: bool
    published: bool

    @property
    def manages(self) -> bool:
        """Organizers and admins manage a competition."""
        return self.is_organizer or self.is_admin

    @property
    def is_participant(self) -> bool:
        return self.participant_status == ParticipantStatus.approved

    @property
    def can_view(self) -> bool:
        return self.published or self.manages

    def sees_leaderboard(self, *, board_hidden: bool, visibility: LeaderboardVisibility) -> bool:
        """Whether a phase's leaderboard may be read: organizers always, others by its visibility."""
        if self.manages:
            return True
        if board_hidden:
            return False
        if visibility == LeaderboardVisibility.public:
            return self.can_view
        if visibility == LeaderboardVisibility.participants:
            return self.is_participant
        return False


@dataclass(frozen=True)
class CompetitionRoles(Standing):
    """One user's standing in one competition, with the competition and the identity at hand
    (``published`` is read when the roles are made: only managers change it, and they view
    either way)."""

    identity: Identity
    competition: Competition

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
        """Approved participants (and organizers) pass; others learn where their registration stands."""
        self.require_view()
        if self.is_participant or self.manages:
            return
        slug = self.competition.slug
        if self.participant_status == ParticipantStatus.pending:
            raise PermissionDenied(
                f"Your registration for '{slug}' is waiting for approval by its organizers; "
                "you can submit once they approve it."
            )
        if self.participant_status == ParticipantStatus.denied:
            raise PermissionDenied(f"Your registration for '{slug}' was not approved by its organizers.")
        raise PermissionDenied(
            f"Register for this competition first: only approved participants of '{slug}' may do this."
        )

    def can_see_leaderboard(self, phase: Phase) -> bool:
        return self.sees_leaderboard(
            board_hidden=phase.leaderboard is not None and phase.leaderboard.hidden,
            visibility=phase.leaderboard_visibility,
        )


def standing(
    identity: Identity,
    *,
    published: bool,
    organizer_group: str | None,
    registration_mode: RegistrationMode,
    participant_groups: list | None,
    listed_organizer: bool,
    registered_status: ParticipantStatus | str | None,
) -> Standing:
    """Combine the hub's groups with the organizer and registration rows read for ``identity``."""
    is_organizer = bool((organizer_group and organizer_group in identity.groups) or listed_organizer)
    status, via_group = None, False
    if registration_mode == RegistrationMode.groups:
        if identity.groups & set(participant_groups or ()):
            status, via_group = ParticipantStatus.approved, True
    elif registered_status is not None:  # a member or its stored value alike
        status = ParticipantStatus(registered_status)
    return Standing(is_organizer, status, via_group, identity.admin, bool(published))


#: both database facts of a caller's roles in one round trip, built once: this runs on every
#: request that names a competition
_ROLE_FACTS = select(
    select(Organizer.id)
    .where(Organizer.competition_id == bindparam("competition_id"), Organizer.username == bindparam("username"))
    .exists(),
    select(Participant.status)
    .where(Participant.competition_id == bindparam("competition_id"), Participant.username == bindparam("username"))
    .scalar_subquery(),
)


def competition_roles(session: Session, identity: Identity, competition: Competition) -> CompetitionRoles:
    """Compute ``identity``'s roles in ``competition`` (hub groups are read fresh from the token)."""
    organizer_row, registered_status = session.execute(
        _ROLE_FACTS, {"competition_id": competition.id, "username": identity.name}).one()
    facts = standing(
        identity,
        published=competition.published,
        organizer_group=competition.organizer_group,
        registration_mode=competition.registration_mode,
        participant_groups=competition.participant_groups,
        listed_organizer=bool(organizer_row),
        registered_status=registered_status,
    )
    return CompetitionRoles(**vars(facts), identity=identity, competition=competition)
