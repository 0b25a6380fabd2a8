"""``CrawlRunRecorder``: a ``crawl_runs`` row per run, opened at start, closed
with the run's counts, finish reason and status.

Status: ``ok``; ``partial`` (some failures recorded); ``failed`` (the spider
did not finish, or list pages failed and nothing was archived).

Settings: FINEWS_ARCHIVE_DIR. Stats: sets ``finews/run_id``.
"""

from __future__ import annotations

import json
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler

from crawler.clock import utc_now
from crawler.config import FinewsConfig
from crawler.database import connect


def run_status(stats: dict[str, Any], reason: str) -> str:
    archived = stats.get("finews/index/archived", 0) + stats.get("finews/index/updated", 0)
    failures = stats.get("finews/index/failures", 0)
    if reason != "finished":
        return "failed"
    if stats.get("finews/list/errors", 0) and not archived:
        return "failed"
    if failures:
        return "partial"
    return "ok"


class CrawlRunRecorder:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.cfg = FinewsConfig.from_settings(crawler.settings)
        self.run_id: int | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlRunRecorder:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        db = connect(self.cfg.db_path)
        with db.atomic():
            table = db["crawl_runs"]
            table.insert({"spider": spider.name, "started_at": utc_now(), "status": "running"})
            self.run_id = table.last_pk
        db.close()
        self.crawler.stats.set_value("finews/run_id", self.run_id)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        stats = self.crawler.stats.get_stats()
        status = run_status(stats, reason)
        db = connect(self.cfg.db_path)
        with db.atomic():
            db["crawl_runs"].update(
                self.run_id,
                {
                    "finished_at": utc_now(),
                    "requests": stats.get("downloader/request_count", 0),
                    "responses": stats.get("downloader/response_count", 0),
                    "archived": stats.get("finews/index/archived", 0),
                    "updated": stats.get("finews/index/updated", 0),
                    "duplicates": stats.get("finews/dedupe/archived", 0)
                    + stats.get("finews/dedupe/in_run", 0),
                    "failures": stats.get("finews/index/failures", 0),
                    "finish_reason": reason,
                    "status": status,
                    "stats": json.dumps(stats, default=str, sort_keys=True),
                },
            )
        db.close()
        spider.logger.info("finews run %s: %s (%s)", self.run_id, status, reason)
