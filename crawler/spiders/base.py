"""Routing shared by the spiders: how an article's body is fetched.

An article is tried at its first body source (``FINEWS_BODY_SOURCE``: the
article page, or the Choice text API) and, when that fails, at the other one;
every response is kept on the item for the snapshot. When neither gives a
body, a :class:`~crawler.items.Failure` is yielded, never a silent gap.

Stats: ``finews/article/page_failed``, ``finews/article/choice_failed``,
``finews/article/browser_failed``, ``finews/article/rendered``,
``finews/article/fallback``, ``finews/article/no_body``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cached_property, wraps
from typing import Any, ParamSpec

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure as TwistedFailure

from crawler.browser.render import render_request_meta
from crawler.browser.snapshots import render_snapshots
from crawler.clock import utc_now
from crawler.config import FinewsConfig
from crawler.eastmoney.choice import parse_choice_text
from crawler.eastmoney.pages import parse_article_page
from crawler.eastmoney.rendered import parse_rendered_share
from crawler.eastmoney.urls import article_url, choice_text_url, column_name, share_page_url
from crawler.items import Article, Failure, Fetched
from crawler.middlewares.upstream import canonical_url
from crawler.stopping import StopCancelled
from crawler.store.memory import archived_columns, failed_recently
from crawler.store.schema import connect
from crawler.walk import retry_since

P = ParamSpec("P")


def as_list(method: Callable[P, Iterator[Any]]) -> Callable[P, list[Any]]:
    """A generator callback as a plain function returning its output as a list.

    Scrapy checks every generator callback for a ``return value`` by reading
    and parsing its source (``warn_on_generator_with_return_value``), cached
    by the callable; a bound method is a new object on every access, so the
    cache missed and each response paid for ``inspect.getsource`` + ``ast.parse``
    (~2 % of a crawl's reactor CPU). Callbacks yield a handful of things, so
    collecting them first changes nothing else.
    """

    @wraps(method)
    def collected(*args: P.args, **kwargs: P.kwargs) -> list[Any]:
        return list(method(*args, **kwargs))

    return collected


def fetched(response: Response) -> Fetched:
    """The response as it will be snapshotted (canonical URL, exact bytes)."""
    headers = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, values in response.headers.items()
        for v in values
    ]
    return Fetched(
        url=canonical_url(response),
        status=response.status,
        headers=headers,
        body=response.body,
        fetched_at=response.meta.get("finews_fetched_at") or utc_now(),
    )


class ArchiveSpider(scrapy.Spider):
    """Base of the finews spiders: config, archive lookups, body routing."""

    _db: Any = None

    @cached_property
    def cfg(self) -> FinewsConfig:
        # Read on first use, not in from_crawler: add-ons (the browser route)
        # update the settings after the spider is created.
        return FinewsConfig.from_settings(self.crawler.settings)

    # --- archive lookups (the database is the crawler's memory) ---------
    @property
    def db(self) -> Any:
        if self._db is None:
            self._db = connect(self.cfg.db_path)
        return self._db

    def archived(self, info_codes: list[str]) -> dict[str, list[int]]:
        """Archived articles among ``info_codes``, with their column ids."""
        return archived_columns(self.db, info_codes)

    def failed_recently(self, info_codes: list[str]) -> set[str]:
        """Articles that failed too recently (or too often) to request again now."""
        since = retry_since(datetime.now(UTC), self.cfg.failure_retry_hours)
        return failed_recently(self.db, info_codes, since, self.cfg.failure_max_tries)

    def closed(self, reason: str) -> None:
        if self._db is not None:
            self._db.close()

    def inc(self, key: str, count: int = 1) -> None:
        """Add ``count`` to the crawl's stat ``finews/<key>``."""
        self.crawler.stats.inc_value(f"finews/{key}", count)

    # --- article body routing --------------------------------------------
    def body_order(self, has_list_date: bool = True) -> list[str]:
        """Body sources to try, in order.

        ``FINEWS_BODY_SOURCE`` picks page or Choice first; the browser (the
        share page rendered in Chromium) comes last when the route is on, and
        first under ``FINEWS_RENDER=always`` (the fast routes remain fallbacks:
        a share page whose Choice text is empty still has an article page).
        Without a list date (entries read from a rendered page's DOM) the
        article page is skipped: it shows minutes only, and the post's date
        needs the seconds.
        """
        order = ["page", "choice"] if self.cfg.body_source == "page" else ["choice", "page"]
        if not has_list_date:
            order.remove("page")
        if self.cfg.render_on:
            if self.cfg.render == "always":
                return ["browser", *order]
            order.append("browser")
        return order

    def with_body(self, article: Article, source: str, body_html: str, fields: Any) -> Article:
        """The article with its body; fields the list did not give come from the body source."""
        for name in ("title", "published", "media", "summary"):
            if not getattr(article, name):
                setattr(article, name, getattr(fields, name, "") or "")
        article.body_html = body_html
        article.body_source = source
        self.finish(article)
        return article

    def finish(self, article: Article) -> None:
        """An article got its body and is about to be yielded."""
        article.fetched_at = utc_now()
        article.columns = [column_name(c) for c in sorted(set(article.column_ids))]
        self.on_article(article)

    def on_article(self, article: Article) -> None:
        """Hook for subclasses that track what was emitted."""

    def body_request(
        self, article: Article, sources: list[str], page_url: str = ""
    ) -> scrapy.Request:
        """Request the article's body from ``sources[0]``; the rest are fallbacks.

        ``page_url`` is the article page to fetch when it is not the canonical
        one (a legacy ``/news/1<column>,<code>.html`` URL, which redirects).
        """
        source = sources[0]
        meta: dict[str, Any] = {}
        if source == "page":
            url, callback = page_url or article_url(article.code), self.parse_page
        elif source == "choice":
            url, callback = choice_text_url(article.info_code), self.parse_choice
        else:
            url, callback = share_page_url(article.info_code), self.parse_share
            meta = render_request_meta("share")
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.body_errback,
            meta={**meta, "article": article, "sources": sources, "source": source},
            # Articles wait behind list pages, so a list is read before its
            # articles (an article in two columns is seen in both first).
            priority=-1,
            dont_filter=True,
        )

    @as_list
    def parse_page(self, response: Response) -> Iterator[Any]:
        """The article page (plain HTTP)."""
        page, reason = self.parsed_body(response, "article page", parse_article_page)
        if page is not None:
            yield self.with_body(response.meta["article"], "page", page.body_html, page)
            return
        yield from self.body_failed(response, "page", reason)

    @as_list
    def parse_choice(self, response: Response) -> Iterator[Any]:
        """The Choice text API (plain HTTP)."""
        text, reason = self.parsed_body(response, "Choice text", parse_choice_text)
        if text is not None:
            yield self.with_body(response.meta["article"], "choice", text.text, text)
            return
        yield from self.body_failed(response, "choice", reason)

    def parsed_body(
        self, response: Response, what: str, parse: Callable[[str, str], tuple[Any, str]]
    ) -> tuple[Any, str]:
        """A fast body source's response kept on the article and parsed: what
        ``parse`` made of it (``None`` and why not, a non-200 as ``<what> HTTP <status>``)."""
        response.meta["article"].body_responses.append(fetched(response))
        if response.status != 200:
            return None, f"{what} HTTP {response.status}"
        return parse(response.text, response.url)

    def body_failed(self, response: Response, source: str, reason: str) -> Iterator[Any]:
        """``source`` gave no body: counted (``finews/article/<source>_failed``),
        then the next source."""
        self.inc(f"article/{source}_failed")
        yield from self.next_source(response.meta, response.meta["article"], reason)

    @as_list
    def parse_share(self, response: Response) -> Iterator[Any]:
        """The share page rendered in Chromium (the Choice text it loaded, or its DOM)."""
        article: Article = response.meta["article"]
        snaps = render_snapshots(response)
        article.body_responses.extend(snaps)
        share, reason = parse_rendered_share(response.text, canonical_url(response), snaps)
        if share is not None:
            self.inc("article/rendered")
            yield self.with_body(article, "browser", share.text, share)
            return
        yield from self.body_failed(response, "browser", f"share page: {reason}")

    def next_source(self, meta: dict[str, Any], article: Article, reason: str) -> Iterator[Any]:
        """Fall back to the next body source, or record that there is no body."""
        sources: list[str] = meta["sources"][1:]
        reasons: list[str] = meta.get("reasons", []) + [reason]
        if sources:
            self.inc("article/fallback")
            request = self.body_request(article, sources)
            request.meta["reasons"] = reasons
            yield request
            return
        self.inc("article/no_body")
        yield Failure(
            stage="article",
            reason="no body: " + "; ".join(reasons),
            url=article_url(article.code),
            info_code=article.info_code,
            responses=list(article.list_responses) + list(article.body_responses),
        )

    @as_list
    def body_errback(self, failure: TwistedFailure) -> Iterator[Any]:
        if failure.check(StopCancelled):
            self.inc("stop/left")  # not sent: the next run fetches it, no failure recorded
            return
        request = failure.request
        article: Article = request.meta["article"]
        reason = f"{request.meta['source']} request failed: {failure.getErrorMessage()[:200]}"
        self.logger.warning("%s: %s", article.info_code, reason)
        response = getattr(failure.value, "response", None)
        if response is not None:
            article.body_responses.append(fetched(response))
        yield from self.next_source(request.meta, article, reason)
