"""Downloader middlewares.

``UpstreamOverrideMiddleware`` sends every request for an ``eastmoney.com``
host to ``FINEWS_UPSTREAM`` (same path and query) when that setting is set,
and remembers the canonical URL in ``request.meta["finews_canonical_url"]``
so snapshots, posts and the database keep Eastmoney's URLs.
Settings: FINEWS_UPSTREAM. Stats: ``finews/upstream/rewritten``.

``BackoffMiddleware`` is finews's answer to an upstream that pushes back:

- **429 and 503** (with or without ``Retry-After``, delta-seconds or HTTP-date,
  which Scrapy ignores) and **block pages** slow the whole domain down: every
  downloader slot of the domain (all ``*.eastmoney.com`` hosts are one domain)
  pauses for ``max(Retry-After, delay)`` and its delay floor doubles (from
  FINEWS_BACKOFF_BASE, capped at FINEWS_BACKOFF_MAX). The floor comes down
  (halved) only after FINEWS_BACKOFF_RECOVER good answers in a row, so a run
  never speeds up while 429s keep coming; AutoThrottle is kept from lowering a
  penalized slot (``autothrottle_dont_adjust_delay``).
- **other retryable failures** (500, 502, 504, timeouts, resets, truncated
  JSON) are retried by Scrapy's RetryMiddleware after a per-request backoff of
  FINEWS_BACKOFF_BASE × 2^(retries so far), jittered, capped at FINEWS_BACKOFF_MAX.
- **block pages** — HTTP 403, HTML where the list or Choice API should answer
  JSON, or a page without the article container that shows a captcha marker
  (``滑块验证``, ``验证码``, … and FINEWS_BLOCK_MARKERS) — are never handed to a
  parser: they are retried after the pause, and when the retries are used up
  the request fails with :class:`Blocked` (its errback records a failure with
  the page snapshotted). The run then ends ``blocked`` (exit 4, see
  :mod:`crawler.outcome`).
- an answer that should be JSON and does not parse (a truncated body) is
  retried; after the last retry it goes to the parser, which records why.
- a response over DOWNLOAD_MAXSIZE is refused by Scrapy before its body is
  read; it is counted here and its errback records the failure (no retry).

Settings: FINEWS_BACKOFF_BASE, FINEWS_BACKOFF_MAX, FINEWS_BACKOFF_RECOVER,
FINEWS_BLOCK_MARKERS, RETRY_TIMES, RETRY_HTTP_CODES, DOWNLOAD_DELAY.
Stats: ``finews/blocked`` (block answers met), ``finews/blocked/<kind>``
(``captcha``, ``html_for_json``, ``http_403``), ``finews/blocked/gave_up``,
``finews/backoff/penalties``, ``finews/backoff/retry_after``,
``finews/backoff/paused_seconds``, ``finews/backoff/max_delay``,
``finews/backoff/recovered``, ``finews/backoff/retry_waits``,
``finews/invalid_json``, ``finews/refused/oversize``.

``RedirectGuardMiddleware`` follows redirects only inside ``*.eastmoney.com``
and, when FINEWS_UPSTREAM is set, its origin; an off-site redirect or a
redirect loop ends the request with :class:`RefusedRedirect` (a recorded
failure, the 3xx answer snapshotted). Scrapy's allowed_domains filter does not
apply here: finews's requests are ``dont_filter`` and redirects inherit it.
Settings: FINEWS_UPSTREAM, REDIRECT_MAX_TIMES. Stats: ``finews/redirect/offsite``,
``finews/redirect/loop``.
"""

from __future__ import annotations

import json
import random
import time
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.misc import load_object
from twisted.internet.defer import Deferred
from w3lib.url import safe_url_string

from crawler.config import FinewsConfig
from crawler.eastmoney import answers as em
from crawler.eastmoney import urls

CANONICAL_KEY = "finews_canonical_url"


def is_eastmoney(url: str) -> bool:
    return urls.is_eastmoney(urlsplit(url).hostname or "")


def canonical_url(response: Response) -> str:
    """The Eastmoney URL a response answers, whatever origin served it."""
    return response.meta.get(CANONICAL_KEY) or response.url


class UpstreamOverrideMiddleware:
    def __init__(self, crawler: Crawler, upstream: str) -> None:
        self.crawler = crawler
        self.upstream = upstream
        up = urlsplit(upstream) if upstream else None
        self._scheme, self._netloc = (up.scheme, up.netloc) if up else ("", "")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> UpstreamOverrideMiddleware:
        return cls(crawler, FinewsConfig.from_settings(crawler.settings).upstream)

    def process_request(self, request: Request, spider: Spider | None = None) -> Request | None:
        if not self.upstream:
            return None
        url = request.url
        parts = urlsplit(url)
        if is_eastmoney(url):
            canonical = url
        elif parts.netloc == self._netloc and request.meta.get(CANONICAL_KEY):
            # A redirect inside the mirror ("Location: /a/x.html"): keep the
            # canonical host of the request it came from.
            base = urlsplit(request.meta[CANONICAL_KEY])
            canonical = urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))
            request.meta[CANONICAL_KEY] = canonical
            return None
        else:
            return None
        new_url = urlunsplit((self._scheme, self._netloc, parts.path, parts.query, ""))
        meta = dict(request.meta)
        meta[CANONICAL_KEY] = canonical
        if self.crawler.stats:
            self.crawler.stats.inc_value("finews/upstream/rewritten")
        return request.replace(url=new_url, meta=meta)


# --- backoff, block pages ---------------------------------------------------

#: Text that marks a captcha or block page (matched in HTML pages without a content
#: container such as ``#ContentBody``, so an article *about* 验证码 is not a block page).
BLOCK_MARKERS: tuple[str, ...] = (
    "滑块验证",
    "拖动滑块",
    "安全验证",
    "人机验证",
    "验证码",
    "访问过于频繁",
    "请求过于频繁",
    "captcha",
    "geetest",
    "nc_1_wrapper",
    "slide-verify",
)
# Ids of the containers of Eastmoney's content: the article (#ContentBody), the
# share page's article (#newsContent), a column's list (#newsListContent).
_CONTAINERS = (b"ContentBody", b"newsContent", b"newsListContent")
# Both list API and Choice text API answer JSON (or JSONP).
_JSON_PATHS = (urls.LIST_API_PATH, urls.CHOICE_API_PATH)
_BOM_WS = b"\xef\xbb\xbf \t\r\n"
NOT_BEFORE_KEY = "finews_not_before"  # monotonic time before which a retry must not go
_FLAGGED_KEY = "finews_backoff_flagged"  # we set autothrottle_dont_adjust_delay
_AT_KEY = "autothrottle_dont_adjust_delay"


class Blocked(IgnoreRequest):
    """A block page (captcha, HTML for JSON, 403) met on every allowed try.

    ``response`` is the last block page, so the errback can snapshot it.
    """

    def __init__(self, message: str, response: Response | None = None) -> None:
        super().__init__(message)
        self.response = response


class RefusedRedirect(IgnoreRequest):
    """A redirect finews does not follow (off-site, or a loop); ``response`` is the 3xx."""

    def __init__(self, message: str, response: Response | None = None) -> None:
        super().__init__(message)
        self.response = response


def expects_json(url: str) -> bool:
    """True for the list API and the Choice text API (whatever origin serves them)."""
    return urlsplit(url).path in _JSON_PATHS


def _looks_like_json(text: str) -> bool:
    """True when ``text`` parses as JSON or as JSONP around JSON."""
    text = text.strip().lstrip("\ufeff")
    try:
        json.loads(text)
        return True
    except ValueError:
        m = em.JSONP_RE.match(text)
        if not m:
            return False
        try:
            json.loads(m.group(1))
        except ValueError:
            return False
        return True


def block_kind(
    url: str, status: int, body: bytes, text: str | None = None, markers: tuple[str, ...] = ()
) -> str:
    """Why this answer is a block page (``captcha``, ``html_for_json``, ``http_403``), or "".

    ``text`` is the decoded body when the caller has it (a ``TextResponse`` knows the
    charset; GBK pages included). ``markers`` adds to :data:`BLOCK_MARKERS`.
    """
    if status == 403:
        return "http_403"
    if status != 200:
        return ""
    head = body[:4096].lstrip(_BOM_WS)
    if expects_json(url):
        # The APIs answer JSON or JSONP, never markup: HTML is someone else talking.
        return "html_for_json" if head.startswith(b"<") else ""
    if not head.startswith(b"<"):
        return ""  # not a page (robots.txt may well list /captcha)
    if any(container in body for container in _CONTAINERS):
        return ""  # an article or a list (which may well be about captchas)
    if text is None:
        text = body[:262144].decode("utf-8", "replace")
    lowered = text[:262144].lower()
    if any(m.lower() in lowered for m in (*BLOCK_MARKERS, *markers)):
        return "captcha"
    return ""


def retry_after_seconds(value: bytes | str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP-date; None if absent/bad."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def domain_of(host: str) -> str:
    """The politeness domain of a host: every ``*.eastmoney.com`` host is one."""
    host = (host or "").lower()
    return urls.DOMAIN if urls.is_eastmoney(host) else host


@dataclass
class DomainBackoff:
    """The penalty state of one domain (pure logic; times are ``time.monotonic()``).

    ``floor``: the least delay between requests (0 = no penalty); ``resume_at``: no
    request before this time; ``good``: good answers since the last penalty;
    ``penalized_at``: when the floor last went up.
    """

    base: float
    cap: float
    recover_after: int
    floor: float = 0.0
    resume_at: float = 0.0
    good: int = 0
    penalized_at: float = float("-inf")
    saved_delays: dict[str, float] = field(default_factory=dict)

    def penalize(
        self, now: float, wait: float | None = None, sent_at: float | None = None
    ) -> float:
        """Double the floor (at least ``base``), pause for ``max(wait, floor)``; the pause.

        A push-back to a request sent before the last raise (``sent_at``) answers the
        old rate, which was already dealt with: it extends the pause but does not
        double the floor again (one raise per burst, like TCP's one decrease per
        window). Never lowers the floor or moves ``resume_at`` earlier: under a
        stream of 429s the delay only grows.
        """
        if sent_at is None or sent_at >= self.penalized_at:
            self.floor = min(self.cap, max(self.base, self.floor * 2))
            self.penalized_at = now
        self.good = 0
        pause = min(self.cap, max(wait or 0.0, self.floor))
        self.resume_at = max(self.resume_at, now + pause)
        return pause

    def success(self) -> bool:
        """Count a good answer; True when the floor came down (halved, or off below ``base``)."""
        if self.floor <= 0:
            return False
        self.good += 1
        if self.good < self.recover_after:
            return False
        self.good = 0
        self.floor /= 2
        if self.floor < self.base:
            self.floor = 0.0
        return True


def retry_backoff(base: float, cap: float, retries: int, rng: random.Random | None = None) -> float:
    """Wait before retry number ``retries + 1``: ``base × 2^retries``, capped, jittered 50–100 %."""
    wait = min(cap, base * (2 ** min(retries, 30)))
    return wait * (rng or random).uniform(0.5, 1.0)


async def _sleep(seconds: float) -> None:
    d: Deferred[None] = Deferred()
    call_later(seconds, d.callback, None)
    await maybe_deferred_to_future(d)


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
        return mw

    def response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        """Signal handler: put a 429/503 penalty on the slots before the next request goes."""
        if response.status in (429, 503):
            self._push_back(request, response)

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

    def _downloader(self) -> Any:
        engine = getattr(self.crawler, "engine", None)
        return getattr(engine, "downloader", None)

    def _slots(self, domain: str) -> dict[str, Any]:
        downloader = self._downloader()
        if downloader is None:
            return {}
        return {k: s for k, s in list(downloader.slots.items()) if domain_of(k) == domain}

    def _enforce(self, domain: str, state: DomainBackoff) -> None:
        """Put the domain's penalty on each of its downloader slots."""
        now = time.monotonic()
        for key, slot in self._slots(domain).items():
            state.saved_delays.setdefault(key, slot.delay)
            slot.delay = max(slot.delay, state.floor)
            if state.resume_at > now:
                # The downloader starts the next request at lastseen + delay:
                # a lastseen in the future pauses even requests already queued.
                slot.lastseen = max(slot.lastseen, state.resume_at)
            for queued in slot.active:
                # AutoThrottle must not lower the delay on their answers.
                if not queued.meta.get(_AT_KEY):
                    queued.meta[_AT_KEY] = True
                    queued.meta[_FLAGGED_KEY] = True

    def _relax(self, domain: str, state: DomainBackoff) -> None:
        """The floor came down: give the slots back their own delay (or the new floor)."""
        self._inc("backoff/recovered")
        for key, slot in self._slots(domain).items():
            slot.delay = max(state.saved_delays.get(key, slot.delay), state.floor)
        if state.floor <= 0:
            state.saved_delays.clear()

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
        self._inc("backoff/penalties")
        self._inc("backoff/paused_seconds", round(pause, 3))
        if self.crawler.stats:
            self.crawler.stats.max_value("finews/backoff/max_delay", state.floor)
        spider = self.crawler.spider
        if spider is not None:
            spider.logger.warning(
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
        domain = domain_of(urlsplit(request.url).hostname or "")
        state = self.domains.get(domain)
        if state is not None and state.floor > 0:
            downloader = self._downloader()
            if downloader is not None and hasattr(downloader, "_get_slot"):
                downloader._get_slot(request)  # a new slot of the domain gets the penalty too
            self._enforce(domain, state)
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
                return _sleep(wait)
        return None

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        domain = domain_of(urlsplit(request.url).hostname or "")
        status = response.status
        if status in (429, 503):
            self._push_back(request, response)  # once: the signal handler may have done it
            return response  # RetryMiddleware retries it; the domain pause applies
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
            and not _looks_like_json(
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


# --- redirects ---------------------------------------------------------------

_REDIRECT_CODES = {301, 302, 303, 307, 308}


class RedirectGuardMiddleware:
    """Follow redirects only to Eastmoney (or the FINEWS_UPSTREAM origin), never in a loop.

    At 610, its ``process_response`` runs before Scrapy's RedirectMiddleware (600)
    builds the redirected request; its ``process_request`` also refuses a redirected
    request for another site (a meta refresh, say) before anything is sent.
    """

    def __init__(self, crawler: Crawler, upstream: str) -> None:
        self.crawler = crawler
        up = urlsplit(upstream) if upstream else None
        self._origin = (up.scheme, up.netloc.lower()) if up else None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedirectGuardMiddleware:
        return cls(crawler, FinewsConfig.from_settings(crawler.settings).upstream)

    def allowed(self, url: str) -> bool:
        """Eastmoney over http(s), or the upstream origin when one is set."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return False
        if is_eastmoney(url):
            return True
        return self._origin is not None and (parts.scheme, parts.netloc.lower()) == self._origin

    def _as_sent(self, url: str) -> str:
        """``url`` as it goes over the wire (the upstream override applied), no fragment."""
        parts = urlsplit(url)
        if self._origin is not None and is_eastmoney(url):
            return urlunsplit((*self._origin, parts.path, parts.query, ""))
        return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path, parts.query, ""))

    def _refuse(self, key: str, message: str, request: Request, response: Response | None) -> None:
        if self.crawler.stats:
            self.crawler.stats.inc_value(f"finews/redirect/{key}")
        if response is not None:
            response.request = request
        raise RefusedRedirect(message, response)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        if request.meta.get("redirect_urls") and not self.allowed(request.url):
            self._refuse("offsite", f"off-site redirect to {request.url[:300]}", request, None)

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        location = response.headers.get("Location")
        if (
            response.status not in _REDIRECT_CODES
            or location is None
            or request.meta.get("dont_redirect", False)
        ):
            return response
        loc = safe_url_string(location.decode("latin-1").strip())
        if loc.startswith("//"):
            loc = urlsplit(request.url).scheme + ":" + loc
        target = urljoin(request.url, loc)
        if not self.allowed(target):
            self._refuse("offsite", f"off-site redirect to {target[:300]}", request, response)
        chain = [*request.meta.get("redirect_urls", []), request.url]
        if self._as_sent(target) in {self._as_sent(u) for u in chain}:
            self._refuse(
                "loop",
                f"redirect loop: {' -> '.join(u[:200] for u in chain)} -> {target[:200]}",
                request,
                response,
            )
        return response
