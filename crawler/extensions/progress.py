"""A backfill's progress on the console every few seconds, while articles download.

A backfill lists its pages in the first seconds and then downloads for minutes:
its per-page log lines said nothing during the downloads. Every
FINEWS_PROGRESS_SECONDS, while a backfill runs (not under FINEWS_QUIET), one line
per column: pages walked, the date reached, articles fetched of it, the rate and,
where the window's start is known, an ETA from the days still to walk; the same
lines go to the log file.
Settings: FINEWS_PROGRESS_SECONDS, FINEWS_QUIET. Reads the spider's ``progress``
and ``window`` and the ``item_scraped`` articles' ``column_ids``.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import date
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.utils.asyncio import create_looping_call

from crawler import console
from crawler.config import FinewsConfig
from crawler.items import Article


def eta(started_day: str, reached_day: str, since_day: str, elapsed: float) -> str:
    """Time left, assuming the days still to walk go as fast as the ones walked."""
    try:
        first, now, goal = (
            date.fromisoformat(d[:10]) for d in (started_day, reached_day, since_day)
        )
    except ValueError:
        return "?"
    walked, left = (first - now).days, (now - goal).days
    if walked <= 0 or left < 0:
        return "?"
    seconds = int(elapsed * left / walked)
    return f"{seconds // 60}m{seconds % 60:02d}s"


def progress_line(
    column: int, pages: int, reached: str, fetched: int, elapsed: float, eta_text: str
) -> str:
    rate = fetched / elapsed if elapsed > 0 else 0.0
    return (
        f"backfill column {column}: {pages} pages, reached {reached[:10] or '-'}, "
        f"{fetched} fetched, {rate:.1f}/s, ETA {eta_text}"
    )


class BackfillProgress:
    """Report a backfill's progress per column every few seconds (see the module doc)."""

    def __init__(self, crawler: Crawler) -> None:
        self.cfg = FinewsConfig.from_settings(crawler.settings)
        self.fetched: Counter[int] = Counter()
        self.first_seen: dict[int, str] = {}
        self.started = time.monotonic()
        self.task: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackfillProgress:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        if not getattr(spider, "backfill", False) or self.cfg.progress_seconds <= 0:
            return
        self.started = time.monotonic()
        self.task = create_looping_call(self.report, spider)
        self.task.start(self.cfg.progress_seconds, now=False)

    def item_scraped(self, item: Any, spider: Spider) -> None:
        if isinstance(item, Article):
            self.fetched.update(item.column_ids)

    def report(self, spider: Spider) -> None:
        elapsed = time.monotonic() - self.started
        since = getattr(getattr(spider, "window", None), "since", "")
        progress: dict[int, tuple[int, str]] = getattr(spider, "progress", {})
        for column, (pages, reached) in sorted(progress.items()):
            self.first_seen.setdefault(column, reached)
            left = eta(self.first_seen[column], reached, since, elapsed) if since else "?"
            if column in getattr(spider, "walk_done", ()):
                left = "listed all"
            line = progress_line(column, pages, reached, self.fetched[column], elapsed, left)
            spider.logger.info(line)
            if not self.cfg.quiet:
                console.say(line)

    def spider_closed(self, spider: Spider) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
