"""``scrapy crawl columns_worker``: one worker of a distributed backfill of the columns.

The columns spider as it is, with the frontier in Redis
(:mod:`crawler.distributed.frontier`), the shared per-host rate limit
(:mod:`crawler.distributed.ratelimit`), and every callback's output handed to
Redis (:mod:`crawler.distributed.handoff`): no item pipeline runs here, the
writer (``scrapy crawl writer``) archives. The run's window and columns are
stored in Redis by the first worker given them (``-a since=… -a until=…
-a columns=…``); a worker started without them joins the stored run. Its
archive directory (FINEWS_ARCHIVE_DIR) only holds its own run log.

What the archive already holds comes from the writer (it publishes the
archived infoCodes and their columns to ``<prefix>:archived``); workers wait
for it (``<prefix>:writer_ready``) before listing. Recent failures are not
skipped (a backfill retries them).

A second spider joins the same way: a subclass mixing in HandOff, whose
callbacks call ``self.hand_off(request, super().<callback>, arg)``, a
``start`` that yields its first requests, and a ``work_identity`` when its
requests are not finews's list pages or articles.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure as TwistedFailure

from crawler import walk
from crawler.distributed.handoff import HandOff
from crawler.distributed.redisio import retrying
from crawler.items import Fetched, ListEntry
from crawler.spiders.columns import ColumnsSpider

RUN_FIELDS = ("since", "until", "columns", "page_size")


class ColumnsWorker(HandOff, ColumnsSpider):
    name = "columns_worker"

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        # The shared slot is the only pacing (see crawler.distributed.ratelimit).
        for key, value in {
            "SCHEDULER": "crawler.distributed.frontier.Frontier",
            "SCHEDULER_PERSIST": True,
            "DUPEFILTER_CLASS": "crawler.distributed.frontier.WorkDupeFilter",
            "ITEM_PIPELINES": {},
            "DOWNLOAD_DELAY": 0,
            "AUTOTHROTTLE_ENABLED": False,
            "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
        }.items():
            settings.set(key, value, priority="spider")
        # No run record of its own: the writer's run is the run (workers exit 0 when done).
        extensions = dict(settings.getdict("EXTENSIONS"))
        extensions["crawler.extensions.runs.CrawlRunRecorder"] = None
        settings.set("EXTENSIONS", extensions, priority="spider")
        middlewares = dict(settings.getdict("DOWNLOADER_MIDDLEWARES"))
        middlewares["crawler.distributed.ratelimit.SharedRateLimit"] = 990
        settings.set("DOWNLOADER_MIDDLEWARES", middlewares, priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> ColumnsWorker:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.join_run()
        return spider

    def join_run(self) -> None:
        """Store this worker's run parameters, or take the stored ones."""
        mine = {
            "since": self.window.since,
            "until": self.window.until,
            "columns": self._columns_arg or "",
            "page_size": str(self.cfg.page_size),
        }
        key = self.rkeys.run
        if self.backfill:
            for field, value in mine.items():
                retrying(self.dcfg, "run", lambda f=field, v=value: self.redis.hsetnx(key, f, v))
        stored = {
            k.decode(): v.decode()
            for k, v in retrying(self.dcfg, "run", lambda: self.redis.hgetall(key)).items()
        }
        if not stored.get("since") and not stored.get("until"):
            raise ValueError(
                f"no distributed run in {key}: start a worker with -a since=YYYY-MM-DD"
            )
        if self.backfill and any(stored.get(f, "") != mine[f] for f in RUN_FIELDS):
            raise ValueError(
                f"{key} holds another run {stored}; reset it or use another FINEWS_REDIS_PREFIX"
            )
        if stored["page_size"] != mine["page_size"]:
            raise ValueError(
                f"the run pages lists by {stored['page_size']}, not FINEWS_PAGE_SIZE {mine['page_size']}"
            )
        self.window = walk.Window(stored["since"], stored["until"])
        self.backfill = True
        self._columns_arg = stored["columns"] or None

    async def start(self) -> AsyncIterator[Any]:
        # Scrapy 2.19 calls start(), not start_requests(): the first list page
        # of each column, which the dupefilter passes once for all workers.
        while not retrying(self.dcfg, "writer", lambda: self.redis.exists(self.rkeys.writer_ready)):
            self.logger.info("waiting for the writer to publish the archive's contents")
            await asyncio.sleep(1.0)
        for column in self.column_ids:
            yield self.list_request(column, 1)

    # --- what the archive holds: from the writer, through Redis ----------
    def archived(self, info_codes: list[str]) -> dict[str, list[int]]:
        if not info_codes:
            return {}
        found = retrying(
            self.dcfg, "archived", lambda: self.redis.hmget(self.rkeys.archived, info_codes)
        )
        return {
            code: [int(c) for c in value.decode().split(",") if c]
            for code, value in zip(info_codes, found, strict=True)
            if value is not None
        }

    def failed_recently(self, info_codes: list[str]) -> set[str]:
        return set()

    def route_entry(
        self, entry: ListEntry, column: int, archived: dict[str, list[int]], snaps: list[Fetched]
    ) -> scrapy.Request | None:
        before = list(self.seen.get(entry.info_code, ()))
        request = super().route_entry(entry, column, archived, snaps)
        if request is None and before and column not in before:
            # Listed here in a second column while "in flight": the item in
            # flight is in Redis (or another worker's), not this one's to
            # amend, so the frontier records the column, or fetches it again.
            article = self.listed_article(entry, snaps, refresh=False, absent=True)
            request = self.body_request(article, self.body_order(bool(entry.show_time)))
        return request

    # --- every callback's output goes to Redis ---------------------------
    def parse_list(self, response: Response) -> list[Any]:
        return self.hand_off(response.request, super().parse_list, response)

    def parse_rendered_list(self, response: Response) -> list[Any]:
        return self.hand_off(response.request, super().parse_rendered_list, response)

    def list_errback(self, failure: TwistedFailure) -> list[Any]:
        return self.hand_off(failure.request, super().list_errback, failure)

    def parse_page(self, response: Response) -> list[Any]:
        return self.hand_off(response.request, super().parse_page, response)

    def parse_choice(self, response: Response) -> list[Any]:
        return self.hand_off(response.request, super().parse_choice, response)

    def parse_share(self, response: Response) -> list[Any]:
        return self.hand_off(response.request, super().parse_share, response)

    def body_errback(self, failure: TwistedFailure) -> list[Any]:
        return self.hand_off(failure.request, super().body_errback, failure)
