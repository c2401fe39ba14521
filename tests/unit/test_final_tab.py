"""The participant's Final tab in a team: the selection and the fallback are the team's, and the
private board marks the team's row (the service names it in ``me``), not the member's name."""

from __future__ import annotations

from podium.widgets.classroom import final_tab_html

PHASE = {"my_deadline": {"end": "2026-12-24T12:00:00Z", "extended": True}, "grace_seconds": 0}


def selection(chosen: bool, team: str | None) -> dict:
    return {"max_selected": 1, "submissions": [7], "chosen": chosen, "locked": False,
            "locks_at": "2026-12-24T12:00:00Z", "team": team}


def test_a_team_members_tab_speaks_of_the_team() -> None:
    assert "Final selection (fallback: team Red&#x27;s best public submissions): #7" in final_tab_html(
        PHASE, selection(False, "Red"), None, "ann")
    assert "Final selection (selected): #7" in final_tab_html(PHASE, selection(True, "Red"), None, "ann")
    assert "Final selection (fallback: your best public submissions): #7" in final_tab_html(
        PHASE, selection(False, None), None, "ann")


def test_the_private_board_marks_the_teams_row() -> None:
    private = {"me": "team/Red", "entries": [
        {"owner": "bob", "rank": 1, "public_rank": 2, "shake_up": 1},
        {"owner": "team/Red", "rank": 2, "public_rank": 1, "shake_up": -1}]}
    text = final_tab_html(PHASE, None, private, "ann")
    assert "Private leaderboard: rank 2 (public 1, shake-up" in text
