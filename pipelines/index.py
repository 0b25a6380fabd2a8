"""SQLite index: ``articles`` rows (search entries, ``article_versions``),
``failures`` rows, ``column_state`` (writes: ``crawler.store.writes``). Rows are
upserted in batches (FINEWS_DB_BATCH rows, or every FINEWS_DB_COMMIT_SECONDS),
each in one transaction after one ``syncfs``: this is the last stage, so a row
means the snapshot and the post are on disk."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from crawler.clock import utc_now
from crawler.config import FinewsConfig
from crawler.items import Article, Failure, ListProgress
from crawler.store import writes
from crawler.store.schema import connect
from crawler.store.writes import article_row, write_failure_at, write_rows_at
from crawler.workers import Workers

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class IndexPipeline:
    """The last stage. Every write runs in the ``index`` lane of crawler.workers
    (one writer, in item order, away from the reactor). An item waits only when
    more than MAX_WAITING writes are under way; a failed write is one log line,
    counted (the run ends "failed"). Settings: FINEWS_ARCHIVE_DIR, FINEWS_DB_BATCH,
    FINEWS_DB_COMMIT_SECONDS, FINEWS_WORKERS. Stats: ``finews/index/archived``,
    ``finews/index/updated``, ``finews/index/failures``, ``finews/index/errors``."""

    MAX_WAITING = 2

    def __init__(self, crawler: Crawler, cfg: FinewsConfig, lane: Workers) -> None:
        self.stats = crawler.stats
        self.cfg = cfg
        self.db_path, self.archive, self.lane = str(cfg.db_path), str(cfg.archive_dir), lane
        self.pending: list[dict[str, Any]] = []
        self.writes: deque[asyncio.Task[None]] = deque()
        self.ticker: asyncio.Future[None] | None = None  # commits by time (open_spider)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IndexPipeline:
        lane = Workers.for_crawler(crawler, lane="index")
        return cls(crawler, FinewsConfig.from_settings(crawler.settings), lane)

    def open_spider(self) -> None:
        connect(self.cfg.db_path).close()  # a broken database fails the run at its start

    async def _tick(self) -> None:  # rows show while a slow run runs; a kill loses seconds
        """Started by the first item, on the loop the items run on."""
        while True:
            await asyncio.sleep(self.cfg.db_commit_seconds)
            self.flush()

    async def written(self) -> None:
        """Every write queued so far is done (or failed, counted)."""
        while self.writes:
            await self.writes.popleft()

    async def close_spider(self) -> None:
        if self.ticker is not None:
            self.ticker.cancel()
        self.flush()
        await self.written()
        try:  # after every write (the lane keeps their order)
            await self.lane.run(writes.close_database, self.db_path)
        except Exception as e:  # the rows are written: a failed close loses nothing
            logger.warning("closing the index database failed: %s", e)

    def flush(self) -> None:
        if self.pending:
            rows, self.pending = self.pending, []
            self._submit(write_rows_at, self.db_path, self.archive, rows)

    def _submit(self, fn: Any, *args: Any) -> None:
        """Queue a write (tasks start in order made: the lane gets item order)."""
        while self.writes and self.writes[0].done():
            self.writes.popleft()
        self.writes.append(asyncio.ensure_future(self._write(fn, *args)))

    async def _write(self, fn: Any, *args: Any) -> None:
        try:
            done = await self.lane.run(fn, *args)
        except Exception as e:
            self.stats.inc_value("finews/index/errors")  # one line each (a full disk: many)
            logger.error("index write failed: %s: %s", type(e).__name__, e)
            return
        if fn is write_rows_at:
            self.stats.inc_value("finews/index/archived", done[0])
            self.stats.inc_value("finews/index/updated", done[1])
        elif fn is write_failure_at:
            self.stats.inc_value("finews/index/failures")

    def _record_failure(self, item: Failure) -> None:
        run, at = self.stats.get_value("finews/run_id"), utc_now()
        self._submit(write_failure_at, self.db_path, self.archive, item, run, at)

    async def process_item(self, item: Any) -> Any:
        if self.ticker is None or self.ticker.get_loop() is not asyncio.get_running_loop():
            self.ticker = asyncio.ensure_future(self._tick())
        if isinstance(item, Article):
            for failure in item.failures:  # met on the way, did not stop it
                self._record_failure(failure)
            if item.changed:  # the post stays where it is; the change is a row
                self._submit(writes.write_changes_at, self.db_path, writes.change_rows(item))
            self.pending.append(article_row(item))
            if len(self.pending) >= self.cfg.db_batch:
                self.flush()
        elif isinstance(item, ListProgress):
            self._submit(writes.write_progress_at, self.db_path, item)
        elif isinstance(item, Failure):
            self._record_failure(item)
        if len(self.writes) > self.MAX_WAITING:
            await asyncio.wait([self.writes[0]])
        return item
