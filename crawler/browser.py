"""The browser route: render Eastmoney's script-filled pages with Chromium.

The column pages (``finance.eastmoney.com/a/cgnjj.html``) and the Choice share
page (``choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW…``) are
shells whose own scripts load the list API / the Choice text API. When those
JSON routes refuse direct calls, only a browser gets the data. This module
holds everything about that route except the spider logic:

- :func:`find_chromium`, :func:`browser_available`, :func:`resolve_browser`:
  which Chromium to use, and whether it really starts.
- :class:`RenderAddon` (``ADDONS``): applies the settings per ``FINEWS_RENDER``
  (``never`` | ``auto`` | ``always``) and ``FINEWS_CHROMIUM``.
- :func:`playwright_settings`: the Scrapy settings that switch scrapy-playwright
  on (only requests whose meta has ``"playwright": True`` use the browser;
  every other request still goes through Scrapy's HTTP handler), with
  :class:`SharedPlaywrightDownloadHandler`: one driver and one browser for
  both schemes.
- :func:`render_request_meta`: the meta of one render request. The page is
  opened, the wait below runs, and the responses the page loaded from the
  list / Choice APIs (plus the raw document) are captured byte for byte.
- :func:`render_snapshots`: those captures and the rendered DOM as
  :class:`~crawler.items.Fetched` with canonical Eastmoney URLs.
- :class:`RenderContextMiddleware`: a downloader middleware that moves browser
  requests to a fresh browser context every N pages and closes the old one.
- :func:`column_page_url`, :func:`share_page_url`: the pages to render.

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
import contextlib
import glob
import logging
import os
import shutil
import subprocess
import threading
import time
import weakref
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler
from scrapy_playwright.page import PageMethod

from crawler.clock import utc_now
from crawler.eastmoney import ids as em
from crawler.eastmoney.urls import (  # noqa: F401  (column_page_url re-exported)
    API_ORIGINS,
    CHOICE_API_PATH,
    CHOICE_API_PREFIX,
    LIST_API_PATH,
    SHARE_PAGE,
    column_page_url,
)
from crawler.items import Fetched
from crawler.middlewares import CANONICAL_KEY

logger = logging.getLogger(__name__)

RENDER_MODES = ("never", "auto", "always")
HANDLER = "crawler.browser.SharedPlaywrightDownloadHandler"
ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
RECYCLE_MIDDLEWARE = "crawler.browser.RenderContextMiddleware"
#: Next to the download handler, after every middleware that may return a *new*
#: request (UpstreamOverrideMiddleware does): only the request that reaches the
#: handler may be counted.
RECYCLE_MIDDLEWARE_ORDER = 960
#: Setting read by RenderContextMiddleware: pages per browser context (0 = off).
RECYCLE_SETTING = "FINEWS_RENDER_RECYCLE_PAGES"

SYSTEM_CHROMIUMS = (
    "/usr/bin/chromium-headless-shell",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
)
WHICH_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")

#: Chromium flags: no GPU, no background traffic of the browser's own (updates,
#: sync, safe browsing lists), no QUIC (the site's HTTP/3 hints are not needed),
#: /tmp instead of a small /dev/shm in containers.
CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
)

#: Request types the browser never needs for the text (``Request.resource_type``).
BLOCKED_RESOURCE_TYPES = frozenset(
    {"image", "media", "font", "stylesheet", "texttrack", "manifest"}
)

#: The API answers each kind of page waits for (matched in the URL).
KIND_APIS: dict[str, tuple[str, ...]] = {"list": (LIST_API_PATH,), "share": (CHOICE_API_PATH,)}
MAX_CAPTURE_BYTES = 8 * 1024 * 1024

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


# --------------------------------------------------------------------------- URLs


def share_page_url(info_code: str) -> str:
    """The Choice share page of an article (``NW<code>``; a bare code is accepted)."""
    info_code = info_code.strip()
    if em.CODE_RE.match(info_code):
        info_code = "NW" + info_code
    if not em.INFO_CODE_RE.match(info_code):
        raise ValueError(f"not an infoCode: {info_code!r}")
    return SHARE_PAGE.format(info_code=info_code)


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


# --------------------------------------------------------------------------- which browser


def _playwright_browsers_dirs() -> list[Path]:
    env = os.environ.get("PLAYWRIGHT_BROWSERS_PATH", "")
    if env == "0":
        try:
            import playwright

            return [Path(playwright.__file__).parent / "driver" / "package" / ".local-browsers"]
        except ImportError:
            return []
    if env:
        return [Path(env).expanduser()]
    dirs = []
    if os.environ.get("XDG_CACHE_HOME"):
        dirs.append(Path(os.environ["XDG_CACHE_HOME"]) / "ms-playwright")
    dirs.append(Path.home() / ".cache" / "ms-playwright")
    return dirs


def _playwright_revision(name: str) -> str | None:
    """The browser revision this playwright release expects (``browsers.json``)."""
    try:
        import json

        import playwright

        path = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
        for browser in json.loads(path.read_text())["browsers"]:
            if browser.get("name") == name:
                return str(browser["revision"])
    except (ImportError, OSError, ValueError, KeyError, TypeError):
        pass
    return None


def bundled_chromium() -> str | None:
    """Playwright's own Chromium (``playwright install chromium``), if present.

    Only the revision this playwright release was built for: the headless
    shell first (faster, smaller), then the full browser.
    """
    wanted = [
        (
            "chromium-headless-shell",
            "chromium_headless_shell-{rev}",
            ("chrome-headless-shell", "headless_shell"),
        ),
        ("chromium", "chromium-{rev}", ("chrome",)),
    ]
    for base in _playwright_browsers_dirs():
        for name, folder, exes in wanted:
            rev = _playwright_revision(name)
            if rev is None:
                continue
            for exe in exes:
                for path in sorted(glob.glob(str(base / folder.format(rev=rev) / "*" / exe))):
                    if _executable(path):
                        return path
    return None


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_chromium(preferred: str = "") -> str | None:
    """The Chromium to drive, or None.

    ``preferred`` (``FINEWS_CHROMIUM``) when it is an executable file or a
    command on PATH; else Playwright's bundled Chromium; else Debian's
    ``/usr/bin/chromium-headless-shell``, ``/usr/bin/chromium``,
    ``/usr/bin/chromium-browser``; else one of those names on PATH.
    """
    preferred = (preferred or "").strip()
    if preferred:
        path = os.path.expanduser(preferred)
        if _executable(path):
            return path
        found = shutil.which(preferred)
        if found:
            return found
        logger.warning("FINEWS_CHROMIUM=%r is not an executable; looking elsewhere", preferred)
    bundled = bundled_chromium()
    if bundled:
        return bundled
    for path in SYSTEM_CHROMIUMS:
        if _executable(path):
            return path
    for name in WHICH_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def launch_args() -> list[str]:
    """Chromium flags; ``--no-sandbox`` only when running as root (where it is required)."""
    args = list(CHROMIUM_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.insert(0, "--no-sandbox")
    return args


def browser_available(executable: str | None, timeout_s: float = 30.0) -> tuple[bool, str]:
    """Start ``executable`` once through Playwright, headless, and open a page.

    Returns ``(True, "<browser version>")`` or ``(False, reason)``. Runs the
    Playwright sync API in a thread of its own, so it also works when called
    from code that has an asyncio loop running.
    """
    if not executable:
        return (
            False,
            "no Chromium found (set FINEWS_CHROMIUM, or apt-get install chromium-headless-shell)",
        )
    if not _executable(executable):
        return False, f"{executable}: not an executable file"
    try:
        proc = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=timeout_s
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{executable} --version failed: {exc}"
    if proc.returncode != 0:
        return (
            False,
            f"{executable} --version exited {proc.returncode}: {proc.stderr.strip()[:300]}",
        )

    outcome: list[tuple[bool, str]] = []

    def probe() -> None:
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=executable,
                    headless=True,
                    args=launch_args(),
                    timeout=timeout_s * 1000,
                )
                try:
                    page = browser.new_page()
                    page.set_content("<p id=x>ok</p>")
                    text = page.inner_text("#x", timeout=timeout_s * 1000)
                    version = browser.version
                finally:
                    browser.close()
            if text != "ok":
                outcome.append((False, f"page did not render (got {text!r})"))
            else:
                outcome.append((True, version))
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            outcome.append((False, f"launch failed: {str(exc).strip()[:500]}"))

    thread = threading.Thread(target=probe, name="finews-browser-probe", daemon=True)
    thread.start()
    thread.join(timeout_s * 3)
    if not outcome:
        return False, f"launch did not finish within {timeout_s * 3:.0f}s"
    return outcome[0]


class BrowserUnavailable(RuntimeError):
    """``FINEWS_RENDER=always`` but no working Chromium."""


#: A successful launch check is trusted this long for the same executable file.
PROBE_CACHE_HOURS = 24.0
PROBE_CACHE_NAME = ".browser-probe.json"


def _probe_key(executable: str) -> dict[str, Any]:
    """What must not have changed for a cached launch check to hold."""
    from importlib.metadata import PackageNotFoundError, version

    real = os.path.realpath(executable)
    st = os.stat(real)
    try:
        playwright = version("playwright")
    except PackageNotFoundError:  # pragma: no cover - installed with scrapy-playwright
        playwright = ""
    return {
        "executable": real,
        "mtime_ns": st.st_mtime_ns,
        "size": st.st_size,
        "playwright": playwright,
    }


def cached_browser_available(executable: str | None, cache: Path | None) -> tuple[bool, str]:
    """:func:`browser_available`, remembered in ``cache`` (a JSON file).

    Launching Chromium to check it takes ~0.75 s, at every start of a cron
    run. A successful check is kept for PROBE_CACHE_HOURS for the same file
    (real path, mtime, size) and the same Playwright; a failed one is never
    kept (it is retried next run). A cache that cannot be read or written is
    ignored: the check then runs as without one.
    """
    if executable is None or cache is None or not _executable(executable):
        return browser_available(executable)
    import json

    try:
        key = _probe_key(executable)
        cached = json.loads(cache.read_text(encoding="utf-8"))
        age_h = (time.time() - float(cached.get("checked_at", 0))) / 3600
        if cached.get("key") == key and cached.get("ok") is True and 0 <= age_h < PROBE_CACHE_HOURS:
            return True, str(cached.get("detail") or "")
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    ok, detail = browser_available(executable)
    if ok:
        from crawler.files import atomic_write

        record = {
            "key": _probe_key(executable),
            "ok": True,
            "detail": detail,
            "checked_at": time.time(),
        }
        with suppress(OSError):
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(cache, json.dumps(record, indent=1).encode("utf-8"))
    return ok, detail


def resolve_browser(
    mode: str, preferred: str = "", probe_cache: Path | None = None
) -> tuple[str | None, str]:
    """The Chromium to use under ``FINEWS_RENDER=mode``: ``(executable or None, reason)``.

    ``never`` -> ``(None, "disabled")``; ``auto`` -> ``(None, reason)`` when
    none works; ``always`` raises :class:`BrowserUnavailable` then.
    ``probe_cache``: where a successful launch check is remembered
    (:func:`cached_browser_available`).
    """
    if mode not in RENDER_MODES:
        raise ValueError(f"FINEWS_RENDER must be one of {', '.join(RENDER_MODES)}, got {mode!r}")
    if mode == "never":
        return None, "disabled (FINEWS_RENDER=never)"
    exe = find_chromium(preferred)
    ok, reason = cached_browser_available(exe, probe_cache)
    if ok:
        return exe, reason
    if mode == "always":
        raise BrowserUnavailable(f"FINEWS_RENDER=always but {reason}")
    return None, reason


# --------------------------------------------------------------------------- settings


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
        "PLAYWRIGHT_ABORT_REQUEST": "crawler.browser.abort_request",
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
        lock = self.__dict__.setdefault("_finews_launch_lock", asyncio.Lock())
        async with lock:
            if getattr(self, "_finews_launched", False):
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
            shared._finews_users = 0
            setattr(crawler, cls._SHARED_ATTR, shared)
        shared._finews_users += 1
        return shared

    async def close(self) -> None:
        self._finews_users = getattr(self, "_finews_users", 1) - 1
        if self._finews_users <= 0:
            await super().close()


class RenderAddon:
    """Scrapy add-on (``ADDONS = {"crawler.browser.RenderAddon": 0}``): the
    browser route per ``FINEWS_RENDER``.

    ``never``: nothing changes. ``auto``: when a Chromium starts
    (:func:`resolve_browser`), :func:`playwright_settings` are applied at
    ``addon`` priority (so ``PLAYWRIGHT_*`` in the project or on the command
    line win), the HTTP(S) download handlers are replaced and
    :class:`RenderContextMiddleware` is added; else a warning and plain HTTP
    only. ``always``: like ``auto`` but no browser is an error.

    Reads ``FINEWS_RENDER`` (default ``auto``), ``FINEWS_CHROMIUM``,
    ``FINEWS_ARCHIVE_DIR`` (where the launch check is cached),
    ``FINEWS_RENDER_RECYCLE_PAGES``, ``CONCURRENT_REQUESTS`` (pages per
    context). Sets ``FINEWS_RENDER_EXECUTABLE`` (``""`` when the browser route
    is off; what spiders check) and ``FINEWS_RENDER_STATUS`` (browser version
    or why not).
    """

    def update_settings(self, settings: Any) -> None:
        from scrapy.settings import SETTINGS_PRIORITIES

        mode = (settings.get("FINEWS_RENDER") or "auto").strip().lower()
        # The launch check is remembered in the archive (a dotfile Jekyll skips).
        from crawler.config import FinewsConfig

        cache = FinewsConfig.from_settings(settings).archive_dir / PROBE_CACHE_NAME
        exe, status = resolve_browser(mode, settings.get("FINEWS_CHROMIUM") or "", cache)
        settings.set("FINEWS_RENDER_EXECUTABLE", exe or "", priority="cmdline")
        settings.set("FINEWS_RENDER_STATUS", status, priority="cmdline")
        if exe is None:
            if mode == "auto":
                logger.warning("browser route off: %s", status)
            return
        logger.info("browser route on: %s (%s)", exe, status)
        values = playwright_settings(
            exe,
            max_pages=settings.getint("CONCURRENT_REQUESTS", 4),
            recycle_pages=settings.getint(RECYCLE_SETTING, 100),
        )
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


# --------------------------------------------------------------------------- one render


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
    """What a render captured; ``request.meta[RESULT_KEY]`` after the page opened.

    ``state``: how the wait ended (``"state:loaded"``, ``"filled"``, ``"api"``,
    ``"dom"``, ``"timeout"``, ``"deadline"``; ``""`` before it ran).
    """

    kind: str
    state: str = ""
    wait_ms: int = 0
    captured: list[Captured] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class _Live:
    """Per-page bookkeeping while a page is open (never stored in meta)."""

    def __init__(self, result: RenderResult) -> None:
        self.result = result
        self.pending: set[asyncio.Future] = set()
        self.watchdog: asyncio.TimerHandle | None = None

    def on_response(self, response: Any) -> None:
        if not _wanted(response):
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


_LIVE: weakref.WeakKeyDictionary[Any, _Live] = weakref.WeakKeyDictionary()
_BACKGROUND: set[asyncio.Future] = set()


def _wanted(response: Any) -> bool:
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


def _kill(page: Any, live: _Live, request: Any) -> None:
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
    live = _Live(result)
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
    browser context name (without :class:`RenderContextMiddleware`);
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


# --------------------------------------------------------------------------- context recycling


@dataclass
class _Generation:
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
    ``FINEWS_RENDER_RECYCLE_PAGES`` (0 = off), ``PLAYWRIGHT_MAX_CONTEXTS``.
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
        settings = crawler.settings
        return cls(
            crawler,
            pages=settings.getint(RECYCLE_SETTING, 100),
            max_live=settings.getint("PLAYWRIGHT_MAX_CONTEXTS", 0),
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

    def open_generations(self) -> dict[int, int]:
        """``{generation: requests in flight}`` (for tests and logs)."""
        return {g: v.inflight for g, v in self.live.items()}


def iter_descendants(pid: int) -> Iterable[int]:
    """Process ids below ``pid`` (Linux ``/proc``), for memory sampling and tests."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode("latin-1")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    stack = list(children.get(pid, []))
    while stack:
        child = stack.pop()
        yield child
        stack.extend(children.get(child, []))
