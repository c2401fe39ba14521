"""The rules of the "my submissions" page cache (``submissions.listing_cache``), on its own: which
change makes which page stale, and its bounds. The service tests show the changes arriving."""

from __future__ import annotations

from datetime import timedelta

from podium.server.clock import utcnow
from podium.server.leaderboards.changes import ChangeFeed
from podium.server.submissions.listing_cache import EVERYONE, SubmissionPages, owner_key, team_key


def pages(**kwargs) -> tuple[SubmissionPages, ChangeFeed]:
    feed = ChangeFeed()
    feed.live = True
    return SubmissionPages(feed, enabled=True, **kwargs), feed


def test_a_page_is_stale_after_a_change_to_one_of_its_keys_or_the_feed() -> None:
    cache, feed = pages()
    keys = [owner_key("ann"), team_key(7)]
    cache.put("ann", "A", keys, cache.snapshot(), None)
    assert cache.get("ann") == "A"
    cache.changed([owner_key("bob"), team_key(8)])  # others' rows
    assert cache.get("ann") == "A"
    cache.changed([team_key(7)])
    assert cache.get("ann") is None
    cache.put("ann", "A2", keys, cache.snapshot(), None)
    cache.notified(EVERYONE)
    assert cache.get("ann") is None
    cache.put("ann", "A3", keys, cache.snapshot(), None)
    feed.bump()  # a phase, a role, a team changed somewhere
    assert cache.get("ann") is None


def test_a_page_read_across_a_change_is_never_served() -> None:
    cache, _ = pages()
    snapshot = cache.snapshot()  # taken before the page's queries
    cache.changed([owner_key("ann")])  # committed while they ran
    cache.put("ann", "old rows", [owner_key("ann")], snapshot, None)
    assert cache.get("ann") is None


def test_a_page_ends_at_its_phases_first_reveal_date() -> None:
    cache, _ = pages()
    cache.put("soon", "S", [owner_key("ann")], cache.snapshot(), utcnow() + timedelta(hours=1))
    cache.put("past", "P", [owner_key("ann")], cache.snapshot(), utcnow() - timedelta(seconds=1))
    assert cache.get("soon") == "S" and cache.get("past") is None


def test_nothing_is_remembered_unless_enabled_and_live() -> None:
    cache, feed = pages()
    feed.live = False
    cache.put("ann", "A", [owner_key("ann")], cache.snapshot(), None)
    feed.live = True
    assert cache.get("ann") is None
    off = SubmissionPages(feed, enabled=False)
    off.put("ann", "A", [owner_key("ann")], off.snapshot(), None)
    assert off.get("ann") is None


def test_bounded_in_bytes_and_in_keys_remembered() -> None:
    cache, _ = pages(max_bytes=800, max_keys=3)
    for i in range(10):
        cache.put(i, "x" * 100, [owner_key(str(i))], cache.snapshot(), None)
    kept = [i for i in range(10) if cache.get(i) is not None]
    assert kept == [2, 3, 4, 5, 6, 7, 8, 9]  # least recently used out first
    assert cache.get(0) is None
    cache.changed([owner_key(f"u{i}") for i in range(4)])  # more keys than it counts: all change
    assert all(cache.get(i) is None for i in range(10))
