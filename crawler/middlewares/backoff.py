"""Backoff: finews's answer to an upstream that pushes back.

- **push-backs** (429; a 503 with ``Retry-After``, delta-seconds or HTTP-date,
  which Scrapy ignores, or one that repeats; block pages) slow the whole domain
  down: every downloader slot of the domain (all ``*.eastmoney.com`` hosts are
  one domain) pauses for ``max(Retry-After, delay)`` and its delay floor doubles
  (from FINEWS_BACKOFF_BASE, capped at FINEWS_BACKOFF_MAX); good answers bring
  it back down additively (:mod:`~crawler.middlewares.penalty`, AIMD), never
  while push-backs continue; AutoThrottle is kept from lowering a penalized
  slot (``autothrottle_dont_adjust_delay``). The floor is kept in the database
  between runs (:mod:`crawler.store.domains`); FINEWS_BLOCKED_STOP_AFTER
  push-backs in a row stop the run as ``blocked`` (:mod:`crawler.stopping`).
- a **single 503** without ``Retry-After`` is an error to retry, like a 500.
- **other retryable failures** (500, 502, 504, timeouts, resets, truncated
  JSON) are retried by Scrapy's RetryMiddleware after a per-request backoff of
  FINEWS_BACKOFF_BASE × 2^(retries so far), jittered, capped at FINEWS_BACKOFF_MAX.
- **block pages** (:mod:`crawler.middlewares.blockpages`) are never handed to a
  parser: they are retried after the pause, and when the retries are used up
  the request fails with :class:`~crawler.middlewares.blockpages.Blocked` (its
  errback records a failure with the page snapshotted). The run then ends
  ``blocked`` (exit 4, see :mod:`crawler.outcome`).
- an answer that should be JSON and does not parse (a truncated body) is
  retried; after the last retry it goes to the parser, which records why.
- a response over DOWNLOAD_MAXSIZE is refused by Scrapy before its body is
  read; it is counted here and its errback records the failure (no retry).

The penalty arithmetic is :mod:`crawler.middlewares.penalty`. The slots are
reached through Scrapy's public surface only: the downloader's ``slots`` and the
``response_downloaded`` and ``request_reached_downloader`` signals.

Settings: FINEWS_BACKOFF_BASE, FINEWS_BACKOFF_MAX, FINEWS_BACKOFF_RECOVER,
FINEWS_BLOCKED_STOP_AFTER, FINEWS_BLOCK_MARKERS, RETRY_TIMES, RETRY_HTTP_CODES, RETRY_EXCEPTIONS, DOWNLOAD_DELAY.
Stats: ``finews/blocked`` (block answers met), ``finews/blocked/<kind>``
(``captcha``, ``html_for_json``, ``http_403``), ``finews/blocked/gave_up``,
``finews/backoff/penalties``, ``finews/backoff/retry_after``,
``finews/backoff/paused_seconds``, ``finews/backoff/max_delay``,
``finews/backoff/recovered``, ``finews/backoff/retry_waits``, ``finews/backoff/single_503``,
``finews/invalid_json``, ``finews/refused/oversize``.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import DownloadCancelledError
from scrapy.http import Response, TextResponse
from scrapy.utils.misc import load_object

from crawler import stopping
from crawler.config import FinewsConfig
from crawler.middlewares.blockpages import Blocked, block_kind, expects_json, looks_like_json
from crawler.middlewares.penalty import DomainBackoff, domain_of, retry_after_seconds, retry_backoff
from crawler.middlewares.slots import AT_KEY as _AT_KEY
from crawler.middlewares.slots import FLAGGED_KEY as _FLAGGED_KEY
from crawler.middlewares.slots import domain_slots, enforce, relax
from crawler.middlewares.upstream import CANONICAL_KEY
from crawler.store.domains import load_domains, save_domains

NOT_BEFORE_KEY = "finews_not_before"  # monotonic time before which a retry must not go
_503_KEY = "finews_had_503"  # this request (or the one it retries) was answered 503


class BackoffMiddleware:
    """Retry backoff, Retry-After, domain slow-down and block pages (see the module doc).

    Sits just above RetryMiddleware (550): its ``process_response`` and
    ``process_exception`` run first, so the retry Scrapy makes carries the wait
    set here, and a block page never reaches the retry logic or a parser.
    """

    def __init__(self, crawler: Crawler, cfg: FinewsConfig) -> None:
        self.crawler = crawler
        self.cfg = cfg
        settings = crawler.settings
        self.retry_codes = {int(x) for x in settings.getlist("RETRY_HTTP_CODES")}
        self.retry_exceptions = tuple(
            load_object(x) if isinstance(x, str) else x
            for x in settings.getlist("RETRY_EXCEPTIONS")
        )
        self.domains: dict[str, DomainBackoff] = {}
        # 429/503 answers already acted upon (by the signal handler, then process_response).
        self._pushed_back: weakref.WeakSet[Response] = weakref.WeakSet()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffMiddleware:
        mw = cls(crawler, FinewsConfig.from_settings(crawler.settings))
        # The downloader starts the slot's next request as soon as an answer is in,
        # before any process_response runs: a 429 must pause the slot right there.
        crawler.signals.connect(mw.response_downloaded, signal=signals.response_downloaded)
        # The downloader makes a host's slot only after the middlewares ran; this
        # signal comes once the request sits in its slot, before the slot's queue
        # is worked: the first request to a new host of a penalized domain waits too.
        crawler.signals.connect(
            mw.request_reached_downloader, signal=signals.request_reached_downloader
        )
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    def spider_opened(self, spider: Spider) -> None:
        """Start as slow as the last run ended (its floor, a first pause of it)."""
        now = time.monotonic()
        for domain, (floor, _streak) in load_domains(self.cfg.db_path).items():
            if floor > 0:
                self._state(domain).restore(floor, now)
                spider.logger.info("%s: starting at the last run's delay of %.1fs", domain, floor)

    def spider_closed(self, spider: Spider) -> None:
        save_domains(self.cfg.db_path, {d: (s.floor, s.streak) for d, s in self.domains.items()})

    def response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        """Signal handler: put a 429/503 penalty on the slots before the next request goes."""
        if response.status in (429, 503):
            self._push_back(request, response)

    def request_reached_downloader(self, request: Request, spider: Spider) -> None:
        """Signal handler: a penalized domain's penalty on every slot, the request's included."""
        domain = domain_of(urlsplit(request.url).hostname or "")
        state = self.domains.get(domain)
        if state is not None and state.floor > 0:
            self._enforce(domain, state)

    # -- helpers -------------------------------------------------------------

    def _inc(self, key: str, value: float = 1) -> None:
        if self.crawler.stats:
            self.crawler.stats.inc_value(f"finews/{key}", value)

    def _state(self, domain: str) -> DomainBackoff:
        if domain not in self.domains:
            self.domains[domain] = DomainBackoff(
                self.cfg.backoff_base, self.cfg.backoff_max, self.cfg.backoff_recover
            )
        return self.domains[domain]

    def _enforce(self, domain: str, state: DomainBackoff) -> None:
        enforce(domain_slots(self.crawler, domain), state)

    def _relax(self, domain: str, state: DomainBackoff) -> None:
        self._inc("backoff/recovered")
        relax(domain_slots(self.crawler, domain), state)

    def penalize(self, request: Request, wait: float | None, why: str) -> None:
        """Slow the request's whole domain down (see :class:`DomainBackoff`)."""
        domain = domain_of(urlsplit(request.url).hostname or "")
        state = self._state(domain)
        now = time.monotonic()
        # When the request really left (not when it was queued): the answer's
        # arrival minus the download latency Scrapy measured.
        latency = request.meta.get("download_latency")
        sent_at = now - float(latency) if latency is not None else None
        pause = state.penalize(now, wait, sent_at)
        self._enforce(domain, state)
        if 0 < self.cfg.blocked_stop_after <= state.streak and stopping.request_stop(
            self.crawler, stopping.BLOCKED
        ):
            self.crawler.stats.set_value("finews/stop/streak", state.streak)
        self._inc("backoff/penalties")
        self._inc("backoff/paused_seconds", round(pause, 3))
        if self.crawler.stats:
            self.crawler.stats.max_value("finews/backoff/max_delay", state.floor)
        spider = self.crawler.spider
        if spider is not None:
            # INFO: the log file has each; the console's summary counts them.
            spider.logger.info(
                "%s from %s: pausing %s for %.1fs, delay now %.1fs",
                why,
                request.meta.get(CANONICAL_KEY, request.url),
                domain,
                pause,
                state.floor,
            )

    def _push_back(self, request: Request, response: Response) -> None:
        """A 429/503: slow the domain down, for at least its Retry-After (once per answer)."""
        if response in self._pushed_back:
            return
        self._pushed_back.add(response)
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        state = self._state(domain_of(urlsplit(request.url).hostname or ""))
        repeated = bool(request.meta.get(_503_KEY))
        if response.status == 503:
            request.meta[_503_KEY] = True  # its retry carries it (Scrapy copies meta)
        if not state.is_push_back(response.status, wait, repeated):
            self._inc("backoff/single_503")  # retried after its own backoff
            return
        if wait is not None:
            self._inc("backoff/retry_after")
        self.penalize(request, wait, f"HTTP {response.status}")

    def _schedule_retry_wait(self, request: Request) -> None:
        """Make the retry Scrapy is about to copy from ``request`` wait its backoff."""
        wait = retry_backoff(
            self.cfg.backoff_base, self.cfg.backoff_max, request.meta.get("retry_times", 0)
        )
        request.meta[NOT_BEFORE_KEY] = time.monotonic() + wait

    def _retry(self, request: Request, reason: str) -> Request | None:
        if request.meta.get("dont_retry", False) or self.crawler.spider is None:
            return None
        self._schedule_retry_wait(request)
        retry = get_retry_request(request, spider=self.crawler.spider, reason=reason)
        request.meta.pop(NOT_BEFORE_KEY, None)
        return retry

    # -- the middleware -------------------------------------------------------

    def process_request(
        self, request: Request, spider: Spider | None = None
    ) -> Coroutine[Any, Any, None] | None:
        reason = stopping.stopping(self.crawler)
        if reason is not None:
            raise stopping.StopCancelled(f"run stopping ({reason})")
        domain = domain_of(urlsplit(request.url).hostname or "")
        state = self.domains.get(domain)
        if state is not None and state.floor > 0:
            # The slots get the penalty when the request reaches its slot (see
            # request_reached_downloader); AutoThrottle must leave its answer alone.
            if not request.meta.get(_AT_KEY):
                request.meta[_AT_KEY] = True
                request.meta[_FLAGGED_KEY] = True
        elif request.meta.pop(_FLAGGED_KEY, False):
            request.meta.pop(_AT_KEY, None)
        not_before = request.meta.pop(NOT_BEFORE_KEY, None)
        if not_before is not None:
            wait = not_before - time.monotonic()
            if wait > 0:
                self._inc("backoff/retry_waits")
                return stopping.sleep(self.crawler, wait)
        return None

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        domain = domain_of(urlsplit(request.url).hostname or "")
        status = response.status
        if status in (429, 503):
            self._push_back(request, response)  # once: the signal handler may have done it
            if status == 503:
                self._schedule_retry_wait(request)  # a single 503 waits like a 500
            return response  # RetryMiddleware retries it; a domain pause applies too
        if status in self.retry_codes:
            self._schedule_retry_wait(request)
            return response
        text = response.text if isinstance(response, TextResponse) else None
        kind = block_kind(request.url, status, response.body, text, self.cfg.block_markers)
        if kind:
            self._inc("blocked")
            self._inc(f"blocked/{kind}")
            self.penalize(request, None, f"block page ({kind})")
            retry = self._retry(request, f"blocked/{kind}")
            if retry is not None:
                return retry
            self._inc("blocked/gave_up")
            response.request = request  # the errback snapshots it (canonical URL from meta)
            raise Blocked(
                f"blocked: {kind} page (after {request.meta.get('retry_times', 0)} retries)",
                response,
            )
        if (
            status == 200
            and expects_json(request.url)
            and not looks_like_json(
                text if text is not None else response.body.decode("utf-8", "replace")
            )
        ):
            self._inc("invalid_json")
            retry = self._retry(request, "invalid_json")
            if retry is not None:
                return retry
            return response  # the parser records why it is unusable
        state = self.domains.get(domain)
        if status < 400 and state is not None and state.success():
            self._relax(domain, state)
        return response

    def process_exception(
        self, request: Request, exception: Exception, spider: Spider | None = None
    ) -> None:
        if isinstance(exception, DownloadCancelledError) and "max size" in str(exception):
            self._inc("refused/oversize")
            return None
        if isinstance(exception, self.retry_exceptions):
            self._schedule_retry_wait(request)
        return None
