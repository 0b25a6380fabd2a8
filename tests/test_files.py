"""Atomic archive writes (crawler/files.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from crawler.files import atomic_write


def test_writes_replace_and_skip_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "post.md"
    assert atomic_write(path, b"one", durable=False) is True
    assert path.read_bytes() == b"one"
    mtime = path.stat().st_mtime_ns
    assert atomic_write(path, b"one", durable=False) is False  # same bytes: untouched
    assert path.stat().st_mtime_ns == mtime
    assert atomic_write(path, b"two!" * 1000, durable=True) is True
    assert path.read_bytes() == b"two!" * 1000
    assert [p.name for p in path.parent.iterdir()] == ["post.md"]  # no temp file left
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_a_directory_removed_after_a_write_is_made_again(tmp_path: Path) -> None:
    """Directories are remembered (one mkdir each); one deleted meanwhile (a
    test, a hand clean-up) is made again, not an error."""
    path = tmp_path / "raw" / "x.warc.gz"
    atomic_write(path, b"1", durable=False)
    shutil.rmtree(tmp_path / "raw")
    assert atomic_write(path, b"2", durable=False) is True
    assert path.read_bytes() == b"2"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
