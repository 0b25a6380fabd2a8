"""``scrapy crawl fastnews``: the 7×24 feed -> emnews posts.

Routes only: pages each feed column's ``getFastNewsList`` answer by cursor
(``crawler.eastmoney.fastnews`` reads it; ``crawler.fastwalk`` says where to stop), on
``np-weblist`` first and ``np-listapi`` when that fails (error answer, unreadable answer, or no
answer after the retries). Each new item gets its body once through the article routes the
columns spider uses (the article page, then the Choice text; no browser): a flash with neither
is still a complete post (digest only), not a failure. An item whose code is an archived column
article takes that article's body from its snapshot and fetches nothing; one imported from the
old archive (``EM<code>``) is skipped. Bad items are recorded in ``failures`` (stage ``fast``).

Incremental runs stop at the first page whose items are all archived (one request per column
when nothing is new). Backfill (``-a since=2026-11-01 -a until=…``) pages back until the items
are older than ``since`` or the feed ends, and logs how far back the feed reached.

Arguments: ``-a columns=102,101`` (default FINEWS_FAST_COLUMNS), ``-a pages=N``,
``-a since=DATE``, ``-a until=DATE``. Settings: FINEWS_FAST_COLUMNS, FINEWS_PAGE_SIZE,
FINEWS_MAX_PAGES, FINEWS_INCREMENTAL, FINEWS_BODY_SOURCE, FINEWS_SITE_URL.
Stats: ``finews/fast/pages``, ``finews/fast/items``, ``finews/fast/new``, ``finews/fast/known``,
``finews/fast/new_column``, ``finews/fast/rejected``, ``finews/fast/fallback``,
``finews/fast/errors``, ``finews/fast/from_article``, ``finews/fast/no_body``,
``finews/fast/outside``, ``finews/fast/imported``, ``finews/fast/stopped_known``,
``finews/fast/linked``, ``finews/fast/reached`` (and ``finews/list/pages``,
``finews/list/errors``, ``finews/list/unreachable``, which the run's outcome reads).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure as TwistedFailure

from crawler import fastwalk, walk
from crawler.clock import utc_now
from crawler.config import parse_fast_columns
from crawler.eastmoney.fastnews import parse_fast_list
from crawler.eastmoney.urls import FAST_NEWS_ORIGINS, FAST_NEWS_REFERER, article_url, fast_news_url
from crawler.items import (
    Article,
    Failure,
    FeedPage,
    Flash,
    FlashColumns,
    FlashEntry,
    ListProgress,
)
from crawler.middlewares.upstream import canonical_url
from crawler.spiders.base import ArchiveSpider, as_list, fetched
from crawler.store import flashes as flash_store
from crawler.store.memory import column_states
from crawler.transform.pairs import link_pairs
from crawler.transform.snapshots import list_snapshot_path


class FastNewsSpider(ArchiveSpider):
    name = "fastnews"

    def __init__(
        self,
        columns: str | None = None,
        pages: str | None = None,
        since: str | None = None,
        until: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._columns_arg, self._pages_arg = columns, pages
        self.window = walk.Window.from_dates(since, until)
        self.started_at = utc_now()
        self.seen: dict[str, list[int]] = {}  # code -> feed columns, this run
        self.in_flight: dict[str, Flash] = {}  # infoCode -> flash awaiting its body
        self.emitted: set[str] = set()  # codes whose Flash was yielded
        # Feed walks: the previous run's, and this run's normal stops (column_state ids).
        self.states: dict[int, walk.ColumnState] = {}
        self.walk_done: set[int] = set()
        self.reached: dict[int, tuple[str, str]] = {}  # column -> (oldest, why it stopped)

    @property
    def column_ids(self) -> list[int]:
        if self._columns_arg:
            return parse_fast_columns(self._columns_arg, "-a columns")
        return list(self.cfg.fast_columns)

    @property
    def policy(self) -> fastwalk.FeedWalk:
        pages = int(self._pages_arg) if self._pages_arg else self.cfg.max_pages
        return fastwalk.FeedWalk(pages, self.cfg.incremental, self.window)

    @staticmethod
    def state_id(column: int) -> int:
        """The feed column's ``column_state`` id: negative, so no list column shares it."""
        return -column

    async def start(self) -> AsyncIterator[Any]:
        flash_store.ensure_flashes(self.db)  # by the first fastnews run, not every connect
        ids = [self.state_id(c) for c in self.column_ids]
        self.states = {
            -sid: walk.ColumnState(clean, reached)
            for sid, (clean, reached) in column_states(self.db, ids).items()
        }
        for column in self.column_ids:
            yield self.feed_request(column, 0, "", 1)

    def feed_request(
        self, column: int, host: int, cursor: str, page: int, tried: int = 0
    ) -> scrapy.Request:
        url = fast_news_url(host, column, cursor, self.cfg.page_size, str(int(time.time() * 1000)))
        return scrapy.Request(
            url,
            callback=self.parse_feed,
            errback=self.feed_errback,
            headers={"Referer": FAST_NEWS_REFERER},
            meta={"column": column, "host": host, "cursor": cursor, "page": page, "tried": tried},
            priority=walk.list_priority(page),
            dont_filter=True,
        )

    def feed_failed(self, meta: dict[str, Any], reason: str, responses: list[Any]) -> Iterator[Any]:
        """This host gave no usable answer: the other host (the walk goes on
        there), or, when both failed for this page, a recorded failure."""
        column, host, tried = meta["column"], meta["host"], meta.get("tried", 0) + 1
        if tried < len(FAST_NEWS_ORIGINS):
            other = (host + 1) % len(FAST_NEWS_ORIGINS)
            self.inc("fast/fallback")
            self.logger.warning(
                "7×24 column %s: %s; trying %s", column, reason, FAST_NEWS_ORIGINS[other]
            )
            yield self.feed_request(column, other, meta["cursor"], meta["page"], tried)
            return
        self.logger.error("7×24 column %s page %s: %s", column, meta["page"], reason)
        self.reached.setdefault(column, ("", f"failed: {reason[:120]}"))
        url = fast_news_url(0, column, meta["cursor"], self.cfg.page_size, "")
        yield Failure(stage="fast", reason=reason, url=url, responses=responses)

    @as_list
    def feed_errback(self, failure: TwistedFailure) -> Iterator[Any]:
        self.inc("list/unreachable")
        response = getattr(failure.value, "response", None)
        reason = f"7×24 feed request failed: {failure.getErrorMessage()[:300]}"
        yield from self.feed_failed(
            failure.request.meta, reason, [fetched(response)] if response else []
        )

    @as_list
    def parse_feed(self, response: Response) -> Iterator[Any]:
        meta = response.meta
        column, page_no = meta["column"], meta["page"]
        snap = fetched(response)
        yield FeedPage(snap)  # every feed answer is snapshotted, whatever it holds
        self.inc("fast/pages")
        self.inc("list/pages")
        result = parse_fast_list(response.text)
        if response.status != 200 or not result.ok:
            self.inc("fast/errors")
            self.inc("list/errors")
            yield from self.feed_failed(meta, result.error or f"HTTP {response.status}", [snap])
            return
        feed_snapshot = list_snapshot_path(snap)
        for raw, reason in result.rejected:
            self.inc("fast/rejected")
            yield Failure(
                stage="fast",
                reason=f"bad 7×24 item: {reason}",
                url=canonical_url(response),
                detail=raw,
                responses=[snap],
            )
        self.inc("fast/items", len(result.entries))
        codes = [e.code for e in result.entries]
        known = flash_store.known_flashes(self.db, codes)
        imported = flash_store.imported_flashes(self.db, codes)  # by ``make import``
        articles = flash_store.archived_articles(self.db, ["NW" + c for c in codes])
        for entry in result.entries:
            if self.window.backfill and not self.window.contains(entry.show_time):
                self.inc("fast/outside")
                continue
            if entry.code in imported:  # archived: a fetch would make a second record
                self.inc("fast/imported")
                continue
            yield from self.route(entry, column, known, articles, feed_snapshot)
        oldest = walk.oldest_time(e.show_time for e in result.entries)
        seen_page = fastwalk.FeedPageSeen(
            number=page_no,
            items=result.items,
            sent_cursor=meta["cursor"],
            cursor=result.cursor,
            oldest=oldest,
            all_known=bool(codes) and all(c in known or c in imported for c in codes),
        )
        stop = self.policy.stop(seen_page, self.states.get(column, walk.ColumnState()))
        previous = self.reached.get(column, ("", ""))[0]
        reached = min(t for t in (oldest, previous) if t) if (oldest or previous) else ""
        self.reached[column] = (reached, stop)
        if self.window.backfill:
            self.logger.info(
                "7×24 backfill column %s page %s: reached %s", column, page_no, reached or "-"
            )
        if oldest and not self.window.backfill:
            yield ListProgress(column_id=self.state_id(column), reached=oldest)
        if stop:
            self.walk_done.add(self.state_id(column))  # CrawlRunRecorder marks it clean
        if stop == fastwalk.KNOWN:
            self.inc("fast/stopped_known")
        if not stop:
            yield self.feed_request(column, meta["host"], result.cursor, page_no + 1)

    def route(
        self,
        entry: FlashEntry,
        column: int,
        known: dict[str, list[int]],
        articles: dict[str, tuple[str, str]],
        feed_snapshot: str,
    ) -> Iterator[Any]:
        """A feed item: skipped (known, seen), or a Flash (now, or once its body came)."""
        columns = self.seen.get(entry.code)
        if columns is not None:  # seen in this run: one more column for the same item
            if column not in columns:
                columns.append(column)  # in flight: the item gets it (the list is shared)
                if entry.code in self.emitted:
                    yield FlashColumns(entry.code, sorted(columns))
            return
        if entry.code in known:
            if column in known[entry.code]:
                self.inc("fast/known")
                return
            self.inc("fast/new_column")  # archived, now seen in another feed column
            self.seen[entry.code] = sorted(set(known[entry.code]) | {column})
            self.emitted.add(entry.code)
            yield FlashColumns(entry.code, self.seen[entry.code])
            return
        self.inc("fast/new")
        columns = self.seen[entry.code] = [column]
        flash = Flash(entry=entry, column_ids=columns, feed_snapshots=[feed_snapshot])
        linked = articles.get(entry.info_code)
        if linked is not None:  # a column article: its body is archived already
            self.inc("fast/from_article")
            flash.article_info_code = entry.info_code
            flash.article_post, flash.article_snapshot = linked
            flash.body_source, flash.fetched_at = "article", utc_now()
            self.emitted.add(entry.code)
            yield flash
            return
        self.in_flight[entry.info_code] = flash
        vehicle = Article(
            info_code=entry.info_code,
            code=entry.code,
            title=entry.title,
            published=entry.show_time,
            source_url=article_url(entry.code),
        )
        sources = ["page", "choice"] if self.cfg.body_source == "page" else ["choice", "page"]
        yield self.body_request(vehicle, sources)

    # --- the article routes' results, as a Flash -------------------------------
    def with_body(self, article: Article, source: str, body_html: str, fields: Any) -> Any:
        flash = self.in_flight.pop(article.info_code)
        self.emitted.add(flash.entry.code)
        flash.body_html, flash.body_source = body_html, source
        flash.body_responses, flash.fetched_at = list(article.body_responses), utc_now()
        return flash

    def next_source(self, meta: dict[str, Any], article: Article, reason: str) -> Iterator[Any]:
        if meta["sources"][1:]:
            yield from super().next_source(meta, article, reason)
            return
        # Neither the page nor the Choice text has a body: a digest-only post.
        self.inc("fast/no_body")
        flash = self.in_flight.pop(article.info_code)
        self.emitted.add(flash.entry.code)
        flash.body_responses, flash.fetched_at = list(article.body_responses), utc_now()
        yield flash

    def closed(self, reason: str) -> None:
        for column, (oldest, why) in sorted(self.reached.items()):
            self.crawler.stats.set_value(f"finews/fast/reached/{column}", oldest)
            self.logger.info(
                "7×24 column %s: reached back to %s (%s)", column, oldest or "-", why or "-"
            )
            if self.window.since and why == fastwalk.END and oldest > self.window.since:
                # The feed keeps about a week: older items cannot be had from it.
                self.logger.warning(
                    "7×24 column %s: the feed ends at %s, after since %s: nothing older to fetch",
                    column,
                    oldest,
                    self.window.since[:10],
                )
        if reason == "finished":
            # Both posts of a code that is a flash and a column article name each other.
            # Pairs written since a refresh could have rewritten the NW post.
            hours = self.cfg.refresh_hours + 24
            since = walk.iso_utc(datetime.now(UTC) - timedelta(hours=hours))
            linked = link_pairs(self.db, self.cfg.archive_dir, self.cfg.site_url, since)
            self.inc("fast/linked", linked)
        super().closed(reason)
