"""Joining a competition: register, approve, deny, and organizer lists.

Open competitions approve registrations at once; approval competitions keep them pending until an
organizer decides; competitions restricted to hub groups take their participants from the groups
and refuse registrations from anyone else.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..auth.permissions import CompetitionRoles
from ..errors import Conflict, NotFound, PermissionDenied
from ..orm import Competition, Organizer, Participant, ParticipantStatus, RegistrationMode


def register(session: Session, roles: CompetitionRoles) -> Participant | None:
    """Register the caller; returns their participant row (None for a group member)."""
    competition = roles.competition
    roles.require_view()
    if not competition.published:
        raise Conflict("This competition is not published yet; registration opens when it is.")
    if competition.registration_mode == RegistrationMode.groups:
        if roles.via_group:
            return None
        raise PermissionDenied(
            "This competition is restricted to members of the hub group(s) "
            f"{', '.join(competition.participant_groups)}; ask its organizers to add you."
        )
    existing = session.scalar(
        select(Participant).where(
            Participant.competition_id == competition.id, Participant.username == roles.identity.name
        )
    )
    if existing is not None:
        return existing
    status = (
        ParticipantStatus.approved
        if competition.registration_mode == RegistrationMode.open
        else ParticipantStatus.pending
    )
    participant = Participant(competition_id=competition.id, username=roles.identity.name, status=status)
    session.add(participant)
    session.flush()
    return participant


def decide(session: Session, competition: Competition, username: str, status: ParticipantStatus, by: str) -> Participant:
    """Approve or deny a registration (an organizer may also revoke an approval)."""
    participant = session.scalar(
        select(Participant).where(Participant.competition_id == competition.id, Participant.username == username)
    )
    if participant is None:
        raise NotFound(f"{username} has not registered for '{competition.slug}'.")
    participant.status = status
    participant.decided_by = by
    return participant


def add_organizer(session: Session, competition: Competition, username: str) -> Organizer:
    existing = next((o for o in competition.organizers if o.username == username), None)
    if existing is not None:
        return existing
    organizer = Organizer(username=username)
    competition.organizers.append(organizer)
    session.flush()
    return organizer


def remove_organizer(competition: Competition, username: str) -> None:
    organizer = next((o for o in competition.organizers if o.username == username), None)
    if organizer is None:
        raise NotFound(f"{username} is not an organizer of '{competition.slug}'.")
    if len(competition.organizers) == 1:
        raise Conflict("A competition keeps at least one organizer.")
    competition.organizers.remove(organizer)
