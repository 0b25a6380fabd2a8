"""The archive database's writes: one ``articles`` row per article (and its
entries in the search and stock indexes, ``crawler.store.search``), a
``failures`` row per recorded failure, ``column_state`` for list progress.

Rows are upserted by ``info_code`` in batches, each batch in one transaction
after one ``syncfs`` of the archive's file system (the index stage is the last
one, so a row means the snapshot and the post are on disk). A changed body
adds a row to ``article_versions``; a successful article marks earlier
failures of the same infoCode resolved. This is the database's one writer,
so it keeps the search index itself (there are no triggers).

The ``*_at`` functions take the database by path and everything else by
value: the index stage runs them away from the reactor, and each process (and
thread) keeps its own connection per database (:func:`close_database` ends it).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import sqlite_utils

from crawler.clock import utc_now
from crawler.files import sync_filesystem
from crawler.items import Article, Failure, ListProgress
from crawler.store.schema import connect
from crawler.store.search import index_articles, index_stocks, unindex_articles
from crawler.transform.posts import category_slug


def published_iso(published: str) -> str:
    """ "2022-06-14 10:45:40" (Beijing) -> "2022-06-14T10:45:40+08:00"."""
    return published.replace(" ", "T") + "+08:00"


def article_row(article: Article) -> dict[str, Any]:
    return {
        "info_code": article.info_code,
        "code": article.code,
        "title": article.title,
        "published_at": published_iso(article.published),
        "media": article.media,
        "category": category_slug(article.media),
        "columns": json.dumps(article.columns, ensure_ascii=False),
        "column_ids": json.dumps(sorted(set(article.column_ids))),
        "summary": article.summary,
        "body_markdown": article.body_markdown,
        "body_text": article.body_text,
        "body_source": article.body_source,
        "stocks": json.dumps(article.stocks),
        "source_url": article.source_url,
        "share_url": article.share_url,
        "post_path": article.post_path,
        "snapshot": article.snapshot,
        "content_sha256": article.content_sha256,
        "fetched_at": article.fetched_at,
    }


def failure_row(failure: Failure, run_id: int | None, at: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "at": at,
        "stage": failure.stage,
        "reason": failure.reason[:2000],
        "url": failure.url[:2000],
        "info_code": failure.info_code[:40],
        "detail": failure.detail[:4000],
        "snapshot": failure.snapshot,
        "resolved_at": None,
    }


# What the search index is computed from (its key and text), then what else
# the upsert compares with the stored row.
_TEXT = ("code", "title", "summary", "body_text")
_STORED = (*_TEXT, "stocks", "content_sha256")


def _differs(row: dict[str, Any], stored: dict[str, Any], columns: tuple[str, ...]) -> bool:
    return any(row[c] != stored[c] for c in columns if c in row)


def upsert_articles(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Upsert rows in one transaction; returns (inserted, updated).

    A new row also gets ``first_seen_at`` (an existing row keeps it). A row
    whose ``content_sha256`` differs from the archived one (or a new row) also
    adds a version to ``article_versions``. The search entries of rows whose
    indexed text changes go before the upsert and come back, with those of new
    rows, after it; new rows and changed stock lists get their
    ``article_stocks`` rows. A failing batch leaves nothing behind.
    """
    codes = [r["info_code"] for r in rows]
    marks = ",".join("?" * len(codes))
    stored = {
        info_code: dict(zip(_STORED, values, strict=True))
        for info_code, *values in db.execute(
            f"SELECT info_code, {', '.join(_STORED)} FROM articles WHERE info_code IN ({marks})",
            codes,
        ).fetchall()
    }
    existing = {code: old["content_sha256"] for code, old in stored.items()}
    changed = {
        r["info_code"]
        for r in rows
        if r["info_code"] in stored and _differs(r, stored[r["info_code"]], _TEXT)
    }
    reindex = [code for code in stored if code in changed]
    new = [code for code in dict.fromkeys(codes) if code not in stored]
    restock = {
        r["info_code"]
        for r in rows
        if r["info_code"] in stored and _differs(r, stored[r["info_code"]], ("stocks",))
    }
    versions = dict(
        db.execute(
            f"""SELECT info_code, max(version) FROM article_versions
                WHERE info_code IN ({marks}) GROUP BY info_code""",
            codes,
        ).fetchall()
    )
    inserted = 0
    now = rows[-1]["fetched_at"]
    new_versions: list[dict[str, Any]] = []
    # Upserts in row order (a code twice in a batch: inserted, then updated),
    # consecutive rows with the same columns together: a row without
    # first_seen_at must not set it to NULL.
    groups: list[list[dict[str, Any]]] = []
    for row in rows:
        code = row["info_code"]
        if code not in existing:
            inserted += 1
            row = dict(row, first_seen_at=row["fetched_at"])
        if existing.get(code) != row["content_sha256"]:
            versions[code] = versions.get(code, 0) + 1
            new_versions.append(
                {
                    "info_code": code,
                    "version": versions[code],
                    "content_sha256": row["content_sha256"],
                    "fetched_at": row["fetched_at"],
                    "body_markdown": row["body_markdown"],
                }
            )
            existing[code] = row["content_sha256"]
        if not groups or groups[-1][0].keys() != row.keys():
            groups.append([])
        groups[-1].append(row)
    with db.atomic():
        # A plain write first: it takes the write lock (waiting for another
        # connection's write, a rebuild's say) before anything is read; a
        # transaction that has read cannot wait for the lock, it fails.
        db.execute(
            f"UPDATE failures SET resolved_at = ? WHERE resolved_at IS NULL AND info_code IN ({marks})",
            [now, *codes],
        )
        unindex_articles(db, reindex)
        db["article_versions"].insert_all(new_versions)
        for group in groups:
            db["articles"].upsert_all(group, pk="info_code")
        index_articles(db, reindex + new)
        index_stocks(db, new + [code for code in stored if code in restock])
    return inserted, len(rows) - inserted


def write_column_state(db: sqlite_utils.Database, item: ListProgress) -> None:
    with db.atomic():
        db["column_state"].upsert(
            {
                "column_id": item.column_id,
                "clean": 0,
                "reached": item.reached,
                "updated_at": utc_now(),
            },
            pk="column_id",
        )


def write_failure(db: sqlite_utils.Database, item: Failure, run_id: int | None, at: str) -> None:
    with db.atomic():
        db["failures"].insert(failure_row(item, run_id, at))


# ---------------------------------------------------------------- the writes, by path
# One connection per (database, thread) of this process.
_CONNECTIONS: dict[tuple[str, int], sqlite_utils.Database] = {}


def _database(db_path: str) -> sqlite_utils.Database:
    key = (db_path, threading.get_ident())
    db = _CONNECTIONS.get(key)
    if db is None:
        db = _CONNECTIONS[key] = connect(db_path)
    return db


def write_rows_at(db_path: str, archive_dir: str, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Make the batch's files durable, then upsert its rows: (inserted, updated)."""
    # The snapshots and posts these rows name were written without an fsync
    # each (crawler.files): one sync of the file system makes them durable
    # before the rows say they exist.
    sync_filesystem(Path(archive_dir))
    return upsert_articles(_database(db_path), rows)


def change_rows(article: Article) -> list[dict[str, Any]]:
    """The ``metadata_changes`` rows of a refresh whose media or date changed."""
    return [
        {
            "info_code": article.info_code,
            "fetched_at": article.fetched_at,
            "field": name,
            "published": getattr(article, name),
            "fetched": fetched,
        }
        for name, fetched in sorted(article.changed.items())
    ]


def write_changes_at(db_path: str, rows: list[dict[str, Any]]) -> None:
    db = _database(db_path)
    with db.atomic():
        db["metadata_changes"].upsert_all(rows, pk=("info_code", "fetched_at", "field"))


def write_progress_at(db_path: str, item: ListProgress) -> None:
    write_column_state(_database(db_path), item)


def write_failure_at(
    db_path: str, archive_dir: str, item: Failure, run_id: int | None, at: str
) -> None:
    if item.snapshot:
        sync_filesystem(Path(archive_dir))
    write_failure(_database(db_path), item, run_id, at)


def close_database(db_path: str) -> None:
    db = _CONNECTIONS.pop((db_path, threading.get_ident()), None)
    if db is not None:
        db.close()
