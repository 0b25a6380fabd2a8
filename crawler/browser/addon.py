"""Scrapy wiring of the browser route: the add-on, its settings, the download handler.

:class:`RenderAddon` (``ADDONS``) applies :func:`playwright_settings` when
:func:`~crawler.browser.probe.resolve_browser` finds a Chromium that starts;
:class:`SharedPlaywrightDownloadHandler` is one handler for http and https:
only requests whose meta has ``"playwright": True`` use the browser (one
scrapy-playwright handler, started by the first of them); every other request
goes through Scrapy's HTTP/1.1 handler.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import weakref
from typing import Any

from scrapy import Request, signals
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.settings import SETTINGS_PRIORITIES
from scrapy.signalmanager import SignalManager
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from crawler.browser.chromium import launch_args
from crawler.browser.contexts import RenderContextMiddleware
from crawler.browser.probe import PROBE_CACHE_NAME, resolve_browser
from crawler.config import FinewsConfig

logger = logging.getLogger(__name__)

HANDLER = "crawler.browser.addon.SharedPlaywrightDownloadHandler"
ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
RECYCLE_MIDDLEWARE = "crawler.browser.contexts.RenderContextMiddleware"
#: Next to the download handler, after every middleware that may return a *new*
#: request (UpstreamOverrideMiddleware does): only the request that reaches the
#: handler may be counted.
RECYCLE_MIDDLEWARE_ORDER = 960


def playwright_settings(
    executable: str,
    max_contexts: int = 2,
    max_pages: int = 4,
    nav_timeout_ms: int = 30_000,
    *,
    headless: bool = True,
    downloader_middlewares: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Scrapy settings that enable scrapy-playwright 0.0.48 with ``executable``.

    Merge them into the crawler's settings (``settings.update(..., priority=...)``
    or ``custom_settings``). ``max_contexts`` caps the live browser contexts
    (>= 1; while one is being recycled two are open, so 2 keeps the pipeline
    full), ``max_pages`` the pages open per context, ``nav_timeout_ms`` each
    navigation. Moving finews render requests to a new context every N pages
    is :class:`RenderContextMiddleware`'s, which takes N from
    ``FINEWS_RENDER_RECYCLE_PAGES`` (:class:`~crawler.config.FinewsConfig`):
    a caller that wants another N sets that setting itself. The middleware is
    included in ``DOWNLOADER_MIDDLEWARES`` only when the project's
    ``downloader_middlewares`` dict is passed (a dict setting is replaced, not
    merged). The browser itself is launched lazily, on the first render.
    """
    settings: dict[str, Any] = {
        "DOWNLOAD_HANDLERS": {"http": HANDLER, "https": HANDLER},
        # Scrapy 2.19's default already; scrapy-playwright refuses any other.
        "TWISTED_REACTOR": ASYNCIO_REACTOR,
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {
            "executable_path": executable,
            "headless": headless,
            "args": launch_args(),
            # Scrapy owns Ctrl-C (graceful stop): the browser must outlive the
            # first SIGINT so in-flight renders finish. The browser still dies
            # with Playwright's driver when the crawler process goes.
            "handle_sigint": False,
            "handle_sigterm": False,
            "timeout": max(nav_timeout_ms, 30_000),
        },
        "PLAYWRIGHT_MAX_CONTEXTS": max(1, int(max_contexts)),
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": max(1, int(max_pages)),
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": int(nav_timeout_ms),
        "PLAYWRIGHT_ABORT_REQUEST": "crawler.browser.capture.abort_request",
        # 0.0.48's default, spelled out: a crashed/closed browser is launched
        # again by the next request that needs a context.
        "PLAYWRIGHT_RESTART_DISCONNECTED_BROWSER": True,
    }
    if downloader_middlewares is not None:
        settings["DOWNLOADER_MIDDLEWARES"] = {
            **downloader_middlewares,
            RECYCLE_MIDDLEWARE: RECYCLE_MIDDLEWARE_ORDER,
        }
    return settings


class SharedPlaywrightDownloadHandler:
    """The http *and* https download handler (one instance for both): plain
    requests go through Scrapy's HTTP/1.1 handler, ``meta["playwright"]`` ones
    through one scrapy-playwright handler made for the first page to render.

    Why not scrapy-playwright's handler itself: Scrapy builds one handler per
    scheme, so ``DOWNLOAD_HANDLERS = {"http": H, "https": H}`` would start two
    Playwright drivers (~125 MiB RSS each, idle) and, once pages of both
    schemes are rendered (Eastmoney's column pages are https, the Choice share
    page http), two browsers with their own contexts. And it starts its
    driver (a Node process) on ``engine_started``, which the engine awaits
    before the first request: ~0.2 s of every run, though most cron runs
    render nothing (the browser is a fallback). Here :meth:`from_crawler`
    hands one instance to both schemes, and the browser handler exists only
    once a page is to be rendered (:func:`start_playwright_handler`).
    Everything used is public Scrapy / scrapy-playwright API.
    """

    #: Built with the downloader (like Scrapy's HTTP handler), once for both schemes.
    lazy = False

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.http = HTTP11DownloadHandler.from_crawler(crawler)
        self.browser: ScrapyPlaywrightDownloadHandler | None = None
        self.users = 0
        self._browser_lock = asyncio.Lock()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedPlaywrightDownloadHandler:
        shared = _SHARED.get(crawler)
        if shared is None:
            shared = _SHARED[crawler] = cls(crawler)
        shared.users += 1
        return shared

    async def download_request(self, request: Request) -> Response:
        if request.meta.get("playwright"):
            browser = await self._started_browser()
            return await browser.download_request(request)
        return await self.http.download_request(request)

    async def _started_browser(self) -> ScrapyPlaywrightDownloadHandler:
        """The browser handler, started by the first page to render (a failed
        start is tried again by the next page)."""
        async with self._browser_lock:
            if self.browser is None:
                self.browser = await start_playwright_handler(self.crawler)
            return self.browser

    async def close(self) -> None:
        """Called once per scheme: closes everything after the last."""
        self.users -= 1
        if self.users > 0:
            return
        await self.http.close()
        if self.browser is not None:
            await self.browser.close()


#: One handler per crawler (Scrapy asks once per scheme); gone with the crawler.
_SHARED: weakref.WeakKeyDictionary[Crawler, SharedPlaywrightDownloadHandler] = (
    weakref.WeakKeyDictionary()
)


async def start_playwright_handler(crawler: Crawler) -> ScrapyPlaywrightDownloadHandler:
    """A scrapy-playwright handler for ``crawler``, started now.

    scrapy-playwright 0.0.48 starts Playwright (and its ``PLAYWRIGHT_CONTEXTS``)
    only when its handler receives ``engine_started``, which the crawler sent
    long ago. So the handler is given the crawler with a signal manager of its
    own (a shallow copy: same settings, stats, spider and engine), and only it
    is sent ``engine_started``: the handler's own start runs, nothing else hears
    it. A start that fails raises here (as the download's error) and the
    half-started handler is dropped unclosed (closing a Playwright that did
    not start may fail again); the next page to render makes a new one.
    """
    own = copy.copy(crawler)
    own.signals = SignalManager(own)
    handler = ScrapyPlaywrightDownloadHandler.from_crawler(own)
    # dont_log: the failure is the download's error, logged once by Scrapy.
    results = await own.signals.send_catch_log_async(signals.engine_started, dont_log=Exception)
    for _receiver, outcome in results:
        if isinstance(outcome, BaseException):
            raise outcome
    return handler


class RenderAddon:
    """Scrapy add-on (``ADDONS = {"crawler.browser.addon.RenderAddon": 0}``): the
    browser route per ``FINEWS_RENDER``.

    ``never``: nothing changes. ``auto``: when a Chromium starts
    (:func:`~crawler.browser.probe.resolve_browser`), :func:`playwright_settings`
    are applied at ``addon`` priority (so ``PLAYWRIGHT_*`` in the project or on
    the command line win), the HTTP(S) download handlers are replaced and
    :class:`~crawler.browser.contexts.RenderContextMiddleware` is added; else a
    warning and plain HTTP only. ``always``: like ``auto`` but no browser is an
    error (:class:`~crawler.browser.probe.BrowserUnavailable`).

    ``FINEWS_OFFLINE`` (an offline command): nothing, no launch check.

    Takes ``FINEWS_RENDER``, ``FINEWS_CHROMIUM``, ``FINEWS_ARCHIVE_DIR`` (where
    the launch check is cached) and ``FINEWS_RENDER_RECYCLE_PAGES`` from
    :class:`~crawler.config.FinewsConfig`; ``CONCURRENT_REQUESTS`` (pages per
    context) from Scrapy. The outcome is Scrapy's own settings: the checked
    Chromium is ``PLAYWRIGHT_LAUNCH_OPTIONS["executable_path"]``, from which
    ``FinewsConfig.render_on`` (what spiders check) follows; nothing else is
    written back. ``executable`` and ``status`` (browser version or why not)
    are kept on the add-on, for logs and tests.
    """

    def __init__(self) -> None:
        self.executable: str | None = None
        self.status = ""

    def update_settings(self, settings: Any) -> None:
        cfg = FinewsConfig.from_settings(settings)
        if cfg.offline:
            # rebuild, import, check: nothing is fetched, no Chromium to launch.
            self.status = "offline command: no browser"
            return
        # The launch check is remembered in the archive (a dotfile Jekyll skips).
        cache = cfg.archive_dir / PROBE_CACHE_NAME
        exe, status = resolve_browser(cfg.render, cfg.chromium, cache)
        self.executable, self.status = exe, status
        if exe is None:
            if cfg.render == "auto":
                logger.warning("browser route off: %s", status)
            return
        logger.info("browser route on: %s (%s)", exe, status)
        values = playwright_settings(exe, max_pages=settings.getint("CONCURRENT_REQUESTS", 4))
        handlers = settings.getdict("DOWNLOAD_HANDLERS")
        handlers.update(values.pop("DOWNLOAD_HANDLERS"))
        # A plain dict setting: merged by hand, kept at its own priority if higher.
        priority = max(settings.getpriority("DOWNLOAD_HANDLERS") or 0, SETTINGS_PRIORITIES["addon"])
        settings.set("DOWNLOAD_HANDLERS", handlers, priority)
        for key, value in values.items():
            settings.set(key, value, priority="addon")
        settings.set_in_component_priority_dict(
            "DOWNLOADER_MIDDLEWARES", RenderContextMiddleware, RECYCLE_MIDDLEWARE_ORDER
        )
