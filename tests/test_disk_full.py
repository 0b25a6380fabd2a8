"""A full disk (issue 19), on a small tmpfs of its own (``mount -t tmpfs``, as
root; skipped where that is not allowed): a run that fills it ends failed with
small output, its run row closed and nothing lost that was committed; a run
that starts with 0 bytes free says so in one line, without a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.crawlrun import run_crawl
from tests.replica.server import Replica

SMALL = {"FINEWS_PAGE_SIZE": "20"}


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path) -> None:
    """Write until the file system is full."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0")
    finally:
        os.close(fd)
    assert os.statvfs(directory).f_bavail == 0


def test_a_run_that_fills_the_disk_fails_small_and_closed(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "640k") as mnt, Replica() as replica:
        archive = mnt / "archive"
        result = run_crawl(archive, replica.url, settings=SMALL, expect_exit=None)
        assert os.statvfs(mnt).f_bavail < 64  # it did fill the disk
        assert result.returncode == 1, result.stderr[-3000:]
        assert "Traceback" not in result.stderr and "Logging error" not in result.stderr
        assert len(result.stderr) < 60_000, len(result.stderr)  # was ~2 MB
        assert "<div" not in result.stderr  # no item printed whole
        # What was committed is whole, and the run row is not left "running".
        db = sqlite3.connect(f"file:{archive / 'finews.db'}?mode=ro", uri=True)
        try:
            (status, exit_code) = db.execute(
                "SELECT status, exit_code FROM crawl_runs ORDER BY id DESC LIMIT 1"
            ).fetchone()
        finally:
            db.close()
        not_written = "crawl_runs and status.json not written" in result.stderr
        assert (status, exit_code) == ("failed", 1) or (
            "crawl_runs" in result.stderr and "not written" in result.stderr
        ), (status, result.stderr[-2000:])
        if (archive / "status.json").exists() and not not_written:
            last = json.loads((archive / "status.json").read_text("utf-8"))["last_run"]
            assert last["status"] == "failed"


def test_a_run_with_no_space_at_all_is_one_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "256k") as mnt, Replica() as replica:
        archive = mnt / "archive"
        archive.mkdir()
        fill(mnt)
        result = run_crawl(archive, replica.url, settings=SMALL, expect_exit=None)
        assert result.returncode == 1, result.stderr[-3000:]
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        ours = [line for line in result.stderr.splitlines() if line.startswith("finews:")]
        assert len(ours) == 1 and "No space left on device" in ours[0], result.stderr[-2000:]
        assert not replica.requests()
