"""The pieces that keep participant-written files and signed URLs in their place: the tree check
(hard links to files outside), link-proof views (a real mount, so this runs as root as the
worker does) and the redaction of signed URLs from reasons."""

from __future__ import annotations

import errno
import os

import pytest
import requests
from podium.worker import archives, guarded_views
from podium.worker.disk_caps import release
from podium.worker.errors import ArchiveError
from podium.worker.redaction import PLACEHOLDER, without_urls


def test_a_hard_link_to_a_file_outside_the_tree_is_refused(tmp_path) -> None:
    outside, tree = tmp_path / "secret.txt", tmp_path / "output"
    tree.mkdir()
    outside.write_text("reference")
    (tree / "a.txt").write_text("mine")
    os.link(tree / "a.txt", tree / "b.txt")  # two names inside the tree: counted once, allowed
    assert archives.check_tree(str(tree), 10**6, 10) == (1, 4)
    os.link(outside, tree / "predictions.csv")
    with pytest.raises(ArchiveError, match="hard link to a file outside it: predictions.csv"):
        archives.check_tree(str(tree), 10**6, 10)


def test_a_view_follows_no_link_and_a_read_only_view_takes_no_write(tmp_path) -> None:
    assert guarded_views.supported(str(tmp_path))
    source, secret = tmp_path / "source", tmp_path / "secret.txt"
    source.mkdir()
    secret.write_text("reference")
    (source / "plain.txt").write_text("predictions")
    os.symlink(secret, source / "link.txt")
    os.mkdir(source / "sub")
    os.symlink(tmp_path, source / "sub" / "up")
    try:
        guarded_views.make_view(str(source), str(tmp_path / "view"), read_only=True)
        guarded_views.make_view(str(source), str(tmp_path / "rw"), read_only=False)
        assert (tmp_path / "view" / "plain.txt").read_text() == "predictions"
        for path in (tmp_path / "view" / "link.txt", tmp_path / "view" / "sub" / "up" / "secret.txt",
                     tmp_path / "rw" / "link.txt"):
            with pytest.raises(OSError) as refused:
                path.read_text()
            assert refused.value.errno == errno.ELOOP
        with pytest.raises(OSError) as refused:
            (tmp_path / "view" / "new.txt").write_text("x")
        assert refused.value.errno == errno.EROFS
        (tmp_path / "rw" / "new.txt").write_text("written")
        assert (source / "new.txt").read_text() == "written"
    finally:
        release(str(tmp_path))
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read()  # bind mounts on the same filesystem are released too
    assert not tmp_path.exists()


def test_signed_urls_are_removed_from_any_text() -> None:
    signed = "http://127.0.0.1:9/services/podium/storage/tasks/x.zip?method=GET&expires=1&sig=abc123"
    try:
        requests.get(signed, timeout=2)
    except requests.RequestException as e:
        message = str(e)
    assert "sig=abc123" in message  # what requests says quotes the link
    cleaned = without_urls(f"Fetching the ingestion program failed: download failed: {message}")
    assert "sig=" not in cleaned and "/storage/" not in cleaned and PLACEHOLDER in cleaned
    assert cleaned.startswith("Fetching the ingestion program failed: download failed: ")
    s3 = "see https://bucket.s3.amazonaws.com/k?X-Amz-Signature=ff and /c/b?sv=2021&sig=zz done"
    assert without_urls(s3) == f"see {PLACEHOLDER} and {PLACEHOLDER} done"
    assert without_urls("exited with code 1: no link here") == "exited with code 1: no link here"
