"""Safe zip handling for everything that crosses a trust boundary (bundles, submissions, outputs).

Extraction refuses entries with ``..``, absolute paths, drive letters, symlinks, devices and
duplicate names, and stops at caps on real bytes written and on file count, leaving nothing
behind on failure. Checking or zipping a directory refuses symlinks, hard links to files outside
it, devices and FIFOs instead of following them: a container's output is hostile input.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile

from .errors import ArchiveError

DEFAULT_MAX_BYTES = 2 * 1024**3
DEFAULT_MAX_FILES = 20_000
CHUNK = 1024 * 1024


def _check_name(name: str) -> str:
    clean = name.replace("\\", "/")
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        raise ArchiveError(f"archive entry {name!r} has an absolute path")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ArchiveError(f"archive entry {name!r} points outside the archive ('..')")
    return "/".join(parts)


def safe_extract(
    archive: str, dest: str, max_bytes: int = DEFAULT_MAX_BYTES, max_files: int = DEFAULT_MAX_FILES
) -> int:
    """Extract ``archive`` into ``dest`` (created); returns bytes written. On any refusal the
    partly extracted tree is removed."""
    os.makedirs(dest, exist_ok=True)
    written = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > max_files:
                raise ArchiveError(f"archive has {len(infos)} entries; at most {max_files} are allowed")
            seen: set[str] = set()
            for info in infos:
                name = _check_name(info.filename)
                if not name or name.startswith("__MACOSX/") or name.endswith(".DS_Store"):
                    continue
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise ArchiveError(f"archive entry {info.filename!r} is a symbolic link")
                kind = stat.S_IFMT(mode)
                if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                    raise ArchiveError(f"archive entry {info.filename!r} is not a regular file")
                key = name.rstrip("/").lower()
                if key in seen:
                    raise ArchiveError(f"archive has the name {name!r} twice")
                seen.add(key)
                target = os.path.join(dest, name)
                if info.is_dir():
                    os.makedirs(target, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with zf.open(info) as src, open(target, "xb") as out:
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        if written > max_bytes:
                            raise ArchiveError(
                                f"archive expands to more than {max_bytes} bytes (stopped at {info.filename!r})"
                            )
                        out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise ArchiveError(f"not a valid zip archive: {e}") from None
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return written


def check_tree(root: str, max_bytes: int, max_files: int) -> tuple[int, int]:
    """Walk ``root`` without following links; refuse symbolic links, hard links to files outside
    ``root``, devices, FIFOs and sockets, and trees over the caps. Returns (files, bytes)."""
    files = total = 0
    links: dict[tuple[int, int], list] = {}  # (device, inode) of files with several names: [nlink, seen, rel]
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(st.st_mode):
                raise ArchiveError(f"the output contains a symbolic link: {rel}")
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                raise ArchiveError(f"the output contains a special file (device, FIFO or socket): {rel}")
            if st.st_nlink > 1:
                seen = links.setdefault((st.st_dev, st.st_ino), [st.st_nlink, 0, rel])
                seen[1] += 1
                if seen[1] > 1:
                    continue  # another name of a file counted already
            files += 1
            total += st.st_size
            if files > max_files:
                raise ArchiveError(f"the output has more than {max_files} files")
            if total > max_bytes:
                raise ArchiveError(f"the output is larger than {max_bytes} bytes")
    for nlink, seen, rel in links.values():
        if seen < nlink:
            raise ArchiveError(f"the output contains a hard link to a file outside it: {rel}")
    return files, total


def zip_tree(root: str, archive: str, max_bytes: int = DEFAULT_MAX_BYTES, max_files: int = DEFAULT_MAX_FILES) -> None:
    """Zip ``root`` after checking it (no links followed, caps enforced)."""
    check_tree(root, max_bytes, max_files)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as src, zf.open(os.path.relpath(path, root), "w") as out:
                    shutil.copyfileobj(src, out, CHUNK)
