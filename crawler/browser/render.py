"""One render: the request meta, the page's readiness script, the wait, the watchdog.

:func:`render_request_meta` is the meta of one render request: the page is
opened (:func:`page_init`), the wait below runs (:func:`settle`), and the
responses the page loaded from the list / Choice APIs (plus the raw document)
are captured byte for byte (:mod:`crawler.browser.capture`).
The Choice share page of an article is :func:`crawler.eastmoney.urls.share_page_url`.

How a render waits (:data:`READY_JS`, polled every 50 ms by :func:`settle`):
the replica marks its shells with ``data-state`` (``loaded``/``empty``/
``error``) when done; the real site does not. So a page is ready when
``data-state`` left ``loading``; or the API answer finished loading and the
box (``ul#newsListContent`` / ``#newsContent``) is filled; or the API answer
finished ``grace_ms`` ago and the box stayed empty (an empty list, or a DOM
this code does not know: the JSON is what counts); or the box was filled
without any API call (server-rendered) for ``3 * grace_ms`` after
DOMContentLoaded. Otherwise the wait ends after ``timeout_ms`` without an
error (``RenderResult.state == "timeout"``): the DOM and whatever was
captured are still returned. API answers are seen through the Resource
Timing entries (their URL path), which also covers JSONP ``<script>`` calls.

Time limits: ``PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT`` bounds ``page.goto``
and scrapy-playwright's ``wait_for_load_state`` after each page method;
``timeout_ms`` bounds the wait (also on the Python side: Playwright's own
timeout of ``wait_for_function`` never fires while a page's script spins);
nothing in scrapy-playwright bounds
``page.content()`` (a page whose script spins forever would hang it, and
Scrapy's ``DOWNLOAD_TIMEOUT`` only applies to its HTTP handler), so a
watchdog closes the page ``deadline_ms`` after it was opened; the request
then fails (``TargetClosedError``) and its errback runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from contextlib import suppress
from typing import Any

from scrapy_playwright.page import PageMethod

from crawler.browser.capture import LivePage, RenderResult
from crawler.eastmoney.urls import CHOICE_API_PATH, LIST_API_PATH
from crawler.middlewares.upstream import CANONICAL_KEY

logger = logging.getLogger(__name__)

#: The API answers each kind of page waits for (matched in the URL).
KIND_APIS: dict[str, tuple[str, ...]] = {"list": (LIST_API_PATH,), "share": (CHOICE_API_PATH,)}

# request.meta keys
KIND_KEY = "finews_render"  # "list" | "share": marks a browser request of finews
RESULT_KEY = "finews_render_result"  # RenderResult, set when the page is opened
DEADLINE_KEY = "finews_render_deadline_ms"
GEN_KEY = "finews_render_generation"  # set/popped by RenderContextMiddleware
CONTEXT_OBJ_KEY = "finews_render_context"  # the page's BrowserContext, popped likewise
KILLED_KEY = "finews_render_killed"

_COMMON_JS = """
  const now = performance.now();
  let apiEnd = -1;
  for (const e of performance.getEntriesByType('resource')) {
    if (e.responseEnd > 0 && a.apis.some((p) => e.name.indexOf(p) !== -1)) {
      apiEnd = Math.max(apiEnd, e.responseEnd);
    }
  }
  if (apiEnd >= 0 && filled) return 'filled';
  if (apiEnd >= 0 && now - apiEnd > a.grace) return 'api';
  const nav = performance.getEntriesByType('navigation')[0];
  const dcl = nav ? nav.domContentLoadedEventEnd : 0;
  if (filled && apiEnd < 0 && dcl > 0 && now - dcl > 3 * a.grace) return 'dom';
  return false;
"""
#: Readiness predicates (see the module docstring); they return the state.
READY_JS: dict[str, str] = {
    "list": """(a) => {
  const box = document.querySelector('ul#newsListContent');
  const state = box && box.getAttribute('data-state');
  if (state && state !== 'loading') return 'state:' + state;
  const filled = !!(box && box.querySelector('li'));"""
    + _COMMON_JS
    + "}",
    "share": """(a) => {
  const box = document.querySelector('#newsContent');
  const state = box && box.getAttribute('data-state');
  if (state && state !== 'loading') return 'state:' + state;
  const filled = !!(box && (box.children.length || box.textContent.trim()));"""
    + _COMMON_JS
    + "}",
}
# Resource Timing keeps 250 entries by default; a portal page can load more.
_INIT_JS = "try { performance.setResourceTimingBufferSize(5000); } catch (e) {}"


#: The open pages (a page object is the key: gone with it).
_LIVE: weakref.WeakKeyDictionary[Any, LivePage] = weakref.WeakKeyDictionary()
_BACKGROUND: set[asyncio.Future] = set()


def _kill(page: Any, live: LivePage, request: Any) -> None:
    live.result.state = "deadline"
    # Marks this request object only: a Scrapy retry is a copy (another id).
    request.meta[KILLED_KEY] = id(request)
    logger.warning("render of %s passed its deadline: closing the page", page.url)

    async def close() -> None:
        with suppress(Exception):
            await page.close()

    task = asyncio.ensure_future(close())
    _BACKGROUND.add(task)  # asyncio keeps only weak references to tasks
    task.add_done_callback(_BACKGROUND.discard)


async def page_init(page: Any, request: Any) -> None:
    """``playwright_page_init_callback``: runs before each navigation attempt."""
    meta = request.meta
    if meta.get(KILLED_KEY) == id(request):
        # scrapy-playwright retries a request whose page was closed
        # (TargetClosedError, 3 times): end those attempts at once.
        await page.close()
        return
    result = RenderResult(kind=meta.get(KIND_KEY, ""))
    meta[RESULT_KEY] = result
    meta[CONTEXT_OBJ_KEY] = page.context
    live = LivePage(result)
    _LIVE[page] = live
    page.on("response", live.on_response)
    deadline_ms = meta.get(DEADLINE_KEY)
    if deadline_ms:
        loop = asyncio.get_running_loop()
        live.watchdog = loop.call_later(deadline_ms / 1000, _kill, page, live, request)
        page.on("close", lambda _page: live.watchdog and live.watchdog.cancel())
    await page.add_init_script(_INIT_JS)


async def settle(page: Any, kind: str, timeout_ms: int, grace_ms: int) -> str:
    """The page method of a render: wait until ready (or ``timeout_ms``), then
    wait for the captured bodies. Returns the state (also in the RenderResult)."""
    from playwright.async_api import TimeoutError as PlaywrightTimeoutError

    live = _LIVE.get(page)
    start = time.monotonic()

    async def ready() -> str:
        handle = await page.wait_for_function(
            READY_JS[kind],
            arg={"apis": list(KIND_APIS[kind]), "grace": grace_ms},
            timeout=timeout_ms,
            polling=50,
        )
        state = str(await handle.json_value())
        await handle.dispose()
        return state

    try:
        # Playwright's own timeout never fires while the page's script spins
        # (its polling runs in the page): bound the wait here too.
        state = await asyncio.wait_for(ready(), timeout=timeout_ms / 1000 + 0.5)
    except (TimeoutError, PlaywrightTimeoutError):
        state = "timeout"
    if live is not None:
        await live.drain(timeout_s=max(1.0, timeout_ms / 1000))
        if live.result.state != "deadline":
            live.result.state = state
        live.result.wait_ms = int((time.monotonic() - start) * 1000)
    return state


def render_request_meta(
    kind: str,
    *,
    timeout_ms: int = 15_000,
    grace_ms: int = 800,
    deadline_ms: int | None = None,
    context: str | None = None,
    user_agent: str = "",
    canonical_url: str = "",
) -> dict[str, Any]:
    """Meta for a render request: ``kind`` is ``"list"`` (a column page) or
    ``"share"`` (a Choice share page).

    Merge your own keys in (``scrapy.Request(url, meta={**render_request_meta("list"), ...})``).
    ``timeout_ms`` bounds the wait for the page's data, ``deadline_ms``
    (default ``timeout_ms + 90 s``) the whole render. ``context`` pins a
    browser context name (without
    :class:`~crawler.browser.contexts.RenderContextMiddleware`);
    ``user_agent`` sets ``navigator.userAgent`` of new contexts (the HTTP
    header already comes from Scrapy's ``USER_AGENT``). ``canonical_url`` is
    only needed without ``FINEWS_UPSTREAM`` rewriting when the URL requested
    is not the Eastmoney one.
    """
    if kind not in READY_JS:
        raise ValueError(f"kind must be 'list' or 'share', got {kind!r}")
    context_kwargs: dict[str, Any] = {
        "service_workers": "block",  # every request stays visible to page.route
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
        "viewport": {"width": 1280, "height": 900},
        "accept_downloads": False,
    }
    if user_agent:
        context_kwargs["user_agent"] = user_agent
    meta: dict[str, Any] = {
        "playwright": True,
        "playwright_include_page": False,
        "playwright_context_kwargs": context_kwargs,
        "playwright_page_goto_kwargs": {"wait_until": "domcontentloaded"},
        "playwright_page_init_callback": page_init,
        "playwright_page_methods": [PageMethod(settle, kind, timeout_ms, grace_ms)],
        KIND_KEY: kind,
        # goto and the load-state wait may each take the navigation timeout
        # (30 s by default): the watchdog is for hangs, not slow pages.
        DEADLINE_KEY: deadline_ms if deadline_ms is not None else timeout_ms + 90_000,
    }
    if context:
        meta["playwright_context"] = context
    if canonical_url:
        meta[CANONICAL_KEY] = canonical_url
    return meta
