"""Post rotation like the existing archive (off by default).

With ``FINEWS_POSTS_KEEP_DAYS=3``, posts published more than 3 days ago live
in ``old_post/`` instead of ``_posts/`` (Jekyll then builds only the recent
ones, as the old cron scripts did); the database keeps every article and its
current ``post_path``. New posts of old articles (backfills) go straight to
``old_post/``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BEIJING = timedelta(hours=8)


def cutoff_day(keep_days: int, now: datetime | None = None) -> str:
    """Posts published before this Beijing day ("YYYY-MM-DD") are rotated out."""
    now = now or datetime.now(UTC)
    return ((now + BEIJING).date() - timedelta(days=keep_days)).isoformat()


def posts_dir_for(published: str, keep_days: int, now: datetime | None = None) -> str:
    if keep_days > 0 and published[:10] < cutoff_day(keep_days, now):
        return "old_post"
    return "_posts"


def rotate_posts(archive: Path, db: Any, keep_days: int, now: datetime | None = None) -> int:
    """Move posts older than ``keep_days`` from ``_posts/`` to ``old_post/``; returns how many."""
    if keep_days <= 0:
        return 0
    cutoff = cutoff_day(keep_days, now)
    rows = db.execute(
        "SELECT info_code, post_path FROM articles WHERE post_path LIKE '\\_posts/%' ESCAPE '\\' "
        "AND published_at < ?",
        [cutoff],
    ).fetchall()
    moved = 0
    with db.atomic():
        for info_code, post_path in rows:
            new_path = "old_post/" + post_path.split("/", 1)[1]
            source, target = archive / post_path, archive / new_path
            if source.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
            db.execute(
                "UPDATE articles SET post_path = ? WHERE info_code = ?", [new_path, info_code]
            )
            moved += 1
    return moved
