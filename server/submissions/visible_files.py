"""Which of a submission's files its owner may download: an allow-list, never "everything unless
hidden". Scoring programs read the reference data and may print or write it, so what they produce
is shown to participants only where the organizer said so, and never while the leaderboard is
private (before its reveal). Organizers see every file.
"""

from __future__ import annotations

from ..orm import LeaderboardVisibility, Phase

#: what the participant's own code and upload produced: shown unless the phase hides it
OWN_FILES = frozenset({"submission", "prediction_output", "prediction_log", "executed_notebook"})
#: what the scoring program produced: shown only on the organizer's opt-in
SCORING_FILES = frozenset({"scoring_output", "scoring_log"})


def participant_roles(phase: Phase) -> frozenset[str]:
    """The file roles a participant may download for a submission in ``phase``."""
    allowed = set(OWN_FILES)
    if phase.hide_output or phase.hide_prediction_output:
        allowed -= {"prediction_output", "prediction_log", "executed_notebook"}
    if phase.leaderboard_visibility == LeaderboardVisibility.private or phase.hide_output or phase.private_scores:
        return frozenset(allowed)
    if phase.competition.enable_detailed_results:
        allowed.add("detailed_results")
    if phase.show_scoring_output and not phase.hide_score_output:
        allowed |= SCORING_FILES
    return frozenset(allowed)


def may_download(phase: Phase, role: str, manages: bool) -> bool:
    """Whether the caller may download a file with ``role`` (organizers: everything)."""
    return manages or role in participant_roles(phase)
