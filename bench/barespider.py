"""The reference crawl: a bare Scrapy spider that only downloads the URLs a finews crawl fetches.

    .venv/bin/scrapy runspider bench/barespider.py -a count=5000 -a out=STATS.json \\
        -s FINEWS_UPSTREAM=http://127.0.0.1:PORT [-s the same settings as the finews crawl]

It requests what ``scrapy crawl columns`` requests for synthetic articles
``0..count-1`` (:mod:`bench.synth`): every list page of every column (page
size FINEWS_PAGE_SIZE, at priority 10 like the finews spider) and every
article page (priority -1), at their canonical Eastmoney URLs, through the
same settings and downloader middlewares (robots.txt, the upstream override).
It parses nothing and yields no item, and the finews pipelines and extensions
are switched off: its rate is the limit of this stack (Scrapy, Twisted, the
machine) for these URLs. Its stats, ``elapsed_time_seconds`` included, are
written to ``out`` as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import scrapy

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.synth import COLUMNS, code_of, columns_of  # noqa: E402
from crawler.config import FinewsConfig  # noqa: E402
from crawler.eastmoney.urls import article_url, list_url  # noqa: E402


def crawl_urls(count: int, page_size: int) -> tuple[list[str], list[str]]:
    """(list page URLs, article page URLs) a finews crawl of ``count`` articles requests."""
    per_column = dict.fromkeys(COLUMNS, 0)
    for i in range(count):
        for c in columns_of(i):
            per_column[c] += 1
    trace = str(int(time.time() * 1000))
    lists = [
        list_url(c, page, page_size, trace)
        for c, n in per_column.items()
        for page in range(1, n // page_size + 2)  # up to the first empty page
        if (page - 1) * page_size < max(n, 1)
    ]
    articles = [article_url(code_of(i)) for i in range(count)]
    return lists, articles


class BareSpider(scrapy.Spider):
    name = "bare"
    custom_settings = {
        "ITEM_PIPELINES": {},
        "EXTENSIONS": {
            "crawler.extensions.logfile.ArchiveLogFile": None,
            "crawler.extensions.runs.CrawlRunRecorder": None,
            "crawler.gctune.GcTuning": None,
        },
    }

    def __init__(self, count: str = "1000", out: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.count = int(count)
        self.out = out

    async def start(self) -> AsyncIterator[Any]:
        page_size = FinewsConfig.from_settings(self.settings).page_size
        lists, articles = crawl_urls(self.count, page_size)
        for url in lists:
            yield scrapy.Request(url, callback=self.parse, priority=10, dont_filter=True)
        for url in articles:
            yield scrapy.Request(url, callback=self.parse, priority=-1, dont_filter=True)

    def parse(self, response: Any) -> None:
        return None

    def closed(self, reason: str) -> None:
        if self.out:
            stats = dict(self.crawler.stats.get_stats())
            # CoreStats sets elapsed_time_seconds after this hook: compute it the same way.
            start = stats.get("start_time")
            if start is not None:
                now = datetime.now(tz=UTC)
                stats["elapsed_time_seconds"] = (now - start).total_seconds()
            Path(self.out).write_text(json.dumps(stats, default=str, sort_keys=True))
