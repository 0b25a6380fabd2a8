"""The archive skeleton: copied into new archives, kept current in old ones,
never overwriting a file the user changed."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from pathlib import Path

import pytest

from crawler import skeleton
from crawler.skeleton import EARLIER_VERSIONS, MANIFEST, SKELETON_DIR, ensure_skeleton

ROOT = SKELETON_DIR.parent


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_new_archive_gets_the_skeleton_and_nothing_of_a_run(tmp_path: Path) -> None:
    # The repository's archive/ is also the default archive: a run leaves files there.
    probe = SKELETON_DIR / ".browser-probe.json"
    made = not probe.exists()
    if made:
        probe.write_text("{}")
    try:
        written = {p.as_posix() for p in ensure_skeleton(tmp_path)}
    finally:
        if made:
            probe.unlink()
    assert {"metadata.yml", "plugins/finews_search.py", "_config.yml", "index.html"} <= written
    assert not written & {"status.json", ".lock", ".browser-probe.json", MANIFEST}
    assert not any(p.startswith(("_posts/", "raw/", "logs/")) for p in written)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["metadata.yml"] == sha((SKELETON_DIR / "metadata.yml").read_bytes())
    assert ensure_skeleton(tmp_path) == []  # nothing to do the second time


def test_untouched_old_copies_are_updated_changed_ones_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ensure_skeleton(tmp_path)
    current = (SKELETON_DIR / "metadata.yml").read_bytes()
    # An older finews wrote this copy (recorded in the manifest): updated.
    old = b"databases: {}\n"
    (tmp_path / "metadata.yml").write_bytes(old)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    manifest["metadata.yml"] = sha(old)
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    assert ensure_skeleton(tmp_path) == [Path("metadata.yml")]
    assert (tmp_path / "metadata.yml").read_bytes() == current
    # The user changed it: kept, with a warning.
    mine = current.replace(b"finews", b"my finews", 1)
    (tmp_path / "metadata.yml").write_bytes(mine)
    skeleton._warned.clear()
    with caplog.at_level(logging.WARNING, logger="crawler.skeleton"):
        assert ensure_skeleton(tmp_path) == []
    assert (tmp_path / "metadata.yml").read_bytes() == mine
    assert "changed by hand" in caplog.text


def git(*args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=True).stdout


def committed_versions(rel: str) -> list[bytes]:
    """Every committed content of ``archive/<rel>``, newest first."""
    commits = git("log", "--format=%H", "--", f"archive/{rel}").decode().split()
    return [git("show", f"{c}:archive/{rel}") for c in commits]


@pytest.mark.parametrize("rel", sorted(EARLIER_VERSIONS))
def test_earlier_versions_are_the_committed_ones(rel: str, tmp_path: Path) -> None:
    """Every version of the file in the history is known (current or earlier),
    and an archive holding an earlier one (made before the manifest) gets the
    current one."""
    current = sha((SKELETON_DIR / rel).read_bytes())
    versions = committed_versions(rel)
    history = {sha(v) for v in versions}
    assert history, "no history: run the tests in a git clone"
    assert EARLIER_VERSIONS[rel] <= history
    assert history - {current} <= EARLIER_VERSIONS[rel]
    if not EARLIER_VERSIONS[rel]:
        return
    old = versions[-1]  # the first committed version
    assert sha(old) in EARLIER_VERSIONS[rel]
    ensure_skeleton(tmp_path)
    (tmp_path / rel).write_bytes(old)
    (tmp_path / MANIFEST).unlink()  # as in an archive made before the manifest
    assert Path(rel) in ensure_skeleton(tmp_path)
    assert (tmp_path / rel).read_bytes() == (SKELETON_DIR / rel).read_bytes()
