"""The columns spider's memory of listed articles, and the request each entry gets.

An article may be listed in several columns, and again on a later run: the
first sighting in this run requests its body; a second column that lists it
while the body is in flight is only added to the item's column ids (the list
object is shared); one listed after the item was yielded, or an archived
article seen in a new column, is fetched again (a refresh) so the row records
every column.

Stats: ``finews/dedupe/archived``, ``finews/dedupe/in_run``,
``finews/article/requested``, ``finews/article/new_column``.
"""

from __future__ import annotations

from typing import Any

import scrapy

from crawler.eastmoney.urls import article_url
from crawler.items import Article, Fetched, ListEntry
from crawler.spiders.base import ArchiveSpider


class ListedArticles(ArchiveSpider):
    """Base of the columns spider: which listed entries become body requests."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # infoCode -> the column ids it was seen in during this run. The list
        # object is shared with the in-flight Article, so a second column
        # that lists it before its body arrives is recorded on the item.
        self.seen: dict[str, list[int]] = {}
        self.emitted: set[str] = set()

    def on_article(self, article: Article) -> None:
        self.emitted.add(article.info_code)

    def route_entry(
        self, entry: ListEntry, column: int, archived: dict[str, list[int]], snaps: list[Fetched]
    ) -> scrapy.Request | None:
        info_code = entry.info_code
        columns = self.seen.get(info_code)
        if columns is not None:  # seen earlier in this run
            if column in columns:
                return None
            columns.append(column)
            if info_code not in self.emitted:
                self.inc("dedupe/in_run")  # in flight: the item gets both columns
                return None
            # Already yielded with fewer columns: fetch again to record this one.
            return self._entry_request(entry, snaps, refresh=True)
        known = archived.get(info_code)
        # No column recorded: an article imported from the old archive (make
        # import); it is archived, fetched again only when due a refresh.
        if known is not None and (column in known or not known):
            self.inc("dedupe/archived")
            return None
        if known is not None:
            self.inc("article/new_column")
            self.seen[info_code] = sorted(set(known) | {column})
            return self._entry_request(entry, snaps, refresh=True)
        self.seen[info_code] = [column]
        return self._entry_request(entry, snaps, refresh=False, absent=True)

    def listed_article(
        self, entry: ListEntry, snaps: list[Fetched], refresh: bool, absent: bool = False
    ) -> Article:
        """The article of a list entry (or of an archived row to refresh), its
        column ids the run's ``seen`` list; ``absent``: the list's archive
        lookup found it not archived (the dedupe stage trusts that)."""
        return Article(
            info_code=entry.info_code,
            code=entry.code,
            title=entry.title,
            published=entry.show_time,
            media=entry.media,
            summary=entry.summary,
            column_ids=self.seen[entry.info_code],
            source_url=article_url(entry.code),
            share_url=self.cfg.share_url_for(entry.info_code),
            list_responses=snaps,
            refresh=refresh,
            absent_at_list=absent,
        )

    def _entry_request(
        self, entry: ListEntry, snaps: list[Fetched], refresh: bool, absent: bool = False
    ) -> scrapy.Request:
        """The request for a listed article's body."""
        self.inc("article/requested")
        sources = self.body_order(has_list_date=bool(entry.show_time))
        return self.body_request(self.listed_article(entry, snaps, refresh, absent), sources)
