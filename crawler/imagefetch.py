"""Downloading one picture through Scrapy's downloader, for the images stage.

The request goes through the same downloader middlewares and per-domain slots
as the pages (FINEWS_UPSTREAM, robots.txt, DOWNLOAD_DELAY, backoff), as Scrapy's
own FilesPipeline does it (``engine.download_async``), but without retries and
with its own timeout and size cap, so an article waits a bounded time for its
pictures and a failed one becomes a recorded failure, never a lost article.

Settings (through crawler.config): FINEWS_IMAGE_TIMEOUT, FINEWS_IMAGE_MAX_BYTES.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import Request

from crawler.clock import utc_now
from crawler.items import Fetched
from crawler.middlewares.upstream import canonical_url
from crawler.stopping import StopCancelled
from crawler.transform.images import check_image

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


async def fetch_image(
    crawler: Crawler, url: str, timeout: float, max_bytes: int
) -> tuple[Fetched | None, str, str]:
    """``(response, ext, "")`` for a picture to keep, ``(response or None, "",
    reason)`` otherwise. Never raises for a download problem."""
    request = Request(
        url,
        dont_filter=True,
        meta={
            "dont_retry": True,
            "download_timeout": timeout,
            # Scrapy cancels a download past this size (Content-Length or
            # received bytes): an oversized picture never fills memory.
            "download_maxsize": max_bytes,
            "download_warnsize": 0,
        },
        headers={"Accept": "image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8"},
    )
    try:
        if crawler.engine is None:
            return None, "", "image not fetched: no engine"
        response = await crawler.engine.download_async(request)
    except StopCancelled:
        raise  # the run is stopping: not the picture's failure (pipelines/images.py)
    except Exception as exc:  # timeouts, refused, cancelled (too large), ignored
        detail = str(exc) or type(exc).__name__
        return None, "", f"image download failed: {type(exc).__name__}: {detail}"[:300]
    resp = Fetched(
        url=canonical_url(response),
        status=response.status,
        headers=[
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, values in response.headers.items()
            for v in values
        ],
        body=response.body,
        fetched_at=utc_now(),
    )
    ext, reason = check_image(resp.status, resp.headers, resp.body, max_bytes)
    return resp, ext, reason
