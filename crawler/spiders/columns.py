"""``scrapy crawl columns``: column lists -> article requests.

Routes only: pages through each column's list API answer, skips CFH user
posts, archived articles and recent failures, requests the new ones (see
``ArchiveSpider`` for how a body is fetched). Where a walk stops is
``crawler.walk``'s policy; what the archive knows, ``crawler.store.memory``.

Incremental runs also fetch again, at most once per FINEWS_REFRESH_EVERY
hours, the articles first seen in the last FINEWS_REFRESH_HOURS, to pick up
edits.

Backfill (``-a since=2026-01-01 -a until=2026-03-31``): pages back until the
entries are older than ``since``, archives only entries inside the window,
never stops at known pages, fetches no refreshes; logs progress per page.

Arguments: ``-a columns=350,351`` (default FINEWS_COLUMNS), ``-a pages=N``,
``-a since=DATE``, ``-a until=DATE``.
Settings: FINEWS_COLUMNS, FINEWS_PAGE_SIZE, FINEWS_MAX_PAGES, FINEWS_INCREMENTAL,
FINEWS_BODY_SOURCE, FINEWS_FAILURE_RETRY_HOURS, FINEWS_FAILURE_MAX_TRIES,
FINEWS_REFRESH_HOURS, FINEWS_REFRESH_EVERY.
Stats: ``finews/list/pages``, ``finews/list/entries``, ``finews/list/cfh_skipped``,
``finews/list/rejected``, ``finews/list/errors``, ``finews/list/unreachable``,
``finews/list/stopped_known``, ``finews/list/duplicates_in_page``, ``finews/dedupe/failed_recently``,
``finews/refresh/requested``, ``finews/backfill/outside`` (and ``ListedArticles``'s).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure as TwistedFailure

from crawler import walk
from crawler.browser.render import render_request_meta
from crawler.browser.snapshots import render_snapshots
from crawler.config import parse_column_ids
from crawler.eastmoney.lists import ListPage, parse_list
from crawler.eastmoney.rendered import parse_rendered_list
from crawler.eastmoney.urls import column_page_url, list_url
from crawler.items import Failure, Fetched, ListEntry, ListProgress
from crawler.middlewares.upstream import canonical_url
from crawler.spiders.base import as_list, fetched
from crawler.spiders.listed import ListedArticles
from crawler.stopping import StopCancelled
from crawler.store.memory import column_states, oldest_retry_due_day, refresh_candidates


class ColumnsSpider(ListedArticles):
    name = "columns"

    def __init__(
        self,
        columns: str | None = None,
        pages: str | None = None,
        since: str | None = None,
        until: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._columns_arg = columns
        self._pages_arg = pages
        # Beijing-time bounds of a backfill window, open when not given.
        self.window = walk.Window.from_dates(since, until)
        self.backfill = self.window.backfill
        # Columns whose walk reached a normal stop (CrawlRunRecorder marks them clean).
        self.walk_done: set[int] = set()
        self.states: dict[int, walk.ColumnState] = {}
        self.started = time.monotonic()
        self.reached: dict[int, str] = {}
        # column -> (pages walked, oldest time reached), for crawler.extensions.progress.
        self.progress: dict[int, tuple[int, str]] = {}
        # List time the walks must reach for the failures due for a retry (set by start).
        self.retry_due_from = ""

    @property
    def column_ids(self) -> list[int]:
        if self._columns_arg:
            return parse_column_ids(self._columns_arg, "-a columns")
        return self.cfg.columns

    @property
    def max_pages(self) -> int:
        return int(self._pages_arg) if self._pages_arg else self.cfg.max_pages

    @cached_property
    def policy(self) -> walk.Walk:
        """This run's stop rule, made on first use (after ``start`` looked up the retries)."""
        return walk.Walk(
            max_pages=self.max_pages,
            incremental=self.cfg.incremental,
            window=self.window,
            retry_due_from=self.retry_due_from,
        )

    async def start(self) -> AsyncIterator[Any]:
        self.states = {
            column: walk.ColumnState(clean, reached)
            for column, (clean, reached) in column_states(self.db, self.column_ids).items()
        }
        since = walk.retry_since(datetime.now(UTC), self.cfg.failure_retry_hours)
        day = oldest_retry_due_day(self.db, since, self.cfg.failure_max_tries)
        self.retry_due_from = walk.retry_due_from(day)
        for column in self.column_ids:
            if self.cfg.render == "always" and self.cfg.render_on:
                yield self.render_list_request(column, 1)
            else:
                yield self.list_request(column, 1)
        if not self.backfill and self.cfg.refresh_hours > 0:
            # Read here, not at the top: Scrapy takes start requests lazily.
            seen_after, fetched_before = walk.refresh_window(
                datetime.now(UTC), self.cfg.refresh_hours, self.cfg.refresh_every
            )
            for row in refresh_candidates(self.db, seen_after, fetched_before):
                self.inc("refresh/requested")
                self.seen[row["info_code"]] = row["column_ids"]
                fields = [row[k] for k in ("title", "published", "media", "summary")]
                entry = ListEntry(row["info_code"][2:], *fields)
                yield self.body_request(self.listed_article(entry, [], True), self.body_order())

    def list_request(self, column: int, page: int) -> scrapy.Request:
        # req_trace is required by the API; the site sends the time in ms.
        url = list_url(column, page, self.cfg.page_size, str(int(time.time() * 1000)))
        return scrapy.Request(
            url,
            callback=self.parse_list,
            errback=self.list_errback,
            meta={"column": column, "page": page},
            priority=walk.list_priority(page),
            dont_filter=True,
        )

    def render_list_request(self, column: int, page: int) -> scrapy.Request:
        """The column's page as a person sees it, rendered in Chromium."""
        return scrapy.Request(
            column_page_url(column, page),
            callback=self.parse_rendered_list,
            errback=self.list_errback,
            meta={
                **render_request_meta("list"),
                "column": column,
                "page": page,
                "page_size": walk.SHELL_PAGE_SIZE,
                "rendered": True,
            },
            priority=walk.list_priority(page),
            dont_filter=True,
        )

    @as_list
    def list_errback(self, failure: TwistedFailure) -> Iterator[Any]:
        if failure.check(StopCancelled):
            self.inc("stop/left")  # not sent: the next run lists it again
            return
        request = failure.request
        self.inc("list/unreachable")
        reason = f"list request failed: {failure.getErrorMessage()[:300]}"
        self.logger.error(
            "column %s page %s: %s", request.meta["column"], request.meta["page"], reason
        )
        response = getattr(failure.value, "response", None)
        yield Failure(
            stage="list",
            reason=reason,
            url=request.meta.get("finews_canonical_url", request.url),
            responses=[fetched(response)] if response is not None else [],
        )

    @as_list
    def parse_list(self, response: Response) -> Iterator[Any]:
        """A list API answer (the fast route)."""
        result = parse_list(response.text, response.url)
        if not result.ok and self.cfg.render_on:
            # Refused, changed or unreadable: the page a person sees still
            # shows the list (FINEWS_RENDER=auto). Shell pages hold 20 items.
            column, page_no = response.meta["column"], response.meta["page"]
            self.inc("list/render_fallback")
            self.logger.warning(
                "column %s page %s: %s; rendering the column page instead",
                column,
                page_no,
                result.error,
            )
            yield self.render_list_request(column, walk.shell_page_for(page_no, self.cfg.page_size))
            return
        yield from self.handle_list(response, result, [fetched(response)])

    @as_list
    def parse_rendered_list(self, response: Response) -> Iterator[Any]:
        """A column page rendered in Chromium: the list JSON it loaded, or its DOM."""
        snaps = render_snapshots(response)
        self.inc("list/rendered")
        result = parse_rendered_list(
            response.text, canonical_url(response), snaps, response.meta["column"]
        )
        yield from self.handle_list(response, result, snaps)

    def handle_list(
        self, response: Response, result: ListPage, snaps: list[Fetched]
    ) -> Iterator[Any]:
        column: int = response.meta["column"]
        page_no: int = response.meta["page"]
        self.inc("list/pages")
        if not result.ok:
            self.inc("list/errors")
            self.logger.error("column %s page %s: %s", column, page_no, result.error)
            yield Failure(
                stage="list", reason=result.error, url=canonical_url(response), responses=snaps
            )
            return
        for raw, reason in result.rejected:
            self.inc("list/rejected")
            yield Failure(
                stage="list",
                reason=f"bad list entry: {reason}",
                url=canonical_url(response),
                detail=raw,
                responses=snaps,
            )
        entries = [e for e in result.entries if e.np_dst != "CFH"]
        self.inc("list/cfh_skipped", len(result.entries) - len(entries))
        if twice := len(entries) - len({e.info_code for e in entries}):  # requested once
            self.inc("list/duplicates_in_page", twice)
        self.inc("list/entries", len(result.entries))
        oldest = walk.oldest_time(e.show_time for e in result.entries)
        codes = [e.info_code for e in entries]
        archived = self.archived(codes)
        failed = self.failed_recently([c for c in codes if c not in archived])
        for entry in entries:
            if self.backfill and not self.window.contains(entry.show_time):
                self.inc("backfill/outside")
                continue
            if entry.info_code in failed and entry.info_code not in self.seen:
                self.inc("dedupe/failed_recently")
                continue
            request = self.route_entry(entry, column, archived, snaps)
            if request is not None:
                yield request
        if oldest and not self.backfill:
            self.reached[column] = oldest
            yield ListProgress(column_id=column, reached=oldest)
        if self.backfill:
            self.log_progress(column, page_no, oldest)
        page = walk.ListedPage(
            number=page_no,
            size=response.meta.get("page_size", self.cfg.page_size),
            total=result.total,
            entries=len(result.entries),
            rejected=len(result.rejected),
            oldest=oldest,
            all_known=walk.all_known(codes, archived, failed),
        )
        stop = self.policy.stop(page, self.states.get(column, walk.ColumnState()))
        if stop == walk.KNOWN:
            self.inc("list/stopped_known")
            self.logger.info("column %s: page %s holds only known articles, stop", column, page_no)
        if not stop:
            if response.meta.get("rendered"):
                yield self.render_list_request(column, page_no + 1)
            else:
                yield self.list_request(column, page_no + 1)
        else:
            self.walk_done.add(column)

    def log_progress(self, column: int, page_no: int, oldest: str) -> None:
        self.progress[column] = (page_no, oldest or self.progress.get(column, (0, ""))[1])
        stats = self.crawler.stats
        fetched_ok = stats.get_value("finews/validate/ok", 0)
        requested = stats.get_value("finews/article/requested", 0)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        self.logger.info(
            "backfill column %s page %s: reached %s | %s listed, %s requested, %s fetched | %.1f articles/s",
            column,
            page_no,
            oldest or "-",
            stats.get_value("finews/list/entries", 0),
            requested,
            fetched_ok,
            fetched_ok / elapsed,
        )

    def closed(self, reason: str) -> None:
        if self.backfill:
            stats = self.crawler.stats
            self.logger.info(
                "backfill done (%s): %s pages, %s listed, %s outside the window, %s archived, %s failures",
                reason,
                stats.get_value("finews/list/pages", 0),
                stats.get_value("finews/list/entries", 0),
                stats.get_value("finews/backfill/outside", 0),
                stats.get_value("finews/index/archived", 0),
                stats.get_value("finews/index/failures", 0),
            )
        super().closed(reason)
