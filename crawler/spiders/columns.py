"""``scrapy crawl columns``: column lists -> article requests.

Routes only: pages through each column's list API answer, skips CFH user
posts and archived articles, requests the new ones (see ``ArchiveSpider`` for
how a body is fetched), and stops a column when the list is empty, when
``totle_hits`` is reached, at ``-a pages=N`` / ``FINEWS_MAX_PAGES``, or — on an
incremental run (``FINEWS_INCREMENTAL``) — at the first page whose articles are
all archived.

Arguments: ``-a columns=350,351`` (default ``FINEWS_COLUMNS``), ``-a pages=N``.
Settings: FINEWS_COLUMNS, FINEWS_PAGE_SIZE, FINEWS_MAX_PAGES, FINEWS_INCREMENTAL,
FINEWS_BODY_SOURCE, FINEWS_FAILURE_RETRY_HOURS, FINEWS_FAILURE_MAX_TRIES.
Stats: ``finews/list/pages``, ``finews/list/entries``, ``finews/list/cfh_skipped``,
``finews/list/rejected``, ``finews/list/errors``, ``finews/list/stopped_archived``,
``finews/dedupe/archived``, ``finews/dedupe/in_run``, ``finews/dedupe/failed_recently``, ``finews/article/requested``,
``finews/article/new_column``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.http import Response

from crawler.config import _int_list
from crawler.items import Article, Failure, ListEntry
from crawler.middlewares import canonical_url
from crawler.parsers import eastmoney as em
from crawler.spiders.base import ArchiveSpider, fetched


class ColumnsSpider(ArchiveSpider):
    name = "columns"

    def __init__(self, columns: str | None = None, pages: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._columns_arg = columns
        self._pages_arg = pages
        # infoCode -> the column ids it was seen in during this run. The list
        # object is shared with the in-flight Article, so a second column
        # that lists it before its body arrives is recorded on the item.
        self.seen: dict[str, list[int]] = {}
        self.emitted: set[str] = set()

    @property
    def column_ids(self) -> list[int]:
        if self._columns_arg:
            return _int_list(self._columns_arg, "-a columns")
        return self.cfg.columns

    @property
    def max_pages(self) -> int:
        return int(self._pages_arg) if self._pages_arg else self.cfg.max_pages

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for column in self.column_ids:
            yield self.list_request(column, 1)

    def list_request(self, column: int, page: int) -> scrapy.Request:
        # req_trace is required by the API; the site sends the time in ms.
        url = em.list_url(column, page, self.cfg.page_size, str(int(time.time() * 1000)))
        return scrapy.Request(
            url,
            callback=self.parse_list,
            meta={"column": column, "page": page},
            priority=10,
            dont_filter=True,
        )

    def on_article(self, article: Article) -> None:
        self.emitted.add(article.info_code)

    def parse_list(self, response: Response) -> Iterator[Any]:
        column: int = response.meta["column"]
        page_no: int = response.meta["page"]
        snap = fetched(response)
        self.inc("list/pages")
        result = em.parse_list(response.text, response.url)
        if not result.ok:
            self.inc("list/errors")
            self.logger.error("column %s page %s: %s", column, page_no, result.error)
            yield Failure(
                stage="list",
                reason=result.error,
                url=canonical_url(response),
                responses=[snap],
            )
            return
        for raw, reason in result.rejected:
            self.inc("list/rejected")
            yield Failure(
                stage="list",
                reason=f"bad list entry: {reason}",
                url=canonical_url(response),
                detail=raw,
                responses=[snap],
            )
        entries = [e for e in result.entries if e.np_dst != "CFH"]
        self.inc("list/cfh_skipped", len(result.entries) - len(entries))
        self.inc("list/entries", len(result.entries))
        codes = [e.info_code for e in entries]
        archived = self.archived(codes)
        failed = self.failed_recently([c for c in codes if c not in archived])
        for entry in entries:
            if entry.info_code in failed and entry.info_code not in self.seen:
                self.inc("dedupe/failed_recently")
                continue
            request = self.route_entry(entry, column, archived, snap)
            if request is not None:
                yield request
        # Known = archived, or failed too recently to try again.
        all_known = bool(entries) and all(c in archived or c in failed for c in codes)
        if self.should_continue(result, column, page_no, all_known):
            yield self.list_request(column, page_no + 1)

    def route_entry(
        self, entry: ListEntry, column: int, archived: dict[str, list[int]], snap: Any
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
            return self._article_request(entry, columns, snap, refresh=True)
        known = archived.get(info_code)
        if known is not None and column in known:
            self.inc("dedupe/archived")
            return None
        if known is not None:
            self.inc("article/new_column")
            columns = sorted(set(known) | {column})
            self.seen[info_code] = columns
            return self._article_request(entry, columns, snap, refresh=True)
        self.seen[info_code] = [column]
        return self._article_request(entry, self.seen[info_code], snap, refresh=False)

    def _article_request(
        self, entry: ListEntry, columns: list[int], snap: Any, refresh: bool
    ) -> scrapy.Request:
        self.inc("article/requested")
        article = Article(
            info_code=entry.info_code,
            code=entry.code,
            title=entry.title,
            published=entry.show_time,
            media=entry.media,
            summary=entry.summary,
            column_ids=columns,
            source_url=em.article_url(entry.code),
            share_url=self.cfg.share_url_for(entry.info_code),
            list_responses=[snap],
            refresh=refresh,
        )
        return self.body_request(article, self.body_order())

    def should_continue(
        self, result: em.ListPage, column: int, page_no: int, all_known: bool
    ) -> bool:
        if not result.entries and not result.rejected:
            return False  # past the last page
        if self.max_pages and page_no >= self.max_pages:
            return False
        if result.total is not None and page_no * self.cfg.page_size >= result.total:
            return False
        if self.cfg.incremental and all_known:
            self.inc("list/stopped_archived")
            self.logger.info(
                "column %s: page %s holds only archived articles, stop", column, page_no
            )
            return False
        return True
