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

import asyncio
import json
import logging
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.clock import utc_now
from crawler.config import FinewsConfig
from crawler.counters import counter
from crawler.database import connect
from crawler.files import sync_filesystem
from crawler.items import Article, Failure, ListProgress
from crawler.offload import Offload
from crawler.search import index_articles, triggers_aside, unindex_articles
from crawler.transform.posts import category_slug

# Annotations only: the index lane's worker imports this module without Scrapy.
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
    """The last stage: rows for articles (batched), failures and list progress.

    The writes run in the order the items came, away from the reactor thread:

    - in a crawl (FINEWS_WORKERS > 0), in a worker process of their own (the
      ``index`` lane of crawler.offload): SQLite, the bigram text of the search
      index and the file-system sync then use the second core without taking
      the reactor's GIL (~4 % faster than a thread). A worker that dies hands
      its writes to the crawl process (crawler.offload), nothing is lost;
    - otherwise (FINEWS_WORKERS = 0, or no event loop: tests), on one thread
      with a connection of its own (SQLite and the sync release the GIL).

    When more than two writes are queued, the item that queued one waits
    (asynchronously in a crawl) for the oldest; the reactor is never blocked,
    and the items held back stop the downloads through Scrapy's scraper limit
    (memory stays bounded). A write that fails is logged and counted; its
    rows are missing, so the run ends "failed" (fetched articles not indexed).
    ``close_spider`` waits for every write.

    Settings: FINEWS_ARCHIVE_DIR, FINEWS_DB_BATCH, FINEWS_WORKERS. Stats:
    ``finews/index/archived``, ``finews/index/updated``,
    ``finews/index/failures``, ``finews/index/errors``.
    """

    MAX_WAITING = 2

    def __init__(
        self, crawler: Crawler, cfg: FinewsConfig, batch: int, lane: Offload | None = None
    ) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.inc = counter(crawler.stats)
        self.cfg = cfg
        self.batch = batch
        self.pending: list[dict[str, Any]] = []
        self.writer: ThreadPoolExecutor | None = None  # the thread, when not offloaded
        self.waiting: deque[Future[None]] = deque()
        self.lane = lane
        self.offloaded = False  # set at open: writes go to the lane
        self.sent: deque[asyncio.Future[None]] = deque()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IndexPipeline:
        cfg = FinewsConfig.from_settings(crawler.settings)
        return cls(
            crawler, cfg, cfg.db_batch, Offload.for_crawler(crawler, lane="index", preload=__name__)
        )

    def open_spider(self, spider: Any = None) -> None:
        # Opened (schema checked, migrated) before the first item, so a broken
        # database fails the run at its start.
        connect(self.cfg.db_path).close()
        self.offloaded = self.lane is not None and self.lane.enabled
        if not self.offloaded:
            self.writer = ThreadPoolExecutor(1, thread_name_prefix="finews-index")

    def close_spider(self, spider: Any = None) -> Any:
        self.flush()
        if self.offloaded:
            return self._close_offloaded()
        if self.writer is not None:
            self.writer.submit(close_database, self._db_path)
            self.writer.shutdown(wait=True)
            while self.waiting:
                self._settle(self.waiting.popleft())
            self.writer = None
        return None

    async def _close_offloaded(self) -> None:
        while self.sent:
            await self.sent.popleft()
        assert self.lane is not None
        try:
            await self.lane.call(close_database, self._db_path)
        except Exception as e:  # the rows are written; a failed close loses nothing
            logger.warning("closing the index database failed: %s", e)

    def wait_written(self) -> None:
        """Write what is pending and wait until every write so far is done
        (the thread; for tests that read the database between items)."""
        self.flush()
        while self.waiting:
            wait([self.waiting[0]])
            self._settle(self.waiting.popleft())

    def _settle(self, future: Future[None]) -> None:
        error = future.exception()
        if error is not None:
            self._failed(error)

    def _failed(self, error: BaseException) -> None:
        self.inc("finews/index/errors")
        logger.error("index write failed: %s", error, exc_info=error)

    # ------------------------------------------------------------ queueing a write

    def _submit(self, fn: Any, *args: Any) -> Any:
        """Queue a write (in order); what to wait for when too many are queued."""
        if self.offloaded:
            assert self.lane is not None
            while self.sent and self.sent[0].done():
                self.sent.popleft()
            self.sent.append(asyncio.ensure_future(self._in_lane(fn, *args)))
            return self.sent[0] if len(self.sent) > self.MAX_WAITING else None
        assert self.writer is not None, "IndexPipeline is not open"
        self._settle_done()
        self.waiting.append(self.writer.submit(self._on_thread, fn, *args))
        return self.waiting[0] if len(self.waiting) > self.MAX_WAITING else None

    def _on_thread(self, fn: Any, *args: Any) -> None:
        # The thread has a connection of its own (``_database`` by thread).
        self._count(fn, fn(*args))

    async def _in_lane(self, fn: Any, *args: Any) -> None:
        assert self.lane is not None
        try:
            done = await self.lane.call(fn, *args)
        except Exception as e:
            self._failed(e)
            return
        self._count(fn, done)

    def _count(self, fn: Any, done: Any) -> None:
        if fn is write_rows_at:
            inserted, updated = done
            self.inc("finews/index/archived", inserted)
            self.inc("finews/index/updated", updated)
        elif fn is write_failure_at:
            self.inc("finews/index/failures")

    def _behind(self, oldest: Any, item: Any) -> Any:
        """``item``, once ``oldest`` is written when the writer is behind.

        In a crawl the item waits (a coroutine) and the reactor goes on;
        without an event loop, the caller blocks.
        """
        if oldest is None:
            return item
        if isinstance(oldest, Future):  # the thread's
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                wait([oldest])
                self._settle_done()
                return item
            oldest = asyncio.wrap_future(oldest)
        return self._when_done(oldest, item)

    async def _when_done(self, oldest: asyncio.Future[None], item: Any) -> Any:
        await asyncio.wait([oldest])
        self._settle_done()  # the thread's writes (none in the lane)
        return item

    def _settle_done(self) -> None:
        while self.waiting and self.waiting[0].done():
            self._settle(self.waiting.popleft())

    # ------------------------------------------------------------ items

    def flush(self) -> Any:
        if not self.pending:
            return None
        rows, self.pending = self.pending, []
        return self._submit(write_rows_at, self._db_path, self._archive, rows)

    @property
    def _db_path(self) -> str:
        return str(self.cfg.db_path)

    @property
    def _archive(self) -> str:
        return str(self.cfg.archive_dir)

    def process_item(self, item: Any) -> Any:
        oldest = None
        if isinstance(item, Article):
            self.pending.append(article_row(item))
            if len(self.pending) >= self.batch:
                oldest = self.flush()
        elif isinstance(item, ListProgress):
            oldest = self._submit(write_progress_at, self._db_path, item)
        elif isinstance(item, Failure):
            run_id = self.stats.get_value("finews/run_id")
            oldest = self._submit(
                write_failure_at, self._db_path, self._archive, item, run_id, utc_now()
            )
        return self._behind(oldest, item)
