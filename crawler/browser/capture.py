"""What a rendered page may load, and what is kept of what it loaded.

:func:`abort_request` (``PLAYWRIGHT_ABORT_REQUEST``) drops what the text never
needs. :class:`LivePage` listens to an open page's responses and keeps, byte for
byte, the ones finews archives (:func:`wanted`: the list / Choice API answers,
whatever their host, and the main document) as :class:`Captured` in the page's
:class:`RenderResult`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from crawler.clock import utc_now
from crawler.eastmoney.urls import CHOICE_API_PREFIX, LIST_API_PATH

#: Request types the browser never needs for the text (``Request.resource_type``).
BLOCKED_RESOURCE_TYPES = frozenset(
    {"image", "media", "font", "stylesheet", "texttrack", "manifest"}
)

#: A body larger than this is not kept (an error is noted instead).
MAX_CAPTURE_BYTES = 8 * 1024 * 1024


def abort_request(request: Any) -> bool:
    """``PLAYWRIGHT_ABORT_REQUEST``: drop images, media, fonts, stylesheets and iframes.

    ``request`` is a ``playwright.async_api.Request``. Sub-frame documents are
    ads and widgets, never the article; aborting them also keeps the browser
    off third-party hosts.
    """
    kind = request.resource_type
    if kind in BLOCKED_RESOURCE_TYPES:
        return True
    if kind == "document":
        try:
            return request.frame.parent_frame is not None
        except Exception:  # noqa: BLE001 - service-worker requests have no frame
            return False
    return False


@dataclass
class Captured:
    """One response the rendered page loaded, as the browser received it."""

    url: str  # where it came from (the mirror origin under FINEWS_UPSTREAM)
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    resource_type: str  # "document", "fetch", "xhr", "script", ...
    fetched_at: str
    method: str = "GET"


@dataclass
class RenderResult:
    """What a render captured; ``request.meta[render.RESULT_KEY]`` once the page opened.

    ``state``: how the wait ended (``"state:loaded"``, ``"filled"``, ``"api"``,
    ``"dom"``, ``"timeout"``, ``"deadline"``; ``""`` before it ran).
    """

    kind: str
    state: str = ""
    wait_ms: int = 0
    captured: list[Captured] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class LivePage:
    """Per-page bookkeeping while a page is open (never stored in meta).

    ``on_response`` is the page's ``response`` listener; ``drain`` waits for the
    bodies still being read; ``watchdog`` is the page's deadline timer (set by
    :func:`crawler.browser.render.page_init`).
    """

    def __init__(self, result: RenderResult) -> None:
        self.result = result
        self.pending: set[asyncio.Future] = set()
        self.watchdog: asyncio.TimerHandle | None = None

    def on_response(self, response: Any) -> None:
        if not wanted(response):
            return
        task = asyncio.ensure_future(self._read(response))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _read(self, response: Any) -> None:
        request = response.request
        try:
            # body() is decoded: drop the transfer codings, as Scrapy's
            # HttpCompressionMiddleware does for the fast route's responses.
            headers = [
                (h["name"], h["value"])
                for h in await response.headers_array()
                if h["name"].lower() not in ("content-encoding", "transfer-encoding")
            ]
        except Exception as exc:  # noqa: BLE001
            headers = []
            self.result.errors.append(f"headers of {response.url}: {exc}")
        body = b""
        if not 300 <= response.status < 400:
            try:
                body = await response.body()
            except Exception as exc:  # noqa: BLE001 - page closed, body evicted, ...
                self.result.errors.append(f"body of {response.url}: {str(exc)[:200]}")
        if len(body) > MAX_CAPTURE_BYTES:
            self.result.errors.append(f"body of {response.url}: {len(body)} bytes, not kept")
            body = b""
        self.result.captured.append(
            Captured(
                url=response.url,
                status=response.status,
                headers=headers,
                body=body,
                resource_type=request.resource_type,
                fetched_at=utc_now(),
                method=request.method,
            )
        )

    async def drain(self, timeout_s: float) -> None:
        if self.pending:
            _, late = await asyncio.wait(set(self.pending), timeout=timeout_s)
            for task in late:
                task.cancel()
                self.result.errors.append("a captured body did not arrive in time")


def wanted(response: Any) -> bool:
    """Keep the API answers (by path, whatever the host) and the main document."""
    path = urlsplit(response.url).path
    if path == LIST_API_PATH or path.startswith(CHOICE_API_PREFIX):
        return True
    request = response.request
    if request.resource_type != "document" or not request.is_navigation_request():
        return False
    try:
        return response.frame.parent_frame is None
    except Exception:  # noqa: BLE001
        return False
