"""Dedupe by infoCode, within a run and across runs (the database is the memory).

The spiders already avoid requesting archived articles; this stage is the
guarantee: an article reaches the writers at most once per run, and an
archived one only when it is fetched again on purpose (``Article.refresh``),
and then with what the archive holds of it (``previous_sha256``,
``previous_column_ids``) so later stages can tell whether anything changed.
An article the spider found absent when it read its list page
(``Article.absent_at_list``: one query per page of 50, and a crawl holds the
archive's lock, so nothing else writes meanwhile) is not looked up again.

Settings: FINEWS_ARCHIVE_DIR. Stats: ``finews/dedupe/dropped_in_run``,
``finews/dedupe/dropped_archived``.
"""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from crawler.config import FinewsConfig
from crawler.items import Article
from crawler.store.memory import archived_place, archived_state
from crawler.store.schema import connect


class DedupePipeline:
    """Drops an article seen in this run or archived (unless it is a refresh,
    which gets the archived digest and columns, and keeps the published media
    and date: ``changed``). Settings: FINEWS_ARCHIVE_DIR. Stats:
    ``finews/dedupe/dropped_in_run``, ``finews/dedupe/dropped_archived``,
    ``finews/dedupe/metadata_changed``."""

    def __init__(self, crawler: Crawler, cfg: FinewsConfig) -> None:
        self.stats = crawler.stats
        self.cfg = cfg
        self.seen: set[str] = set()
        self.places: dict[str, tuple[str, str]] = {}  # infoCode -> (media, published)
        self.db = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupePipeline:
        return cls(crawler, FinewsConfig.from_settings(crawler.settings))

    def open_spider(self) -> None:
        self.db = connect(self.cfg.db_path)

    def close_spider(self) -> None:
        if self.db is not None:
            self.db.close()

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Article):
            return item
        adapter = ItemAdapter(item)
        info_code, refresh = adapter["info_code"], adapter["refresh"]
        if info_code in self.seen and not refresh:
            self.stats.inc_value("finews/dedupe/dropped_in_run")
            raise DropItem(f"{info_code} already archived in this run", log_level="DEBUG")
        # The spider's list lookup already found it absent: no query per article.
        state = None if adapter["absent_at_list"] else archived_state(self.db, info_code)
        if state is not None and not refresh:
            self.stats.inc_value("finews/dedupe/dropped_archived")
            raise DropItem(f"{info_code} is already archived", log_level="DEBUG")
        if state is not None:
            adapter["previous_sha256"], adapter["previous_column_ids"] = state
        place = self.places.get(info_code)
        if place is None and state is not None:
            place = archived_place(self.db, info_code)
        for name, published in zip(("media", "published"), place or (), strict=False):
            if published and published != adapter[name]:
                # The post's URL is made of these: it keeps the published ones.
                adapter["changed"][name], adapter[name] = adapter[name], published
                self.stats.inc_value("finews/dedupe/metadata_changed")
        self.places.setdefault(info_code, (adapter["media"], adapter["published"]))
        self.seen.add(info_code)
        return item
