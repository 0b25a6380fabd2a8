"""What an article's raw snapshot holds and where each snapshot file goes.

* list answers: ``raw/lists/YYYY/MM/DD/<sha1>.warc.gz`` (one per list page
  fetch, written once however many articles it lists);
* an article: ``raw/articles/YYYY/MM/<infoCode>.warc.gz`` holding a
  ``metadata`` record (:func:`article_metadata`: columns, the list snapshots it
  came from, the fields that came from the list) and a ``response`` record per
  body response (page, Choice text, failed attempts too). Every later fetch
  appends to the same file (never rewritten), so the file is the article's
  whole history; a damaged one is moved to ``raw/damaged/`` and kept;
* failures: ``raw/failures/YYYY/MM/DD/<sha1>.warc.gz``.

The URLs are Eastmoney's canonical ones, whatever origin served them. The
database stores each article's snapshot path: ``make rebuild`` can recreate
posts and rows from ``raw/`` alone. Pure, except :func:`write_article_snapshot`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from crawler.files import atomic_write
from crawler.items import Article, Failure, Fetched
from crawler.transform.warc import warc_bytes, warc_damage

__all__ = [
    "article_metadata",
    "article_snapshot_path",
    "failure_snapshot_path",
    "list_snapshot_path",
    "move_damaged",
    "unchanged",
    "write_article_snapshot",
]


def list_snapshot_path(resp: Fetched) -> str:
    """Where a list answer's snapshot goes (by fetch day and response key)."""
    day = resp.fetched_at[:10].replace("-", "/")
    return f"raw/lists/{day}/{resp.key}.warc.gz"


def article_snapshot_path(article: Article) -> str:
    """Where an article's snapshot goes (by publication month and infoCode)."""
    y, m = article.published[:4], article.published[5:7]
    return f"raw/articles/{y}/{m}/{article.info_code}.warc.gz"


def failure_snapshot_path(failure: Failure, key: str) -> str:
    """Where a failure's snapshot goes (by the day of its first response)."""
    day = (failure.responses[0].fetched_at if failure.responses else "")[:10].replace("-", "/")
    return f"raw/failures/{day or 'undated'}/{key}.warc.gz"


def article_metadata(article: Article, list_paths: list[str]) -> dict[str, Any]:
    """What the snapshot must hold beyond the responses to rebuild the article."""
    return {
        "info_code": article.info_code,
        "code": article.code,
        "column_ids": sorted(set(article.column_ids)),
        "list_snapshots": list_paths,
        "body_source": article.body_source,
        "fetched_at": article.fetched_at,
        # From the list answer (or the page when there was none); kept so a
        # rebuild does not depend on finding the entry in a list snapshot.
        "title": article.title,
        "published": article.changed.get("published", article.published),
        "media": article.changed.get("media", article.media),  # what this fetch gave
        "summary": article.summary,
        "refresh": article.refresh,
    }


def unchanged(article: Article) -> bool:
    """A refreshed article whose body, columns and metadata are what the archive holds."""
    return (
        not article.changed
        and article.content_sha256 == article.previous_sha256
        and sorted(set(article.column_ids)) == sorted(set(article.previous_column_ids))
    )


def damaged_path(root: Path, path: Path, stamp: str) -> Path:
    """Where a damaged snapshot file is moved: ``raw/damaged/<its path under
    raw/>.<stamp>`` (``.<n>`` added if taken), never over another file."""
    rel = path.relative_to(root / "raw") if path.is_relative_to(root / "raw") else Path(path.name)
    target = root / "raw" / "damaged" / f"{rel}.{stamp}"
    n = 1
    while target.exists():
        target, n = root / "raw" / "damaged" / f"{rel}.{stamp}.{n}", n + 1
    return target


def move_damaged(root: Path, path: Path, stamp: str) -> str:
    """Move a damaged snapshot aside (kept, never deleted); its new path under ``root``."""
    target = damaged_path(root, path, stamp)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    return target.relative_to(root).as_posix()


def write_article_snapshot(
    path: Path, responses: list[Fetched], metadata: dict[str, Any], root: Path | None = None
) -> tuple[int, str]:
    """Append a fetch to an article's WARC; returns (bytes written, damage).

    Append-only: an existing file is never rewritten from scratch (a crawl
    that lost its database, or a refresh, adds a fetch after the ones there).
    The file is first checked to read whole (:func:`warc_damage`): behind a
    cut member warcio could not reach the new fetch, so a damaged file is
    moved to ``raw/damaged/`` (``root`` is the archive directory), a new file
    started, and ``damage`` says what was found and where it went ("" when
    nothing was wrong). The write itself is atomic (old bytes + new members
    via a temp file): a kill mid-append leaves the old file as it was. Runs
    in a worker process (crawler.workers) when FINEWS_WORKERS > 0.
    """
    data = warc_bytes(responses, metadata)
    damage = ""
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = b""
    if old and (reason := warc_damage(old)):
        stamp = (metadata.get("fetched_at") or "undated").replace(":", "")
        moved = move_damaged(root or path.parent, path, stamp)
        damage = f"damaged snapshot {reason}; moved to {moved}"
        old = b""
    if old:
        # Whole gzip members appended keep one valid WARC file.
        data = old if old.endswith(data) else old + data
    return (len(data) if atomic_write(path, data, durable=False) else 0), damage
