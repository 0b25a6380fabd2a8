"""A render as snapshots: the captured responses and the rendered DOM as
:class:`~crawler.items.Fetched`, with canonical Eastmoney URLs.

:func:`render_snapshots` is what the spiders archive of a render;
:func:`canonical_sub_url` maps what the page loaded from the mirror origin
(``FINEWS_UPSTREAM``) back to the Eastmoney host that serves it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from crawler.browser.capture import RenderResult
from crawler.browser.render import KIND_KEY, RESULT_KEY
from crawler.clock import utc_now
from crawler.eastmoney.urls import API_ORIGINS
from crawler.items import Fetched
from crawler.middlewares.upstream import CANONICAL_KEY


def canonical_sub_url(url: str, page_url: str, page_canonical: str) -> str:
    """The Eastmoney URL of something a rendered page loaded.

    ``page_url`` is where the browser really was (the replica/mirror origin, or
    Eastmoney itself) and ``page_canonical`` the page's Eastmoney URL. A URL on
    the mirror origin is mapped to the Eastmoney host that serves its path
    (:data:`API_ORIGINS`), else to the page's own host; anything else is
    returned unchanged.
    """
    sub, page = urlsplit(url), urlsplit(page_url)
    canon = urlsplit(page_canonical or page_url)
    if sub.netloc != page.netloc or (page.scheme, page.netloc) == (canon.scheme, canon.netloc):
        return url
    origin = f"{canon.scheme}://{canon.netloc}"
    for prefix, api_origin in API_ORIGINS.items():
        if sub.path.startswith(prefix):
            origin = api_origin
            break
    scheme, netloc = origin.split("://", 1)
    return urlunsplit((scheme, netloc, sub.path, sub.query, ""))


def render_result(response: Any) -> RenderResult | None:
    """The :class:`RenderResult` of a rendered response (None for other responses)."""
    result = response.meta.get(RESULT_KEY)
    return result if isinstance(result, RenderResult) else None


def render_snapshots(response: Any) -> list[Fetched]:
    """Everything a render produced, as snapshots with canonical URLs.

    In order: the raw responses the page loaded that finews keeps (the
    document as served, then the API answers), then the rendered DOM. The DOM
    is not an HTTP response: its Fetched carries ``X-Finews-Rendered:
    <kind>; state=<state>`` and a fixed ``Content-Type`` (write it as a WARC
    ``resource``/``conversion`` record, not as a ``response``).
    """
    page_url = response.url
    canonical = response.meta.get(CANONICAL_KEY) or page_url
    result = render_result(response)
    out: list[Fetched] = []
    if result is not None:
        for c in result.captured:
            out.append(
                Fetched(
                    url=canonical_sub_url(c.url, page_url, canonical),
                    status=c.status,
                    headers=list(c.headers),
                    body=c.body,
                    fetched_at=c.fetched_at,
                    method=c.method,
                )
            )
    kind = result.kind if result else response.meta.get(KIND_KEY, "")
    state = result.state if result else ""
    out.append(
        Fetched(
            url=canonical,
            status=response.status,
            headers=[
                ("Content-Type", "text/html; charset=utf-8"),
                ("X-Finews-Rendered", f"{kind}; state={state}"),
            ],
            body=response.text.encode("utf-8"),
            fetched_at=utc_now(),
        )
    )
    return out
