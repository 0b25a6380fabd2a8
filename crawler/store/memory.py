"""What the spider asks the archive: the database is the crawler's memory.

Read-only queries on the archive database (the schema of ``crawler.store.schema``):
which listed articles are archived and in which columns, which failed too
recently to try again, how far each column's last walk got, which recent
articles are due for a refresh. Times are ISO UTC strings to the second
(``2026-11-24T02:16:58Z``), as every row stores them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlite_utils

# Codes per IN (...) query: well under SQLite's bound-parameter limit.
CHUNK = 500


def _json_ids(value: str | None) -> list[int]:
    try:
        return [int(c) for c in json.loads(value or "[]")]
    except (ValueError, TypeError):
        return []


def archived_columns(db: sqlite_utils.Database, info_codes: Iterable[str]) -> dict[str, list[int]]:
    """For the given infoCodes that are archived: their recorded column ids."""
    codes = list(dict.fromkeys(info_codes))
    found: dict[str, list[int]] = {}
    for start in range(0, len(codes), CHUNK):
        chunk = codes[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        for info_code, column_ids in db.execute(
            f"SELECT info_code, column_ids FROM articles WHERE info_code IN ({marks})", chunk
        ).fetchall():
            found[info_code] = _json_ids(column_ids)
    return found


def archived_state(db: sqlite_utils.Database, info_code: str) -> tuple[str, list[int]] | None:
    """(content_sha256, column ids) of an archived article, or None."""
    row = db.execute(
        "SELECT content_sha256, column_ids FROM articles WHERE info_code = ?", [info_code]
    ).fetchone()
    return (row[0] or "", _json_ids(row[1])) if row else None


def archived_place(db: sqlite_utils.Database, info_code: str) -> tuple[str, str] | None:
    """(media, published "YYYY-MM-DD HH:MM:SS") an archived article's post was
    published under (its URL is made of them), or None."""
    row = db.execute(
        "SELECT media, published_at FROM articles WHERE info_code = ?", [info_code]
    ).fetchone()
    return (row[0] or "", (row[1] or "")[:19].replace("T", " ")) if row else None


def column_states(db: sqlite_utils.Database, column_ids: list[int]) -> dict[int, tuple[bool, str]]:
    """column id -> (last walk finished cleanly, oldest showTime that walk reached)."""
    marks = ",".join("?" * len(column_ids))
    rows = db.execute(
        f"SELECT column_id, clean, reached FROM column_state WHERE column_id IN ({marks})",
        column_ids,
    ).fetchall()
    return {cid: (bool(clean), reached or "") for cid, clean, reached in rows}


def refresh_candidates(
    db: sqlite_utils.Database, seen_after: str, fetched_before: str
) -> list[dict[str, Any]]:
    """Articles first seen after ``seen_after`` and last fetched before ``fetched_before``.

    Reads the ``articles_first_seen_at`` index range, not the table: the cost
    of an incremental run must not grow with the archive. (``+published_at``
    keeps the planner from scanning the whole ``published_at`` index instead
    just to avoid sorting the few rows found.)
    """
    rows = db.execute(
        """SELECT info_code, title, published_at, media, summary, column_ids FROM articles
           WHERE first_seen_at >= ? AND fetched_at <= ? ORDER BY +published_at""",
        [seen_after, fetched_before],
    ).fetchall()
    return [
        {
            "info_code": info_code,
            "title": title,
            "published": published_at[:19].replace("T", " "),
            "media": media,
            "summary": summary or "",
            "column_ids": _json_ids(column_ids),
        }
        for info_code, title, published_at, media, summary, column_ids in rows
    ]


def failed_recently(
    db: sqlite_utils.Database, info_codes: Iterable[str], since: str, max_tries: int
) -> set[str]:
    """infoCodes not to request now: a failure recorded after ``since``
    (ISO UTC, to the second; a failure at ``since`` itself is due again, so
    FINEWS_FAILURE_RETRY_HOURS=0 retries at once), or ``max_tries``
    unresolved failures (given up)."""
    codes = list(dict.fromkeys(info_codes))
    skip: set[str] = set()
    for start in range(0, len(codes), CHUNK):
        chunk = codes[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            f"""SELECT info_code, count(*), max(at) FROM failures
                WHERE resolved_at IS NULL AND info_code IN ({marks}) GROUP BY info_code""",
            chunk,
        ).fetchall()
        skip.update(code for code, tries, last in rows if tries >= max_tries or last > since)
    return skip


def oldest_retry_due_day(db: sqlite_utils.Database, since: str, max_tries: int) -> str:
    """``YYYYMMDD`` of the oldest article whose failures make it due for another
    try (fewer than ``max_tries``, the last at or before ``since``), "" if none.

    An article code starts with its date, so this is the first eight digits
    after ``NW`` (what is stored is not checked here: see
    ``crawler.walk.retry_due_from``).
    """
    row = db.execute(
        """SELECT min(substr(info_code, 3, 8)) FROM (
               SELECT info_code FROM failures
               WHERE resolved_at IS NULL AND info_code LIKE 'NW%'
               GROUP BY info_code HAVING count(*) < ? AND max(at) <= ?)""",
        [max_tries, since],
    ).fetchone()
    return row[0] if row and row[0] else ""
