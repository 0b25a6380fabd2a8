"""The run's time budget: a run that reaches it stops cleanly (:mod:`crawler.stopping`).

A cron run must end before the next one is due, or every run in between exits
75 (locked) while the archive waits. FINEWS_MAX_RUN_MINUTES bounds a run (a
default under the 5-minute cron period); a backfill (``-a since=…``) has
FINEWS_BACKFILL_MAX_RUN_MINUTES instead (0 = unlimited). At the budget the run
stops with the close reason ``budget``: what was fetched is committed, what was
not is left for the next run, and the run ends ``partial`` (or ``blocked`` if it
met block pages; :mod:`crawler.outcome`). Offline spiders (rebuild) have no budget.
The budget is the command's: spiders run one after the other in one process
(``scrapy crawl columns fastnews``) share it, counted from the first one's start.
Settings: FINEWS_MAX_RUN_MINUTES, FINEWS_BACKFILL_MAX_RUN_MINUTES.
Stats: ``finews/stop/reason``, ``finews/budget/minutes``.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.utils.asyncio import call_later

from crawler import stopping
from crawler.config import FinewsConfig

OFFLINE_SPIDERS = frozenset({"rebuild"})


class RunBudget:
    """Stop the run at its budget (see the module doc)."""

    #: When the process's first spider opened (time.monotonic()): the budget's start.
    first_opened: ClassVar[float | None] = None

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.cfg = FinewsConfig.from_settings(crawler.settings)
        self.timer: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunBudget:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def minutes(self, spider: Spider) -> float:
        if spider.name in OFFLINE_SPIDERS:
            return 0.0
        if getattr(spider, "backfill", False):
            return self.cfg.backfill_max_run_minutes
        return self.cfg.max_run_minutes

    def spider_opened(self, spider: Spider) -> None:
        if RunBudget.first_opened is None:
            RunBudget.first_opened = time.monotonic()
        minutes = self.minutes(spider)
        if minutes > 0:
            self.crawler.stats.set_value("finews/budget/minutes", minutes)
            left = minutes * 60 - (time.monotonic() - RunBudget.first_opened)
            self.timer = call_later(max(0.0, left), self.expire, spider, minutes)

    def expire(self, spider: Spider, minutes: float) -> None:
        self.timer = None
        if stopping.request_stop(self.crawler, stopping.BUDGET):
            spider.logger.info("run budget of %s min reached: stopping, the rest is left", minutes)

    def spider_closed(self, spider: Spider) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
