"""Send Eastmoney's requests to another origin (a mirror, the test replica).

``UpstreamOverrideMiddleware`` sends every request for an ``eastmoney.com``
host (and for the picture hosts, ``*.dfcfw.com``: ``urls.is_mirrored``) to ``FINEWS_UPSTREAM`` (same path and query) when that setting is set,
and remembers the canonical URL in ``request.meta["finews_canonical_url"]``
(:data:`CANONICAL_KEY`) so snapshots, posts and the database keep Eastmoney's
URLs; :func:`canonical_url` reads it back from a response.

Settings: FINEWS_UPSTREAM. Stats: ``finews/upstream/rewritten``.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response

from crawler.config import FinewsConfig
from crawler.eastmoney import urls

#: Request meta key: the Eastmoney URL a request stands for, whatever origin serves it.
CANONICAL_KEY = "finews_canonical_url"


def is_eastmoney(url: str) -> bool:
    """True when ``url``'s host is ``eastmoney.com`` or one of its subdomains."""
    return urls.is_eastmoney(urlsplit(url).hostname or "")


def canonical_url(response: Response) -> str:
    """The Eastmoney URL a response answers, whatever origin served it."""
    return response.meta.get(CANONICAL_KEY) or response.url


class UpstreamOverrideMiddleware:
    """Rewrite Eastmoney URLs to FINEWS_UPSTREAM's origin (see the module doc).

    At 50, first of all: a rewritten request is scheduled anew, so it must be
    rewritten before anything counts or checks it (stats, robots.txt).
    """

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
        if urls.is_mirrored(parts.hostname or ""):
            # Eastmoney's hosts and its picture hosts (*.dfcfw.com).
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
