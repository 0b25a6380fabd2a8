"""The 7×24 items in the archive database: table ``flashes`` and its search index.

A table of its own (not rows of ``articles``): a flash and a column article
share their code, and each has its post, so each has its row. The flash row
names the article of the same code (``article_info_code``, ``article_post``)
when there is one; the link pass (:func:`link_pairs`) keeps both posts
pointing at each other whichever was archived first.

``flashes_search`` is the same bigram index as ``articles_search``
(:func:`crawler.store.search.bigram_text`, FTS5 ``unicode61``, contentless)
over the title, the digest (as ``summary``) and the article text, keyed by
the numeric code, so the Datasette plugin's query syntax works on it too.
Written only by the index lane (one writer), like the articles. Made by the
first fastnews run (:func:`ensure_flashes`), not by every connection to the
archive: an archive of the columns alone has no such table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlite_utils

from crawler.store.search import bigram_text

FLASHES_SCHEMA = """
CREATE TABLE IF NOT EXISTS flashes (
    code TEXT PRIMARY KEY,
    info_code TEXT NOT NULL,
    title TEXT NOT NULL,
    published_at TEXT NOT NULL,
    summary TEXT,
    digest TEXT,
    important INTEGER NOT NULL DEFAULT 0,
    title_color INTEGER,
    fast_columns TEXT,
    fast_column_ids TEXT,
    stocks TEXT,
    images TEXT,
    real_sort TEXT,
    body_markdown TEXT,
    body_text TEXT,
    body_source TEXT,
    article_info_code TEXT,
    article_post TEXT,
    source_url TEXT,
    post_path TEXT,
    snapshot TEXT,
    first_seen_at TEXT,
    fetched_at TEXT
);
CREATE INDEX IF NOT EXISTS flashes_published_at ON flashes(published_at, code);
CREATE INDEX IF NOT EXISTS flashes_info_code ON flashes(info_code);
CREATE INDEX IF NOT EXISTS flashes_facet_important ON flashes(important, code);
CREATE INDEX IF NOT EXISTS flashes_facet_columns ON flashes(fast_columns, code);
CREATE VIRTUAL TABLE IF NOT EXISTS flashes_search USING fts5(
    title, summary, body_text, content='', tokenize='unicode61', prefix='1')
"""

_TEXT = ("title", "digest", "body_text")
_INSERT = "INSERT INTO flashes_search (rowid, title, summary, body_text) VALUES (?, ?, ?, ?)"
_DELETE = (
    "INSERT INTO flashes_search (flashes_search, rowid, title, summary, body_text) "
    "VALUES ('delete', ?, ?, ?, ?)"
)


def ensure_flashes(db: sqlite_utils.Database) -> None:
    """Create the table, its indexes and its search index if missing; idempotent."""
    for statement in FLASHES_SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def _entry(code: str, texts: Iterable[Any]) -> tuple[Any, ...]:
    return (int(code), *map(bigram_text, texts))


def upsert_flashes(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Upsert rows by code in one transaction, keeping the search index in step:
    (inserted, updated). A new row also gets ``first_seen_at``."""
    codes = list(dict.fromkeys(r["code"] for r in rows))
    marks = ",".join("?" * len(codes))
    with db.atomic():
        # A plain write first takes the write lock before anything is read.
        db.execute(f"UPDATE flashes SET code = code WHERE code IN ({marks})", codes)
        stored = {
            code: (first_seen, texts)
            for code, first_seen, *texts in db.execute(
                f"SELECT code, first_seen_at, {', '.join(_TEXT)} FROM flashes "
                f"WHERE code IN ({marks})",
                codes,
            ).fetchall()
        }
        db.conn.executemany(_DELETE, [_entry(c, t) for c, (_, t) in stored.items()])
        inserted = 0
        for row in rows:
            known = stored.get(row["code"])
            if known is None:
                inserted += 1
            row = dict(row, first_seen_at=known[0] if known else row["fetched_at"])
            db["flashes"].upsert(row, pk="code")
            stored[row["code"]] = (row["first_seen_at"], [row[c] for c in _TEXT])
        db.conn.executemany(_INSERT, [_entry(c, t) for c, (_, t) in stored.items()])
    return inserted, len(rows) - inserted


def known_flashes(db: sqlite_utils.Database, codes: list[str]) -> dict[str, list[int]]:
    """Archived flashes among ``codes``, with their feed column ids."""
    found: dict[str, list[int]] = {}
    for start in range(0, len(codes), 500):
        chunk = codes[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for code, ids in db.execute(
            f"SELECT code, fast_column_ids FROM flashes WHERE code IN ({marks})", chunk
        ).fetchall():
            found[code] = [int(c) for c in json.loads(ids or "[]")]
    return found


def imported_flashes(db: sqlite_utils.Database, codes: list[str]) -> set[str]:
    """Codes among ``codes`` whose emnews post came from the old archive: rows
    ``EM<code>`` of ``articles`` (only ``make import`` writes such keys)."""
    found: set[str] = set()
    for start in range(0, len(codes), 500):
        chunk = ["EM" + c for c in codes[start : start + 500]]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(f"SELECT code FROM articles WHERE info_code IN ({marks})", chunk)
        found.update(code for (code,) in rows.fetchall())
    return found


def archived_articles(
    db: sqlite_utils.Database, info_codes: list[str]
) -> dict[str, tuple[str, str]]:
    """Column articles among ``info_codes``: infoCode -> (post path, snapshot)."""
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(info_codes), 500):
        chunk = info_codes[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for info_code, post, snapshot in db.execute(
            f"SELECT info_code, post_path, snapshot FROM articles WHERE info_code IN ({marks})",
            chunk,
        ).fetchall():
            found[info_code] = (post or "", snapshot or "")
    return found


def flash_rows(db: sqlite_utils.Database, codes: list[str]) -> list[dict[str, Any]]:
    """The stored rows of these flashes."""
    marks = ",".join("?" * len(codes))
    return list(db.query(f"SELECT * FROM flashes WHERE code IN ({marks})", codes))


def pairs_since(
    db: sqlite_utils.Database, since: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(flash row, article row) of every code that is both, where either was
    written at or after ``since`` (ISO UTC; "" for all)."""
    rows = db.execute(
        """SELECT f.code, a.info_code FROM flashes AS f JOIN articles AS a
           ON a.info_code = f.info_code
           WHERE ? = '' OR f.fetched_at >= ? OR a.fetched_at >= ? ORDER BY f.code""",
        [since, since, since],
    ).fetchall()
    out = []
    for code, info_code in rows:
        flash = next(db.query("SELECT * FROM flashes WHERE code = ?", [code]))
        article = next(db.query("SELECT * FROM articles WHERE info_code = ?", [info_code]))
        out.append((flash, article))
    return out
