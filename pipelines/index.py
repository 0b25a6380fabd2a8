"""SQLite index: one ``articles`` row per article (and its entries in the
bigram search index, ``crawler.search``), a ``failures`` row per recorded failure.

Rows are upserted by ``info_code`` in batches, each batch in one transaction
after one ``syncfs`` of the archive's file system; this is the last stage, so a
row means the snapshot and the post are on disk.
A changed body adds a row to ``article_versions``. ``ListProgress`` items
update ``column_state`` (how far the running walk of a column has got).
A successful article marks earlier failures of the same infoCode resolved.

Settings: FINEWS_ARCHIVE_DIR, FINEWS_DB_BATCH. Stats: ``finews/index/archived``
(new rows), ``finews/index/updated``, ``finews/index/failures``.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.clock import utc_now
from crawler.config import FinewsConfig
from crawler.database import connect
from crawler.files import sync_filesystem
from crawler.items import Article, Failure, ListProgress
from crawler.search import index_articles, triggers_aside, unindex_articles
from crawler.workers import Workers
from pipelines.post import category_slug

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


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


# What the search index is computed from (crawler.search), and the digest.
_TEXT = ("code", "title", "summary", "body_text")
_INDEXED = (*_TEXT, "content_sha256")


def upsert_articles(db: Any, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Upsert rows in one transaction; returns (inserted, updated).

    A row whose ``content_sha256`` differs from the archived one (or a new
    row) also adds a version to ``article_versions``.

    Written with ``executemany`` of one ``INSERT … ON CONFLICT DO UPDATE``
    statement per batch (what sqlite-utils' ``upsert`` runs, without its
    per-row statement building); a new row also gets ``first_seen_at``, an
    existing row keeps it.
    """
    codes = [r["info_code"] for r in rows]
    marks = ",".join("?" * len(codes))
    stored = {
        info_code: dict(zip(_INDEXED, values, strict=True))
        for info_code, *values in db.execute(
            f"SELECT info_code, {', '.join(_INDEXED)} FROM articles WHERE info_code IN ({marks})",
            codes,
        ).fetchall()
    }
    existing = {code: old["content_sha256"] for code, old in stored.items()}
    # The search index is kept here, not by the triggers (crawler.search):
    # entries of rows whose indexed text changes go before the upsert, and
    # come back, with those of new rows, after it.
    changed = {
        r["info_code"]
        for r in rows
        if r["info_code"] in stored
        and any(r[c] != stored[r["info_code"]][c] for c in _TEXT if c in r)
    }
    reindex = [code for code in stored if code in changed]
    versions = dict(
        db.execute(
            f"""SELECT info_code, max(version) FROM article_versions
                WHERE info_code IN ({marks}) GROUP BY info_code""",
            codes,
        ).fetchall()
    )
    inserted = 0
    now = rows[-1]["fetched_at"]
    new_versions: list[tuple[Any, ...]] = []
    # Statements in row order, consecutive rows with the same columns batched.
    groups: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]] = []
    for row in rows:
        code = row["info_code"]
        if code not in existing:
            inserted += 1
            row = dict(row, first_seen_at=row["fetched_at"])
        if existing.get(code) != row["content_sha256"]:
            versions[code] = versions.get(code, 0) + 1
            new_versions.append(
                (
                    code,
                    versions[code],
                    row["content_sha256"],
                    row["fetched_at"],
                    row["body_markdown"],
                )
            )
            existing[code] = row["content_sha256"]
        columns = tuple(row)
        if not groups or groups[-1][0] != columns:
            groups.append((columns, []))
        groups[-1][1].append(tuple(row.values()))
    with db.atomic(), triggers_aside(db):
        unindex_articles(db, reindex)
        db.conn.executemany(
            """INSERT INTO article_versions
               (info_code, version, content_sha256, fetched_at, body_markdown)
               VALUES (?, ?, ?, ?, ?)""",
            new_versions,
        )
        for columns, values in groups:
            names = ", ".join(f"[{c}]" for c in columns)
            updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in columns if c != "info_code")
            db.conn.executemany(
                f"INSERT INTO articles ({names}) VALUES ({', '.join('?' * len(columns))}) "
                f"ON CONFLICT(info_code) DO UPDATE SET {updates}",
                values,
            )
        index_articles(db, reindex + [c for c in dict.fromkeys(codes) if c not in stored])
        db.execute(
            f"UPDATE failures SET resolved_at = ? WHERE resolved_at IS NULL AND info_code IN ({marks})",
            [now, *codes],
        )
    return inserted, len(rows) - inserted


def write_column_state(db: Any, item: ListProgress) -> None:
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


def write_failure(db: Any, item: Failure, run_id: int | None, at: str) -> None:
    with db.atomic():
        db["failures"].insert(failure_row(item, run_id, at))


# ---------------------------------------------------------------- the writes, by path
# What a write needs, by value: these run in the index lane's worker process
# (crawler.offload), or in the crawl process when that worker is gone. Each
# process (and thread) keeps its own connection per database.
_CONNECTIONS: dict[tuple[str, int], Any] = {}


def _database(db_path: str) -> Any:
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


class IndexPipeline:
    """The last stage: rows for articles (in batches), failures and list progress.

    Every write runs in the ``index`` lane of crawler.workers (one process of
    its own, or one thread with FINEWS_WORKERS = 0): one writer, the writes in
    the order the items came, SQLite, the bigram text of the search index and
    the file-system sync away from the reactor. The item that completes a batch
    (or a failure, or list progress) waits, asynchronously, for its write: the
    items held back stop the downloads through Scrapy's scraper limit, so memory
    stays bounded. A write that fails is logged and counted; its rows are
    missing, so the run ends "failed" (fetched articles not indexed).
    ``close_spider`` writes the last batch and waits for every write.

    Settings: FINEWS_ARCHIVE_DIR, FINEWS_DB_BATCH, FINEWS_WORKERS. Stats:
    ``finews/index/archived``, ``finews/index/updated``,
    ``finews/index/failures``, ``finews/index/errors``.
    """

    def __init__(self, crawler: Crawler, cfg: FinewsConfig, lane: Workers) -> None:
        self.stats = crawler.stats
        self.cfg = cfg
        self.db_path, self.archive = str(cfg.db_path), str(cfg.archive_dir)
        self.lane = lane
        self.pending: list[dict[str, Any]] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IndexPipeline:
        cfg = FinewsConfig.from_settings(crawler.settings)
        return cls(crawler, cfg, Workers.for_crawler(crawler, lane="index"))

    def open_spider(self) -> None:
        # Opened (schema checked, migrated) before the first item, so a broken
        # database fails the run at its start.
        connect(self.cfg.db_path).close()

    async def close_spider(self) -> None:
        await self.flush()
        try:
            # After every write (the lane keeps their order): nothing is left.
            await self.lane.run(close_database, self.db_path)
        except Exception as e:  # the rows are written; a failed close loses nothing
            logger.warning("closing the index database failed: %s", e)

    async def flush(self) -> None:
        if self.pending:
            rows, self.pending = self.pending, []
            await self._write(write_rows_at, self.db_path, self.archive, rows)

    async def _write(self, fn: Any, *args: Any) -> None:
        try:
            done = await self.lane.run(fn, *args)
        except Exception as e:
            self.stats.inc_value("finews/index/errors")
            logger.error("index write failed: %s", e, exc_info=e)
            return
        if fn is write_rows_at:
            inserted, updated = done
            self.stats.inc_value("finews/index/archived", inserted)
            self.stats.inc_value("finews/index/updated", updated)
        elif fn is write_failure_at:
            self.stats.inc_value("finews/index/failures")

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, Article):
            self.pending.append(article_row(item))
            if len(self.pending) >= self.cfg.db_batch:
                await self.flush()
        elif isinstance(item, ListProgress):
            await self._write(write_progress_at, self.db_path, item)
        elif isinstance(item, Failure):
            run_id = self.stats.get_value("finews/run_id")
            await self._write(write_failure_at, self.db_path, self.archive, item, run_id, utc_now())
        return item
