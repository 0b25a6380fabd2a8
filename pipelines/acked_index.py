"""The writer's index stage: the local index stage, then the acknowledgement.

:class:`~pipelines.index.IndexPipeline` as it is (rows in batches of
FINEWS_DB_BATCH, one ``syncfs`` and one transaction each); when a write has
committed, the items whose rows it held are acknowledged to Redis through the
writer spider (``spider.committed(items)``). A write that failed is not
acknowledged: the item stays in ``processing`` and the next writer gets it
again. A batch not yet full is written once no item came for FLUSH_AFTER
seconds, so the last items of a run (or of a pause) are not held back.

Settings: FINEWS_ARCHIVE_DIR, FINEWS_DB_BATCH, FINEWS_WORKERS.
Stats: as IndexPipeline's, and ``finews/index/unacknowledged`` (items of failed writes).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from crawler.items import Article
from pipelines.index import IndexPipeline

FLUSH_AFTER = 0.3


class AckedIndexPipeline(IndexPipeline):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crawler = args[0] if args else kwargs["crawler"]
        self.batch: list[Any] = []  # articles whose rows are in self.pending
        self.last_item = time.monotonic()
        self.errors_seen = 0
        self.ticker: asyncio.Task[None] | None = None

    def open_spider(self) -> None:
        super().open_spider()
        self.ticker = asyncio.ensure_future(self.tick())

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_AFTER / 2)
            if self.pending and time.monotonic() - self.last_item >= FLUSH_AFTER:
                self.flush()

    async def close_spider(self) -> None:
        if self.ticker is not None:
            self.ticker.cancel()
        await super().close_spider()

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        before = self.writes[-1] if self.writes else None
        super().flush()
        self.watch(before, batch)

    def watch(self, before: Any, items: list[Any]) -> None:
        """Acknowledge ``items`` when the write queued after ``before`` is done."""
        if self.writes and self.writes[-1] is not before and items:
            self.writes[-1].add_done_callback(lambda _task: self.done(items))

    def done(self, items: list[Any]) -> None:
        # The lane writes in order and each write's task ends in order, so a
        # change of the error count since the last one is this write's.
        errors = int(self.stats.get_value("finews/index/errors", 0))
        failed, self.errors_seen = errors > self.errors_seen, errors
        if failed:
            self.stats.inc_value("finews/index/unacknowledged", len(items))
            self.crawler.spider.kept(items)
            return
        self.crawler.spider.committed(items)

    async def process_item(self, item: Any) -> Any:
        self.last_item = time.monotonic()
        if isinstance(item, Article):
            self.batch.append(item)
            return await super().process_item(item)
        before = self.writes[-1] if self.writes else None
        result = await super().process_item(item)
        self.watch(before, [item])
        return result
