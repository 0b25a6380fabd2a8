"""Scrapy wiring of the browser route: the add-on, its settings, the download handler.

:class:`RenderAddon` (``ADDONS``) applies :func:`playwright_settings` when
:func:`~crawler.browser.probe.resolve_browser` finds a Chromium that starts;
:class:`SharedPlaywrightDownloadHandler` is scrapy-playwright's handler, one
lazy instance for http and https. Only requests whose meta has
``"playwright": True`` use the browser; every other request still goes
through Scrapy's HTTP handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from scrapy.settings import SETTINGS_PRIORITIES
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
#: The setting :func:`playwright_settings` passes ``recycle_pages`` in (read by
#: :class:`~crawler.config.FinewsConfig` as ``render_recycle_pages``).
RECYCLE_SETTING = "FINEWS_RENDER_RECYCLE_PAGES"


def playwright_settings(
    executable: str,
    max_contexts: int = 2,
    max_pages: int = 4,
    nav_timeout_ms: int = 30_000,
    *,
    recycle_pages: int = 100,
    headless: bool = True,
    downloader_middlewares: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Scrapy settings that enable scrapy-playwright 0.0.48 with ``executable``.

    Merge them into the crawler's settings (``settings.update(..., priority=...)``
    or ``custom_settings``). ``max_contexts`` caps the live browser contexts
    (>= 1; while one is being recycled two are open, so 2 keeps the pipeline
    full), ``max_pages`` the pages open per context, ``nav_timeout_ms`` each
    navigation. ``recycle_pages`` (0 = never) moves finews render requests to
    a new context every N pages; it needs :class:`RenderContextMiddleware`,
    which is included in ``DOWNLOADER_MIDDLEWARES`` only when the project's
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
        RECYCLE_SETTING: max(0, int(recycle_pages)),
    }
    if downloader_middlewares is not None:
        settings["DOWNLOADER_MIDDLEWARES"] = {
            **downloader_middlewares,
            RECYCLE_MIDDLEWARE: RECYCLE_MIDDLEWARE_ORDER,
        }
    return settings


class SharedPlaywrightDownloadHandler(ScrapyPlaywrightDownloadHandler):
    """scrapy-playwright's download handler, one instance for http *and* https.

    Scrapy builds one handler per scheme (``DownloadHandlers._load_handler``)
    and scrapy-playwright's handler is not lazy, so ``DOWNLOAD_HANDLERS =
    {"http": H, "https": H}`` starts two Playwright drivers at once (~125 MiB
    RSS each, idle) and, once pages of both schemes are rendered (Eastmoney's
    column pages are https, the Choice share page http), two browsers with
    their own contexts. This subclass hands the same instance to both schemes
    and closes it once, after the last scheme closes it.

    It is also lazy: scrapy-playwright starts its Playwright driver (a Node
    process) when the engine starts, and the engine waits for it before the
    first request (~0.2 s of every run, and ~0.25 s of CPU). Here the driver
    starts with the first page to render; a run that renders nothing (most
    cron runs: the browser is a fallback) never starts it.
    """

    _SHARED_ATTR = "_finews_playwright_handler"

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        # finews's own state, prefixed: the base class has many attributes of its own.
        self._finews_users = 0
        self._finews_launch_lock = asyncio.Lock()
        self._finews_launched = False

    async def _maybe_launch_in_thread(self) -> None:
        """``engine_started``: nothing to start yet (see :meth:`_download_request`)."""

    def _engine_started(self) -> Any:  # the same, for Scrapy without the async signal API
        from twisted.internet.defer import succeed

        return succeed(None)

    async def _download_request(self, request: Any, spider: Any = None) -> Any:
        await self._launched()
        return await super()._download_request(request, spider)

    async def _launched(self) -> None:
        """Start Playwright once, for the first page to render (a failed start
        is tried again by the next page)."""
        async with self._finews_launch_lock:
            if self._finews_launched:
                return
            try:
                await self._launch()
            except BaseException:
                with contextlib.suppress(AttributeError):
                    del self.browser_provider  # so close() does not stop a half-started one
                raise
            self._finews_launched = True

    @classmethod
    def from_crawler(cls, crawler: Any) -> SharedPlaywrightDownloadHandler:
        shared = getattr(crawler, cls._SHARED_ATTR, None)
        if shared is None:
            shared = cls(crawler)
            setattr(crawler, cls._SHARED_ATTR, shared)
        shared._finews_users += 1
        return shared

    async def close(self) -> None:
        self._finews_users -= 1
        if self._finews_users <= 0:
            await super().close()


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
        # The launch check is remembered in the archive (a dotfile Jekyll skips).
        cache = cfg.archive_dir / PROBE_CACHE_NAME
        exe, status = resolve_browser(cfg.render, cfg.chromium, cache)
        self.executable, self.status = exe, status
        if exe is None:
            if cfg.render == "auto":
                logger.warning("browser route off: %s", status)
            return
        logger.info("browser route on: %s (%s)", exe, status)
        values = playwright_settings(
            exe,
            max_pages=settings.getint("CONCURRENT_REQUESTS", 4),
            recycle_pages=cfg.render_recycle_pages,
        )
        # The project's own setting already (the middleware takes it from FinewsConfig).
        values.pop(RECYCLE_SETTING)
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
