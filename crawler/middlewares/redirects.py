"""Redirects finews follows: inside Eastmoney (or the mirror), never in a loop.

``RedirectGuardMiddleware`` follows redirects only inside ``*.eastmoney.com``
and, when FINEWS_UPSTREAM is set, its origin; an off-site redirect or a
redirect loop ends the request with :class:`RefusedRedirect` (a recorded
failure, the 3xx answer snapshotted). Scrapy's allowed_domains filter does not
apply here: finews's requests are ``dont_filter`` and redirects inherit it.

Settings: FINEWS_UPSTREAM, REDIRECT_MAX_TIMES. Stats: ``finews/redirect/offsite``,
``finews/redirect/loop``.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from w3lib.url import safe_url_string

from crawler.config import FinewsConfig
from crawler.middlewares.upstream import is_eastmoney

_REDIRECT_CODES = {301, 302, 303, 307, 308}


class RefusedRedirect(IgnoreRequest):
    """A redirect finews does not follow (off-site, or a loop); ``response`` is the 3xx."""

    def __init__(self, message: str, response: Response | None = None) -> None:
        super().__init__(message)
        self.response = response


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
