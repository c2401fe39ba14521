"""The bounds of the service's in-memory caches are settings (bench B7: memory per process), and
each reaches the cache it names."""

from __future__ import annotations

from pathlib import Path

import pytest
from podium.server.app import PodiumService
from podium.server.leaderboards.store import PAGES, PageCache
from traitlets import TraitError


def test_the_cache_settings_reach_their_caches(tmp_path: Path) -> None:
    before = PAGES.size
    app = PodiumService(db_url=f"sqlite:///{tmp_path / 'podium.sqlite'}", data_dir=str(tmp_path), upgrade_db=True,
                        leaderboard_page_cache=3, my_submissions_cache_bytes=4096, remembered_leaderboard_readers=7)
    try:
        app.init_db()
        assert PAGES.size == 3
        assert app.submission_pages.max_bytes == 4096
        assert app.leaderboard_access.size == 7
    finally:
        PAGES.resize(before)
        app.changes.stop()
        app.ranking_process.stop()
        app.database_pool.shutdown()
        app.engine.dispose()
        app.reads.engine.dispose()


def test_a_page_cache_keeps_the_pages_last_read_up_to_its_size() -> None:
    cache = PageCache(size=3)
    for n in range(3):
        cache.put(("page", n), f"text {n}")
    assert cache.get(("page", 0)) == "text 0"  # read last: kept
    cache.resize(2)
    assert cache.get(("page", 1)) is None  # the least recently read went first
    assert [cache.get(("page", n)) for n in (0, 2)] == ["text 0", "text 2"]
    cache.resize(0)
    cache.put(("page", 3), "text 3")
    assert cache.get(("page", 3)) is None and cache.get(("page", 0)) is None


@pytest.mark.parametrize("name", ["leaderboard_page_cache", "my_submissions_cache_bytes",
                                  "remembered_leaderboard_readers"])
def test_a_negative_bound_is_refused(name: str) -> None:
    with pytest.raises(TraitError, match=name):
        PodiumService(**{name: -1})
