"""``scrapy crawl writer``: the one archive writer of a distributed backfill.

Takes the items the workers pushed to Redis (each with the raw responses it
was built from) and passes them through the same pipelines as a local crawl;
the index stage is ``pipelines.acked_index`` (the local one, then the
acknowledgement once the row is committed). An item dropped by a stage (a
duplicate) is acknowledged at once. See :mod:`crawler.distributed.writerqueue`
for the claim, the re-delivery and the end of a run.

At the end the workers' counts (list pages, requests, ...) are added to the
run's stats, so the run's status and exit code read as a local crawl's.

Settings: FINEWS_REDIS_*, FINEWS_WRITER_WINDOW (items unacknowledged at most).
Stats: ``finews/writer/taken``, ``finews/writer/recovered``, ``finews/writer/acked``.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

from scrapy import signals

from crawler.distributed.writerqueue import WriterQueue
from crawler.items import Article, Failure, ListProgress
from crawler.spiders.base import ArchiveSpider


def identity(item: Any) -> tuple[str, ...]:
    """What an item is about, kept across stages (an article that becomes a failure)."""
    info_code = getattr(item, "info_code", "")
    if info_code:
        return ("info", info_code)
    if isinstance(item, ListProgress):
        return ("progress", str(item.column_id), item.reached)
    if isinstance(item, Failure):
        return ("failure", item.stage, item.url, item.reason)
    return ("other", repr(item)[:200])


class WriterSpider(ArchiveSpider):
    name = "writer"

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        pipelines = dict(settings.getdict("ITEM_PIPELINES"))
        order = pipelines.pop("pipelines.index.IndexPipeline", 600)
        pipelines["pipelines.acked_index.AckedIndexPipeline"] = order
        settings.set("ITEM_PIPELINES", pipelines, priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> WriterSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.item_finished, signal=signals.item_dropped)
        crawler.signals.connect(spider.item_finished, signal=signals.item_error)
        return spider

    @cached_property
    def queue(self) -> WriterQueue:
        return WriterQueue(self.cfg)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tokens: dict[tuple[str, ...], list[bytes]] = defaultdict(list)
        self.in_flight = 0
        self.kept_back = 0

    async def start(self) -> AsyncIterator[Any]:
        while not self.queue.claim():
            self.logger.info("another writer holds %s; waiting", self.queue.keys.writer)
            await asyncio.sleep(1.0)
        recovered = self.queue.recover()
        self.inc("writer/recovered", recovered)
        if recovered:
            self.logger.info(
                "%d items a previous writer left unacknowledged: taken again", recovered
            )
        known = self.queue.publish_archived(self.db)
        self.logger.info("published %d archived articles to the workers", known)
        claimed = time.monotonic()
        while True:
            if time.monotonic() - claimed > 1.0:
                if not self.queue.claim():
                    raise RuntimeError("lost the writer's claim in Redis")
                claimed = time.monotonic()
            if self.in_flight >= self.cfg.writer_window:
                await asyncio.sleep(0.05)
                continue
            got = self.queue.take()
            if got is None:
                if self.in_flight == 0 and self.queue.orphans(self.kept_back):
                    # Taken without this writer knowing (the reply of a take
                    # lost in a Redis restart): back to the queue.
                    self.inc("writer/recovered", self.queue.recover())
                    self.kept_back = 0
                    continue
                if self.in_flight == 0 and self.queue.run_done(self.kept_back):
                    break
                await asyncio.sleep(0.2)
                continue
            item, payload = got
            self.inc("writer/taken")
            self.tokens[identity(item)].append(payload)
            self.in_flight += 1
            yield item
        for key, value in self.queue.worker_stats().items():
            if self.crawler.stats.get_value(key) is None:
                self.crawler.stats.set_value(key, value)
        self.queue.release_claim()

    # --- acknowledgements (from pipelines.acked_index and the signals) ---
    def take_tokens(self, items: list[Any]) -> list[bytes]:
        payloads = []
        for item in items:
            payloads += self.tokens.pop(identity(item), [])
        self.in_flight -= len(payloads)
        return payloads

    def committed(self, items: list[Any]) -> None:
        payloads = self.take_tokens(items)
        self.queue.ack(payloads)
        self.inc("writer/acked", len(payloads))
        for item in items:
            if isinstance(item, Article):
                self.queue.mark_archived(item.info_code, item.column_ids)

    def kept(self, items: list[Any]) -> None:
        """Items whose write failed: left in ``processing`` for the next writer."""
        payloads = self.take_tokens(items)
        self.kept_back += len(payloads)

    def item_finished(self, item: Any, **kwargs: Any) -> None:
        """Dropped (a duplicate, already archived) or failed in a stage: done with."""
        payloads = self.take_tokens([item])
        self.queue.ack(payloads)
        self.inc("writer/acked", len(payloads))
