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

import logging
from typing import TYPE_CHECKING, Any

from crawler.clock import utc_now
from crawler.config import FinewsConfig
from crawler.items import Article, Failure, ListProgress
from crawler.store.schema import connect
from crawler.store.writes import (
    article_row,
    close_database,
    write_failure_at,
    write_progress_at,
    write_rows_at,
)
from crawler.workers import Workers

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


logger = logging.getLogger(__name__)


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
