"""The archive database (``<FINEWS_ARCHIVE_DIR>/finews.db``): schema and queries.

The database is derived: every row can be rebuilt from the WARC snapshots.
WAL mode, so Datasette can read while a crawl writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import sqlite_utils

from crawler.search import ensure_search

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    info_code TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    title TEXT NOT NULL,
    published_at TEXT NOT NULL,
    media TEXT,
    category TEXT,
    columns TEXT,
    column_ids TEXT,
    summary TEXT,
    body_markdown TEXT,
    body_text TEXT,
    body_source TEXT,
    stocks TEXT,
    source_url TEXT,
    share_url TEXT,
    post_path TEXT,
    snapshot TEXT,
    content_sha256 TEXT,
    first_seen_at TEXT,
    fetched_at TEXT
);
-- (published_at) and (category) alone: covered by crawler/search.py's
-- (published_at, code) and (category, code) indexes. Older archives had both.
DROP INDEX IF EXISTS articles_published_at;
DROP INDEX IF EXISTS articles_category;
-- refresh_candidates() reads only recently seen articles: without this index
-- every incremental run scans the whole table (time grows with the archive).
CREATE INDEX IF NOT EXISTS articles_first_seen_at ON articles(first_seen_at);
CREATE TABLE IF NOT EXISTS crawl_runs (
    id INTEGER PRIMARY KEY,
    spider TEXT,
    started_at TEXT,
    finished_at TEXT,
    requests INTEGER,
    responses INTEGER,
    archived INTEGER,
    updated INTEGER,
    duplicates INTEGER,
    failures INTEGER,
    finish_reason TEXT,
    status TEXT,
    exit_code INTEGER,
    reasons TEXT,
    stats TEXT
);
CREATE TABLE IF NOT EXISTS failures (
    id INTEGER PRIMARY KEY,
    run_id INTEGER,
    at TEXT,
    stage TEXT,
    reason TEXT,
    url TEXT,
    info_code TEXT,
    detail TEXT,
    snapshot TEXT,
    resolved_at TEXT
);
CREATE INDEX IF NOT EXISTS failures_info_code ON failures(info_code);
CREATE TABLE IF NOT EXISTS article_versions (
    info_code TEXT NOT NULL,
    version INTEGER NOT NULL,
    content_sha256 TEXT,
    fetched_at TEXT,
    body_markdown TEXT,
    PRIMARY KEY (info_code, version)
);
CREATE TABLE IF NOT EXISTS column_state (
    column_id INTEGER PRIMARY KEY,
    clean INTEGER NOT NULL DEFAULT 0,
    reached TEXT,
    updated_at TEXT
);
"""


def connect(path: Path | str) -> sqlite_utils.Database:
    """Open (creating if needed) the archive database with the schema in place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=30000")
    ensure_schema(db)
    return db


def ensure_schema(db: sqlite_utils.Database) -> None:
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    # Archives made before the bigram index answered every query length also
    # had an FTS5 trigram index (articles_fts) with sqlite-utils' triggers: it
    # cost ~0.4 ms per article written and as much disk as the articles.
    for trigger in ("articles_ai", "articles_ad", "articles_au"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    db.execute("DROP TABLE IF EXISTS articles_fts")
    # The search index (bigrams, any query length) and its triggers.
    ensure_search(db)


def _json_ids(value: str | None) -> list[int]:
    try:
        return [int(c) for c in json.loads(value or "[]")]
    except (ValueError, TypeError):
        return []


def archived_columns(db: sqlite_utils.Database, info_codes: Iterable[str]) -> dict[str, list[int]]:
    """For the given infoCodes that are archived: their recorded column ids."""
    codes = list(dict.fromkeys(info_codes))
    found: dict[str, list[int]] = {}
    for start in range(0, len(codes), 500):
        chunk = codes[start : start + 500]
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
) -> list[dict]:
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
    for start in range(0, len(codes), 500):
        chunk = codes[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            f"""SELECT info_code, count(*), max(at) FROM failures
                WHERE resolved_at IS NULL AND info_code IN ({marks}) GROUP BY info_code""",
            chunk,
        ).fetchall()
        skip.update(code for code, tries, last in rows if tries >= max_tries or last > since)
    return skip
