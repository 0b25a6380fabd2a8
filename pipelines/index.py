"""SQLite index: one ``articles`` row per article (and its entries in the
bigram search index), a ``failures`` row per recorded failure; the writes are
``crawler.store.writes``.

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
import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from crawler.clock import utc_now
from crawler.config import FinewsConfig
from crawler.counters import counter
from crawler.items import Article, Failure, ListProgress
from crawler.offload import Offload
from crawler.store.schema import connect
from crawler.store.writes import (
    article_row,
    close_database,
    write_failure_at,
    write_progress_at,
    write_rows_at,
)

# Annotations only: the index lane's worker imports this module without Scrapy.
if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


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
