"""What a verified launch tells Podium: which hub user launched (their LTI id kept for the
grades), which competition the course links, and where that course's grades go."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import LtiLaunchRefused, NotFound
from ..orm import Competition, LtiLink, LtiUser

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"


def hub_username(launch: dict[str, Any], claim: str) -> str:
    """The hub user of a launch: the claim the hub's LTI authenticator also names users by
    (``LTI13Authenticator.username_key``), normalized as JupyterHub does (lowercase)."""
    value = launch.get(claim)
    if value is None:
        value = (launch.get(CLAIM + "custom") or {}).get(claim)
    if not isinstance(value, str) or not value.strip():
        raise LtiLaunchRefused(f"The launch carries no '{claim}' claim to name the hub user by; "
                               "set lti_username_claim to a claim your LMS sends.")
    return value.strip().lower()


def competition_of(session: Session, launch: dict[str, Any]) -> Competition:
    """The competition a resource link names: its custom parameter ``competition`` (what deep
    linking sets), else the slug in its target link URI (``.../competitions/<slug>``)."""
    slug = (launch.get(CLAIM + "custom") or {}).get("competition")
    if not slug:
        parts = urlparse(launch.get(CLAIM + "target_link_uri") or "").path.rstrip("/").split("/")
        slug = parts[-1] if len(parts) >= 2 and parts[-2] == "competitions" else None
    competition = session.scalar(select(Competition).where(Competition.slug == slug)) if slug else None
    if competition is None:
        raise NotFound(f"This course links a competition Podium does not have: {slug or '(none named)'}. "
                       "Ask the instructor to link it again (deep linking lists the competitions).")
    return competition


def remember_user(session: Session, launch: dict[str, Any], username: str) -> LtiUser:
    issuer, subject = launch["iss"], launch["sub"]
    user = session.scalar(select(LtiUser).where(LtiUser.issuer == issuer, LtiUser.subject == subject))
    if user is None:
        user = LtiUser(issuer=issuer, subject=subject, username=username)
        session.add(user)
    user.username = username
    return user


def remember_link(session: Session, launch: dict[str, Any], competition: Competition) -> LtiLink:
    """The course's resource link to ``competition``, with the grade service it offers (refreshed
    at every launch: platforms may change their endpoints)."""
    deployment = launch[CLAIM + "deployment_id"]
    resource_link = (launch.get(CLAIM + "resource_link") or {}).get("id")
    link = session.scalar(select(LtiLink).where(LtiLink.issuer == launch["iss"], LtiLink.deployment_id == deployment,
                                                LtiLink.resource_link_id == resource_link))
    if link is None:
        link = LtiLink(issuer=launch["iss"], deployment_id=deployment, resource_link_id=resource_link)
        session.add(link)
    aud = launch["aud"]
    context = launch.get(CLAIM + "context") or {}
    link.client_id = aud[0] if isinstance(aud, list) else aud
    link.competition_id = competition.id
    link.context_id, link.context_title = context.get("id"), context.get("title")
    link.ags = launch.get(AGS_CLAIM) or link.ags
    return link
