"""Context recycling: a fresh browser context every N rendered pages (bounds memory).

:class:`RenderContextMiddleware` assigns finews render requests to context
generations and closes a generation's context once it is retired and idle.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from crawler.browser.render import CONTEXT_OBJ_KEY, GEN_KEY, KIND_KEY
from crawler.config import FinewsConfig


@dataclass
class _Generation:
    """One context generation: its requests in flight and the contexts they used."""

    inflight: int = 0
    contexts: list[Any] = field(default_factory=list)


class RenderContextMiddleware:
    """Downloader middleware: a fresh browser context every N render pages.

    For finews render requests (meta ``finews_render``) it sets
    ``playwright_context`` to ``render-<g>`` when the request reaches the
    downloader, ``g = started // N``, so generations follow the real download
    order (Scrapy's memory queue is LIFO). When a generation is retired (the
    counter moved past it) and its last request came back (response or
    exception), its context is closed (``BrowserContext.close()``; scrapy-
    playwright's close callback then forgets it and frees its slot). A new
    generation waits while ``PLAYWRIGHT_MAX_CONTEXTS`` generations are open,
    so the cap is never hit inside scrapy-playwright, where a context waiting
    for a slot holds the lock every new page needs.

    Must run after any middleware that can return a new request (order 960:
    after UpstreamOverrideMiddleware and Scrapy's own, next to the handler). Settings:
    ``FINEWS_RENDER_RECYCLE_PAGES`` (0 = off; as ``FinewsConfig.render_recycle_pages``),
    ``PLAYWRIGHT_MAX_CONTEXTS``.
    Stats: ``finews/render/contexts_opened``, ``finews/render/contexts_closed``.
    """

    prefix = "render"

    def __init__(self, crawler: Any, pages: int, max_live: int) -> None:
        self.crawler = crawler
        self.pages = pages
        self.max_live = max_live
        self.started = 0
        self.live: dict[int, _Generation] = {}
        self._changed = asyncio.Event()

    @classmethod
    def from_crawler(cls, crawler: Any) -> RenderContextMiddleware:
        return cls(
            crawler,
            pages=FinewsConfig.from_settings(crawler.settings).render_recycle_pages,
            max_live=crawler.settings.getint("PLAYWRIGHT_MAX_CONTEXTS", 0),
        )

    def _applies(self, request: Any) -> bool:
        return bool(
            self.pages > 0 and request.meta.get("playwright") and request.meta.get(KIND_KEY)
        )

    def _inc(self, key: str) -> None:
        if self.crawler.stats:
            self.crawler.stats.inc_value(f"finews/render/{key}")

    async def process_request(self, request: Any, spider: Any = None) -> None:
        if not self._applies(request):
            return None
        while True:
            gen = self.started // self.pages
            if gen in self.live or not self.max_live or len(self.live) < self.max_live:
                break
            self._changed.clear()
            await self._changed.wait()
        self.started += 1
        if gen not in self.live:
            self.live[gen] = _Generation()
            self._inc("contexts_opened")
        self.live[gen].inflight += 1
        request.meta["playwright_context"] = f"{self.prefix}-{gen}"
        request.meta[GEN_KEY] = gen
        return None

    async def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        await self._done(request)
        return response

    async def process_exception(self, request: Any, exception: Any, spider: Any = None) -> None:
        await self._done(request)
        return None

    async def _done(self, request: Any) -> None:
        gen = request.meta.pop(GEN_KEY, None)
        context = request.meta.pop(CONTEXT_OBJ_KEY, None)
        generation = self.live.get(gen) if gen is not None else None
        if generation is None:
            return
        if context is not None and all(context is not c for c in generation.contexts):
            generation.contexts.append(context)
        generation.inflight -= 1
        if generation.inflight <= 0 and gen < self.started // self.pages:
            del self.live[gen]
            for ctx in generation.contexts:
                with suppress(Exception):
                    await ctx.close()
            self._inc("contexts_closed")
            self._changed.set()
