"""The archive database (``<FINEWS_ARCHIVE_DIR>/finews.db``): its schema and
the migrations of older archives.

The database is derived: every row can be rebuilt from the WARC snapshots.
WAL mode, so Datasette can read while a crawl writes. One writer, the index
stage (``crawler.store.writes``), keeps the search index
(``crawler.store.search``) in step with the rows.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from crawler.store.search import SEARCH_TABLE, STOCKS_TABLE, ensure_search, rebuild_search

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
-- (published_at) and (category) alone: covered by crawler/store/search.py's
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
-- A later fetch that gave other metadata than the published post (its media:
-- the post's URL holds the media's slug, so the post stays where it is).
CREATE TABLE IF NOT EXISTS metadata_changes (
    info_code TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    field TEXT NOT NULL,
    published TEXT,
    fetched TEXT,
    PRIMARY KEY (info_code, fetched_at, field)
);
-- Files of the old Jekyll archive read by `make import` (crawler/importer):
-- a file whose path and digest are here is unchanged and not read again.
CREATE TABLE IF NOT EXISTS import_sources (
    path TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    info_code TEXT,
    status TEXT,
    reason TEXT
);
-- Archived pictures (crawler/store/images.py): one row per URL, the file
-- content-addressed (two URLs of the same bytes name one file).
CREATE TABLE IF NOT EXISTS images (
    url TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    ext TEXT NOT NULL,
    content_type TEXT,
    bytes INTEGER,
    path TEXT NOT NULL,
    snapshot TEXT,
    fetched_at TEXT
);
CREATE TABLE IF NOT EXISTS column_state (
    column_id INTEGER PRIMARY KEY,
    clean INTEGER NOT NULL DEFAULT 0,
    reached TEXT,
    updated_at TEXT
);
-- The backoff of each politeness domain where the last run left it
-- (crawler/store/domains.py): the next run starts as slow as that one ended.
CREATE TABLE IF NOT EXISTS domain_backoff (
    domain TEXT PRIMARY KEY,
    delay REAL NOT NULL DEFAULT 0,
    streak INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT
);
"""

# Archives made before the bigram index answered every query length also had
# an FTS5 trigram index (articles_fts) with sqlite-utils' triggers: it cost
# ~0.4 ms per article written and as much disk as the articles.
TRIGRAM_TRIGGERS = ("articles_ai", "articles_ad", "articles_au")
# Archives made before the index stage became the one writer kept the search
# and stock indexes by triggers, which stood aside while a row of
# search_writer existed. Left in place they would index each write twice.
SEARCH_TRIGGERS = tuple(
    f"{table}_{op}" for table in (SEARCH_TABLE, STOCKS_TABLE) for op in ("ai", "ad", "au")
)
# The index's format was stamped in its insert trigger; format 1 (keyed by
# rowid) needs a rebuild, format 2 is today's.
_INDEX_FORMAT = "/* finews search format 2 */"
# Columns added after the first archives: (name, declaration). ``origin`` is
# "import" for an article read from the old Jekyll archive (NULL: crawled);
# ``related`` the infoCode of its other record (an emnews flash and the NW
# article of the same code know each other).
ADDED_COLUMNS = (("origin", "TEXT"), ("related", "TEXT"))


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
    """Create what is missing, migrate what older archives have; idempotent."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    insert_trigger = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", [SEARCH_TRIGGERS[0]]
    ).fetchone()
    for trigger in (*TRIGRAM_TRIGGERS, *SEARCH_TRIGGERS):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    db.execute("DROP TABLE IF EXISTS articles_fts")
    db.execute("DROP TABLE IF EXISTS search_writer")
    have = {row[1] for row in db.execute("PRAGMA table_info(articles)").fetchall()}
    for name, decl in ADDED_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE articles ADD COLUMN {name} {decl}")
    ensure_search(db)
    if insert_trigger is not None and _INDEX_FORMAT not in insert_trigger[0]:
        rebuild_search(db)
