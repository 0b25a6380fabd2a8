"""``scrapy crawl columns``: column lists -> article requests.

Routes only: pages through each column's list API answer, skips CFH user
posts, archived articles and recent failures, requests the new ones (see
``ArchiveSpider`` for how a body is fetched).

A column stops when the list is empty, when ``totle_hits`` is reached, at the
page cap, or — on an incremental run — at the first page whose articles are
all known. If the previous walk of that column did not finish (a killed run),
the stop also waits until the page reaches the point that walk had reached,
so nothing it left behind is skipped (``column_state`` in the database). It
also waits while a failed article that is due for another try
(FINEWS_FAILURE_RETRY_HOURS, FINEWS_FAILURE_MAX_TRIES) may be further down:
until the page is older than the oldest such article's date (its code starts
with it), so a failure below page 1 is retried too.

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
``finews/list/stopped_known``, ``finews/dedupe/archived``, ``finews/dedupe/in_run``,
``finews/dedupe/failed_recently``, ``finews/article/requested``,
``finews/article/new_column``, ``finews/refresh/requested``,
``finews/backfill/outside``.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure as TwistedFailure

from crawler.browser.render import render_request_meta
from crawler.browser.snapshots import render_snapshots
from crawler.config import _int_list
from crawler.database import column_states, refresh_candidates
from crawler.eastmoney.urls import column_page_url
from crawler.items import Article, Failure, Fetched, ListEntry, ListProgress
from crawler.middlewares.upstream import canonical_url
from crawler.parsers import eastmoney as em
from crawler.parsers import rendered
from crawler.spiders.base import ArchiveSpider, as_list, fetched

# Items on a column shell page (finance.eastmoney.com/a/cgnjj.html, _2.html, …).
SHELL_PAGE_SIZE = 20


def list_priority(page: int) -> int:
    """First pages before articles, later pages after them.

    Every column's first page is read before any article (the newest articles
    are the ones most often listed in two columns, so both are seen before the
    body is fetched); deeper pages wait until the articles already listed are
    fetched, so a long backfill keeps one page of requests in memory, not the
    whole history.
    """
    return 10 if page == 1 else -2


DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _window_bound(value: str | None, end: bool) -> str:
    if not value:
        return ""
    if not DATE_RE.match(value):
        raise ValueError(f"dates are YYYY-MM-DD, got {value!r}")
    return value + (" 23:59:59" if end else " 00:00:00")


class ColumnsSpider(ArchiveSpider):
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
        # Beijing-time bounds of a backfill window, "" when open.
        self.since = _window_bound(since, end=False)
        self.until = _window_bound(until, end=True)
        self.backfill = bool(self.since or self.until)
        # infoCode -> the column ids it was seen in during this run. The list
        # object is shared with the in-flight Article, so a second column
        # that lists it before its body arrives is recorded on the item.
        self.seen: dict[str, list[int]] = {}
        self.emitted: set[str] = set()
        # Columns whose walk reached a normal stop (CrawlRunRecorder marks them clean).
        self.walk_done: set[int] = set()
        self.states: dict[int, tuple[bool, str]] = {}
        self.started = time.monotonic()
        self.reached: dict[int, str] = {}
        # Day ("YYYY-MM-DD 00:00:00") of the oldest failed article due for a retry.
        self.retry_due_from = ""

    @property
    def column_ids(self) -> list[int]:
        if self._columns_arg:
            return _int_list(self._columns_arg, "-a columns")
        return self.cfg.columns

    @property
    def max_pages(self) -> int:
        return int(self._pages_arg) if self._pages_arg else self.cfg.max_pages

    async def start(self) -> AsyncIterator[Any]:
        self.states = column_states(self.db, self.column_ids)
        self.retry_due_from = self.oldest_retry_due()
        for column in self.column_ids:
            if self.cfg.render == "always" and self.cfg.render_on:
                yield self.render_list_request(column, 1)
            else:
                yield self.list_request(column, 1)
        if not self.backfill and self.cfg.refresh_hours > 0:
            now = datetime.now(UTC)
            seen_after = now - timedelta(hours=self.cfg.refresh_hours)
            fetched_before = now - timedelta(hours=self.cfg.refresh_every)
            for row in refresh_candidates(
                self.db,
                seen_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                fetched_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
            ):
                self.inc("refresh/requested")
                self.seen[row["info_code"]] = row["column_ids"]
                yield self.body_request(self._article(row, [], refresh=True), self.body_order())

    def list_request(self, column: int, page: int) -> scrapy.Request:
        # req_trace is required by the API; the site sends the time in ms.
        url = em.list_url(column, page, self.cfg.page_size, str(int(time.time() * 1000)))
        return scrapy.Request(
            url,
            callback=self.parse_list,
            errback=self.list_errback,
            meta={"column": column, "page": page},
            priority=list_priority(page),
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
                "page_size": SHELL_PAGE_SIZE,
                "rendered": True,
            },
            priority=list_priority(page),
            dont_filter=True,
        )

    def on_article(self, article: Article) -> None:
        self.emitted.add(article.info_code)

    @as_list
    def list_errback(self, failure: TwistedFailure) -> Iterator[Any]:
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
        result = em.parse_list(response.text, response.url)
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
            first = (page_no - 1) * self.cfg.page_size // SHELL_PAGE_SIZE + 1
            yield self.render_list_request(column, first)
            return
        yield from self.handle_list(response, result, [fetched(response)])

    @as_list
    def parse_rendered_list(self, response: Response) -> Iterator[Any]:
        """A column page rendered in Chromium: the list JSON it loaded, or its DOM."""
        snaps = render_snapshots(response)
        self.inc("list/rendered")
        result = rendered.parse_rendered_list(
            response.text, canonical_url(response), snaps, response.meta["column"]
        )
        yield from self.handle_list(response, result, snaps)

    def handle_list(
        self, response: Response, result: em.ListPage, snaps: list[Fetched]
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
        self.inc("list/entries", len(result.entries))
        # DOM-read entries (rendered page without its JSON) have no date.
        oldest = min((e.show_time for e in result.entries if e.show_time), default="")
        codes = [e.info_code for e in entries]
        archived = self.archived(codes)
        failed = self.failed_recently([c for c in codes if c not in archived])
        for entry in entries:
            if self.backfill and not self.in_window(entry):
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
        # Known = archived, or failed too recently to try again.
        all_known = bool(entries) and all(c in archived or c in failed for c in codes)
        page_size = response.meta.get("page_size", self.cfg.page_size)
        if self.should_continue(result, column, page_no, all_known, oldest, page_size):
            if response.meta.get("rendered"):
                yield self.render_list_request(column, page_no + 1)
            else:
                yield self.list_request(column, page_no + 1)
        else:
            self.walk_done.add(column)

    def oldest_retry_due(self) -> str:
        """The day of the oldest failed article due for another try ("" if none).

        An article code starts with its date (YYYYMMDD), which bounds how far
        down the lists a retry has to look.
        """
        since = (datetime.now(UTC) - timedelta(hours=self.cfg.failure_retry_hours)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        row = self.db.execute(
            """SELECT min(substr(info_code, 3, 8)) FROM (
                   SELECT info_code FROM failures
                   WHERE resolved_at IS NULL AND info_code LIKE 'NW%'
                   GROUP BY info_code HAVING count(*) < ? AND max(at) <= ?)""",
            [self.cfg.failure_max_tries, since],
        ).fetchone()
        day = row[0] if row and row[0] else ""
        if not (len(day) == 8 and day.isascii() and day.isdigit()):
            return ""
        return f"{day[:4]}-{day[4:6]}-{day[6:]} 00:00:00"

    def in_window(self, entry: ListEntry) -> bool:
        return (not self.since or entry.show_time >= self.since) and (
            not self.until or entry.show_time <= self.until
        )

    def log_progress(self, column: int, page_no: int, oldest: str) -> None:
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
            return self._entry_request(entry, columns, snaps, refresh=True)
        known = archived.get(info_code)
        if known is not None and column in known:
            self.inc("dedupe/archived")
            return None
        if known is not None:
            self.inc("article/new_column")
            self.seen[info_code] = sorted(set(known) | {column})
            return self._entry_request(entry, self.seen[info_code], snaps, refresh=True)
        self.seen[info_code] = [column]
        return self._entry_request(entry, self.seen[info_code], snaps, refresh=False, absent=True)

    def _article(
        self, fields: dict[str, Any], snaps: list[Fetched], refresh: bool, absent: bool = False
    ) -> Article:
        info_code = fields["info_code"]
        return Article(
            info_code=info_code,
            code=info_code[2:],
            title=fields["title"],
            published=fields["published"],
            media=fields["media"],
            summary=fields["summary"],
            column_ids=self.seen.get(info_code, fields.get("column_ids", [])),
            source_url=em.article_url(info_code[2:]),
            share_url=self.cfg.share_url_for(info_code),
            list_responses=snaps,
            refresh=refresh,
            absent_at_list=absent,
        )

    def _entry_request(
        self,
        entry: ListEntry,
        columns: list[int],
        snaps: list[Fetched],
        refresh: bool,
        absent: bool = False,
    ) -> scrapy.Request:
        """The request for a listed article's body; ``absent``: the list's
        archive lookup found it not archived (the dedupe stage trusts that)."""
        self.inc("article/requested")
        fields = {
            "info_code": entry.info_code,
            "title": entry.title,
            "published": entry.show_time,
            "media": entry.media,
            "summary": entry.summary,
            "column_ids": columns,
        }
        sources = self.body_order(has_list_date=bool(entry.show_time))
        return self.body_request(self._article(fields, snaps, refresh, absent), sources)

    def should_continue(
        self,
        result: em.ListPage,
        column: int,
        page_no: int,
        all_known: bool,
        oldest: str,
        page_size: int,
    ) -> bool:
        if not result.entries and not result.rejected:
            return False  # past the last page
        if self.max_pages and page_no >= self.max_pages:
            return False
        if result.total is not None and page_no * page_size >= result.total:
            return False
        if self.backfill:
            return not (self.since and oldest and oldest < self.since)
        if self.cfg.incremental and all_known:
            clean, reached = self.states.get(column, (True, ""))
            if self.retry_due_from and oldest and oldest >= self.retry_due_from:
                return True  # a failed article due for a retry may be on a later page
            if clean or not reached or (oldest and oldest <= reached):
                self.inc("list/stopped_known")
                self.logger.info(
                    "column %s: page %s holds only known articles, stop", column, page_no
                )
                return False
        return True

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
