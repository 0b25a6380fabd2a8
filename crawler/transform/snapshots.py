"""What an article's raw snapshot holds and where each snapshot file goes.

* list answers: ``raw/lists/YYYY/MM/DD/<sha1>.warc.gz`` (one per list page
  fetch, written once however many articles it lists);
* an article: ``raw/articles/YYYY/MM/<infoCode>.warc.gz`` holding a
  ``metadata`` record (:func:`article_metadata`: columns, the list snapshots it
  came from, the fields that came from the list) and a ``response`` record per
  body response (page, Choice text, failed attempts too). A refresh appends to
  the same file, so the file is the article's whole history;
* failures: ``raw/failures/YYYY/MM/DD/<sha1>.warc.gz``.

The URLs are Eastmoney's canonical ones, whatever origin served them. The
database stores each article's snapshot path: ``make rebuild`` can recreate
posts and rows from ``raw/`` alone. Pure, except :func:`write_article_snapshot`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crawler.files import atomic_write
from crawler.items import Article, Failure, Fetched
from crawler.transform.warc import warc_bytes

__all__ = [
    "article_metadata",
    "article_snapshot_path",
    "failure_snapshot_path",
    "list_snapshot_path",
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
        "published": article.published,
        "media": article.media,
        "summary": article.summary,
        "refresh": article.refresh,
    }


def unchanged(article: Article) -> bool:
    """A refreshed article whose body and columns are what the archive holds."""
    return article.content_sha256 == article.previous_sha256 and sorted(
        set(article.column_ids)
    ) == sorted(set(article.previous_column_ids))


def write_article_snapshot(path: Path, responses: list[Fetched], metadata: dict[str, Any]) -> int:
    """Write an article's WARC (a refresh appends to the file it already has);
    returns the bytes written, 0 when the file already held them. Runs in a
    worker process (crawler.workers) when FINEWS_WORKERS > 0."""
    data = warc_bytes(responses, metadata)
    if metadata.get("refresh") and path.exists():
        # Appending whole gzip members keeps one valid WARC file.
        old = path.read_bytes()
        data = old + data if not old.endswith(data) else old
    return len(data) if atomic_write(path, data, durable=False) else 0
