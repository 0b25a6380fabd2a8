"""The archive's committed skeleton (Jekyll config, layouts, pages, Datasette
metadata) and how a fresh archive directory gets it."""

from __future__ import annotations

import shutil
from pathlib import Path

SKELETON_DIR = Path(__file__).resolve().parent.parent / "archive"
# Generated content never comes from the skeleton.
_GENERATED = {"_posts", "old_post", "raw", "logs", "_site", ".jekyll-cache", "category"}


def skeleton_files() -> list[Path]:
    """Skeleton files, relative to ``archive/``."""
    files = []
    for path in sorted(SKELETON_DIR.rglob("*")):
        rel = path.relative_to(SKELETON_DIR)
        if (
            path.is_file()
            and rel.parts[0] not in _GENERATED
            and not rel.name.startswith("finews.db")
        ):
            files.append(rel)
    return files


def ensure_skeleton(archive_dir: Path) -> list[Path]:
    """Copy missing skeleton files into ``archive_dir``; never overwrite. Returns what was copied."""
    archive_dir.mkdir(parents=True, exist_ok=True)
    if archive_dir.resolve() == SKELETON_DIR:
        return []
    copied = []
    for rel in skeleton_files():
        target = archive_dir / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SKELETON_DIR / rel, target)
            copied.append(rel)
    return copied
