"""The browser route with real Chromium, real scrapy-playwright, the real replica.

Each crawl runs in a subprocess (``python -m tests.test_browser probe CONFIG``):
a throwaway spider (:class:`ProbeSpider`) renders the pages of a plan with
``crawler.browser.render.render_request_meta`` under
``crawler.browser.addon.playwright_settings``
and the project's settings (``FINEWS_UPSTREAM`` maps Eastmoney onto the
replica), and writes what it got to ``results.json`` and ``stats.json``.

No Chromium is a failure, not a skip: the browser route is part of finews.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from crawler.browser import chromium, probe
from crawler.browser.addon import HANDLER, RECYCLE_MIDDLEWARE, RenderAddon, playwright_settings
from crawler.browser.capture import abort_request
from crawler.browser.contexts import RenderContextMiddleware
from crawler.browser.render import page_init, render_request_meta, settle
from crawler.browser.snapshots import canonical_sub_url, render_result, render_snapshots
from crawler.eastmoney.lists import parse_list
from crawler.eastmoney.rendered import parse_rendered_list, parse_rendered_share
from crawler.eastmoney.urls import column_page_url, list_url, share_page_url
from crawler.items import Fetched

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_SHELL = "/usr/bin/chromium-headless-shell"
NO_CHROMIUM = (
    "no Chromium found: the browser route needs one. Install Debian's "
    "`chromium-headless-shell` (apt-get install -y chromium-headless-shell) or set "
    "FINEWS_CHROMIUM to a Chromium executable."
)
FAST = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS": 4,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
    "RETRY_TIMES": 1,
    "LOG_LEVEL": "INFO",
    "ITEM_PIPELINES": {},
    "EXTENSIONS": {},
}


# --------------------------------------------------------------------------- the probe crawl


def _fetched_json(f: Fetched) -> dict[str, Any]:
    return {
        "url": f.url,
        "status": f.status,
        "headers": f.headers,
        "body_b64": base64.b64encode(f.body).decode(),
        "fetched_at": f.fetched_at,
        "method": f.method,
    }


def fetched_from_json(d: dict[str, Any]) -> Fetched:
    return Fetched(
        url=d["url"],
        status=d["status"],
        headers=[tuple(h) for h in d["headers"]],
        body=base64.b64decode(d["body_b64"]),
        fetched_at=d["fetched_at"],
        method=d["method"],
    )


def _program(proc: psutil.Process) -> str:
    """The program a process runs (its ``argv[0]``; "" when it is gone)."""
    try:
        cmdline = proc.cmdline()
    except psutil.Error:
        return ""
    return cmdline[0] if cmdline else ""


def _browser_main_pids() -> list[int]:
    """Chromium main processes below this process (their parent is not Chromium)."""
    names = {
        "chromium-headless-shell",
        "chromium",
        "chrome",
        "headless_shell",
        "chrome-headless-shell",
    }
    pids = []
    for proc in psutil.Process().children(recursive=True):
        try:
            parent = proc.parent()
        except psutil.Error:
            continue
        parent_name = os.path.basename(_program(parent)) if parent is not None else ""
        if os.path.basename(_program(proc)) in names and parent_name not in names:
            pids.append(proc.pid)
    return pids


def _count_drivers() -> int:
    """Playwright driver (node) processes below this process."""
    return sum(
        "playwright/driver" in _program(proc) for proc in psutil.Process().children(recursive=True)
    )


def make_probe_spider() -> type:
    import scrapy

    class ProbeSpider(scrapy.Spider):
        """Renders (or plainly fetches) each URL of a plan and records the result."""

        name = "browser_probe"

        def __init__(self, config: dict[str, Any], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.config = config
            self.results: list[dict[str, Any]] = []
            self.ok_count = 0
            self.killed: list[int] = []

        async def start(self):
            plan = self.config["plan"]
            render = self.config.get("render", {})
            for i, step in enumerate(plan):
                meta: dict[str, Any] = {"probe_id": step["id"], "probe_kind": step["kind"]}
                if step["kind"] != "plain":
                    meta.update(render_request_meta(step["kind"], **render))
                yield scrapy.Request(
                    step["url"],
                    callback=self.parse,
                    errback=self.failed,
                    meta=meta,
                    dont_filter=True,
                    priority=len(plan) - i,  # plan order (the memory queue is LIFO)
                )

        def parse(self, response):
            meta = response.meta
            record: dict[str, Any] = {
                "id": meta["probe_id"],
                "kind": meta["probe_kind"],
                "ok": True,
                "response_url": response.url,
                "status": response.status,
                "context": meta.get("playwright_context"),
                "finished": time.time(),
            }
            if meta["probe_kind"] == "plain":
                record["body"] = response.text
            else:
                result = render_result(response)
                record.update(
                    state=result.state if result else None,
                    wait_ms=result.wait_ms if result else None,
                    errors=result.errors if result else None,
                    dom=response.text,
                    snapshots=[_fetched_json(f) for f in render_snapshots(response)],
                )
            if meta["probe_kind"] != "plain" and not hasattr(self, "processes"):
                handlers = self.crawler.engine.downloader.handlers._handlers
                self.processes = {
                    "same_handler": handlers.get("http") is handlers.get("https"),
                    "drivers": _count_drivers(),
                }
            self.results.append(record)
            self.ok_count += 1
            kill_after = self.config.get("kill_after")
            if kill_after and self.ok_count == kill_after:
                for pid in _browser_main_pids():
                    os.kill(pid, signal.SIGKILL)  # a browser this crawl launched
                    self.killed.append(pid)
                self.logger.info("killed browser processes %s", self.killed)
            return None

        def failed(self, failure):
            request = failure.request
            self.results.append(
                {
                    "id": request.meta["probe_id"],
                    "kind": request.meta["probe_kind"],
                    "ok": False,
                    "error": f"{failure.type.__name__}: {failure.getErrorMessage()[:300]}",
                    "state": getattr(render_result(request), "state", None),
                    "finished": time.time(),
                }
            )

        def closed(self, reason):
            out = Path(self.config["out"])
            (out / "results.json").write_text(
                json.dumps(
                    {
                        "results": self.results,
                        "killed": self.killed,
                        "reason": reason,
                        "processes": getattr(self, "processes", None),
                    },
                    ensure_ascii=False,
                )
            )
            stats = {k: str(v) for k, v in self.crawler.stats.get_stats().items()}
            (out / "stats.json").write_text(json.dumps(stats, ensure_ascii=False, indent=1))

    return ProbeSpider


def probe_main(config_path: str) -> None:
    """Subprocess entry: run the probe crawl described by the JSON config."""
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    config = json.loads(Path(config_path).read_text())
    settings = get_project_settings()
    if config.get("addon"):
        # The way a project turns it on: the add-on, FINEWS_RENDER, FINEWS_CHROMIUM.
        pw = {
            "ADDONS": {"crawler.browser.addon.RenderAddon": 0},
            "FINEWS_CHROMIUM": config["chromium"],
        }
    else:
        pw = playwright_settings(
            config["chromium"],
            downloader_middlewares=settings.getdict("DOWNLOADER_MIDDLEWARES"),
            **config.get("playwright", {}),
        )
    overrides = {**FAST, **pw, **config.get("settings", {})}
    overrides["LOG_FILE"] = str(Path(config["out"]) / "crawl.log")
    settings.update(overrides, priority="cmdline")
    process = CrawlerProcess(settings)
    process.crawl(make_probe_spider(), config=config)
    process.start()


def run_probe(
    out: Path,
    plan: list[dict[str, str]],
    upstream: str = "",
    *,
    render: dict[str, Any] | None = None,
    playwright: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    kill_after: int | None = None,
    addon: bool = False,
    timeout: int = 240,
) -> dict[str, Any]:
    """Run a probe crawl in a subprocess; returns ``{"results", "by_id", "stats", "log"}``."""
    executable = chromium.find_chromium(os.environ.get("FINEWS_CHROMIUM", ""))
    if executable is None:
        pytest.fail(NO_CHROMIUM)
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "out": str(out),
        "plan": plan,
        "chromium": executable,
        "render": render or {},
        "playwright": playwright or {},
        "settings": {"FINEWS_UPSTREAM": upstream, "FINEWS_ARCHIVE_DIR": str(out / "archive")}
        | (settings or {}),
        "kill_after": kill_after,
        "addon": addon,
    }
    path = out / "config.json"
    path.write_text(json.dumps(config))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.test_browser", "probe", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    log = (out / "crawl.log").read_text() if (out / "crawl.log").exists() else ""
    if proc.returncode != 0 or not (out / "results.json").exists():
        raise AssertionError(
            f"probe crawl failed ({proc.returncode}):\n{proc.stderr[-4000:]}\n{log[-6000:]}"
        )
    data = json.loads((out / "results.json").read_text())
    stats = json.loads((out / "stats.json").read_text())
    by_id = {r["id"]: r for r in data["results"]}
    return {"results": data["results"], "by_id": by_id, "stats": stats, "log": log, **data}


def snapshots(record: dict[str, Any]) -> list[Fetched]:
    return [fetched_from_json(s) for s in record["snapshots"]]


def stat(stats: dict[str, str], key: str) -> int:
    return int(stats.get(key, "0"))


# --------------------------------------------------------------------------- finding Chromium


def test_find_chromium_finds_a_browser_and_the_debian_binary() -> None:
    found = chromium.find_chromium()
    if found is None:
        pytest.fail(NO_CHROMIUM)
    if chromium.bundled_chromium() is None:
        assert found == DEBIAN_SHELL, f"expected Debian's headless shell, found {found}"
    assert os.access(found, os.X_OK)


def test_find_chromium_prefers_an_executable_setting(tmp_path: Path) -> None:
    assert chromium.find_chromium(DEBIAN_SHELL) == DEBIAN_SHELL
    assert chromium.find_chromium("chromium-headless-shell") == DEBIAN_SHELL  # on PATH
    # Not executable: ignored, the normal search goes on.
    stub = tmp_path / "chrome"
    stub.write_text("#!/bin/sh\n")
    assert chromium.find_chromium(str(stub)) == chromium.find_chromium()
    assert chromium.find_chromium(str(tmp_path / "missing")) == chromium.find_chromium()


def test_browser_available_launches_it() -> None:
    exe = chromium.find_chromium()
    if exe is None:
        pytest.fail(NO_CHROMIUM)
    ok, detail = probe.browser_available(exe)
    assert ok, detail
    assert detail.split(".")[0].isdigit(), detail  # the browser version, e.g. 156.0.8078.79


def test_browser_available_explains_failures(tmp_path: Path) -> None:
    ok, reason = probe.browser_available(None)
    assert not ok and "no Chromium" in reason
    ok, reason = probe.browser_available(str(tmp_path / "nope"))
    assert not ok and "not an executable" in reason
    # Answers --version but is no browser: only a real launch tells.
    ok, reason = probe.browser_available("/bin/true", timeout_s=10)
    assert not ok and "launch failed" in reason


def test_resolve_browser_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert probe.resolve_browser("never") == (None, "disabled (FINEWS_RENDER=never)")
    with pytest.raises(ValueError):
        probe.resolve_browser("sometimes")
    exe, version = probe.resolve_browser("auto")
    assert exe == chromium.find_chromium() and version
    # A machine without any Chromium:
    monkeypatch.setattr(chromium, "SYSTEM_CHROMIUMS", ())
    monkeypatch.setattr(chromium, "WHICH_NAMES", ())
    monkeypatch.setattr(chromium, "bundled_chromium", lambda: None)
    assert chromium.find_chromium() is None
    exe, reason = probe.resolve_browser("auto")
    assert exe is None and "no Chromium" in reason
    with pytest.raises(probe.BrowserUnavailable, match="FINEWS_RENDER=always"):
        probe.resolve_browser("always")


def test_launch_check_is_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cron run does not launch Chromium just to check it: a successful check
    is cached per executable file for a day; anything else checks again."""
    exe = chromium.find_chromium()
    if exe is None:
        pytest.fail(NO_CHROMIUM)
    cache = tmp_path / "archive" / probe.PROBE_CACHE_NAME
    launches: list[str] = []
    real_check = probe.browser_available

    def counting(executable: str | None, timeout_s: float = 30.0) -> tuple[bool, str]:
        launches.append(str(executable))
        return real_check(executable, timeout_s)

    monkeypatch.setattr(probe, "browser_available", counting)
    got, version = probe.resolve_browser("auto", probe_cache=cache)
    assert got == exe and version.split(".")[0].isdigit() and len(launches) == 1
    record = json.loads(cache.read_text())
    assert record["ok"] is True and record["key"]["executable"] == os.path.realpath(exe)
    assert probe.resolve_browser("auto", probe_cache=cache) == (exe, version)
    assert len(launches) == 1  # remembered
    # Another file at that path (an upgrade), a stale or unreadable record: check again.
    for spoil in (
        lambda r: r["key"].update(mtime_ns=r["key"]["mtime_ns"] + 1),
        lambda r: r.update(checked_at=r["checked_at"] - 25 * 3600),
        None,
    ):
        record = json.loads(cache.read_text())
        if spoil is None:
            cache.write_text("{not json")
        else:
            spoil(record)
            cache.write_text(json.dumps(record))
        before = len(launches)
        assert probe.resolve_browser("auto", probe_cache=cache) == (exe, version)
        assert len(launches) == before + 1
    # A failed check is not remembered.
    monkeypatch.setattr(probe, "browser_available", lambda e, t=30.0: (False, "launch failed: x"))
    cache.unlink()
    assert probe.resolve_browser("auto", probe_cache=cache) == (None, "launch failed: x")
    assert not cache.exists()


# --------------------------------------------------------------------------- small parts


def test_page_urls() -> None:
    assert column_page_url(350) == "https://finance.eastmoney.com/a/cgnjj.html"
    assert column_page_url(351, 3) == "https://finance.eastmoney.com/a/cgjjj_3.html"
    assert column_page_url(1207, 2) == "https://stock.eastmoney.com/a/czpnc_2.html"
    for column in (344, 345, 353):
        assert column_page_url(column).startswith("https://finance.eastmoney.com/a/c")
    with pytest.raises(ValueError):
        column_page_url(999)
    with pytest.raises(ValueError):
        column_page_url(350, 0)
    share = "http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW202611233592418806"
    assert share_page_url("NW202611233592418806") == share
    assert share_page_url("202611233592418806") == share
    with pytest.raises(ValueError):
        share_page_url("x")


def test_canonical_sub_url_maps_the_mirror_origin_only() -> None:
    page = "http://127.0.0.1:9/a/cgnjj.html"
    canon = "https://finance.eastmoney.com/a/cgnjj.html"
    f = canonical_sub_url
    assert (
        f("http://127.0.0.1:9/comm/web/getNewsByColumns?column=350&x=1", page, canon)
        == "https://np-listapi.eastmoney.com/comm/web/getNewsByColumns?column=350&x=1"
    )
    assert (
        f("http://127.0.0.1:9/NewsData/GetNewsText.do?id=NW1", page, canon)
        == "http://choicewzp1.eastmoney.com/NewsData/GetNewsText.do?id=NW1"
    )
    assert f("http://127.0.0.1:9/a/cgnjj.html", page, canon) == canon
    assert f("https://emres.dfcfw.com/x.js", page, canon) == "https://emres.dfcfw.com/x.js"
    # Rendering Eastmoney itself: nothing to map.
    assert f(
        "https://np-listapi.eastmoney.com/comm/web/getNewsByColumns?a=1", canon, canon
    ).startswith("https://np-listapi.eastmoney.com/")


def test_playwright_settings() -> None:
    s = playwright_settings(DEBIAN_SHELL, 3, 5, 12_000)
    handler = "crawler.browser.addon.SharedPlaywrightDownloadHandler"
    assert s["DOWNLOAD_HANDLERS"] == {"http": handler, "https": handler}
    assert s["TWISTED_REACTOR"] == "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
    launch = s["PLAYWRIGHT_LAUNCH_OPTIONS"]
    assert launch["executable_path"] == DEBIAN_SHELL and launch["headless"] is True
    assert ("--no-sandbox" in launch["args"]) == (os.geteuid() == 0)
    for flag in ("--disable-gpu", "--disable-quic", "--disable-dev-shm-usage", "--no-first-run"):
        assert flag in launch["args"]
    assert s["PLAYWRIGHT_MAX_CONTEXTS"] == 3
    assert s["PLAYWRIGHT_MAX_PAGES_PER_CONTEXT"] == 5
    assert s["PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT"] == 12_000
    # No FINEWS_* setting rides along: the recycle count is the project's own
    # FINEWS_RENDER_RECYCLE_PAGES, read by FinewsConfig.
    assert not [key for key in s if key.startswith("FINEWS_")]
    assert "DOWNLOADER_MIDDLEWARES" not in s
    from scrapy.utils.misc import load_object

    assert load_object(s["PLAYWRIGHT_ABORT_REQUEST"]) is abort_request
    merged = playwright_settings(DEBIAN_SHELL, downloader_middlewares={"a.B": 1})
    assert merged["DOWNLOADER_MIDDLEWARES"] == {"a.B": 1, RECYCLE_MIDDLEWARE: 960}
    # Scrapy 2.19 already defaults to the asyncio reactor scrapy-playwright needs.
    from scrapy.settings import default_settings

    assert s["TWISTED_REACTOR"] == default_settings.TWISTED_REACTOR


class FlakyProvider:
    """A ``PLAYWRIGHT_BROWSER_PROVIDER`` whose first start fails (no Playwright)."""

    starts = 0
    closes = 0

    def __init__(self, config: Any) -> None:
        self.config = config

    async def start(self) -> None:
        FlakyProvider.starts += 1
        if FlakyProvider.starts == 1:
            raise RuntimeError("driver did not start")

    async def close(self) -> None:
        FlakyProvider.closes += 1


def handler_main() -> None:
    """``python -m tests.test_browser handler``: the shared handler without a crawl."""
    import asyncio

    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    from scrapy import signals
    from scrapy.utils.test import get_crawler

    from crawler.browser.addon import SharedPlaywrightDownloadHandler, start_playwright_handler

    async def main() -> dict[str, Any]:
        crawler = get_crawler(settings_dict={"PLAYWRIGHT_BROWSER_PROVIDER": FlakyProvider})
        heard: list[str] = []
        crawler.signals.connect(lambda: heard.append("engine_started"), signals.engine_started)
        first = SharedPlaywrightDownloadHandler.from_crawler(crawler)
        other = SharedPlaywrightDownloadHandler.from_crawler(get_crawler())
        try:
            await start_playwright_handler(crawler)
            failed = ""
        except RuntimeError as exc:
            failed = str(exc)
        started = await start_playwright_handler(crawler)
        first.browser = started
        same = SharedPlaywrightDownloadHandler.from_crawler(crawler) is first  # https
        users = first.users
        await first.close()
        closes_after_one = FlakyProvider.closes
        await first.close()
        return {
            "same": same and other is not first,
            "users": users,
            "failed": failed,
            "starts": FlakyProvider.starts,
            "stats_shared": started.stats is crawler.stats,
            "heard": heard,
            "closes": [closes_after_one, FlakyProvider.closes],
        }

    print(json.dumps(asyncio.get_event_loop().run_until_complete(main())))


def test_the_shared_handler_starts_playwright_on_its_own() -> None:
    # One handler per crawler for both schemes; scrapy-playwright's own start
    # runs on an engine_started only it hears; a failed start raises and the
    # next one tries again; the browser handler is closed after the last scheme.
    proc = subprocess.run(
        [sys.executable, "-m", "tests.test_browser", "handler"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == {
        "same": True,
        "users": 2,
        "failed": "driver did not start",
        "starts": 2,
        "stats_shared": True,
        "heard": [],
        "closes": [0, 1],
    }
    assert "Error caught on signal handler" not in proc.stderr


def test_render_addon_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from scrapy.settings import Settings
    from scrapy.utils.misc import load_object

    from crawler import settings as project
    from crawler.config import FinewsConfig

    def applied(**values: object) -> tuple[Settings, RenderAddon, FinewsConfig]:
        s = Settings()
        s.setmodule(project, priority="project")
        s.update(values, priority="cmdline")
        before = {k: (v, s.getpriority(k)) for k, v in s.items() if k.startswith("FINEWS_")}
        render_addon = RenderAddon()
        render_addon.update_settings(s)
        # The add-on's outcome is Scrapy's own settings: no FINEWS_* is written.
        assert {k: (v, s.getpriority(k)) for k, v in s.items() if k.startswith("FINEWS_")} == before
        return s, render_addon, FinewsConfig.from_settings(s)

    s, ad, cfg = applied(FINEWS_RENDER="auto", PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT=5000)
    assert s.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")["executable_path"] == chromium.find_chromium()
    assert ad.executable == chromium.find_chromium() and cfg.render_on
    assert s.getdict("DOWNLOAD_HANDLERS")["https"] == HANDLER
    assert s.getint("PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT") == 5000  # the user's value wins
    assert s.getint("PLAYWRIGHT_MAX_PAGES_PER_CONTEXT") == project.CONCURRENT_REQUESTS
    middlewares = {
        load_object(k) if isinstance(k, str) else k: v
        for k, v in s.getdict("DOWNLOADER_MIDDLEWARES").items()
    }
    assert middlewares[RenderContextMiddleware] == 960
    upstream = "crawler.middlewares.upstream.UpstreamOverrideMiddleware"
    assert middlewares[load_object(upstream)] == project.DOWNLOADER_MIDDLEWARES[upstream]

    s, ad, cfg = applied(FINEWS_RENDER="never")
    assert ad.executable is None and not cfg.render_on and not s.getdict("DOWNLOAD_HANDLERS")
    assert not s.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
    monkeypatch.setattr(probe, "find_chromium", lambda preferred="": None)
    s, ad, cfg = applied(FINEWS_RENDER="auto")
    assert ad.executable is None and not cfg.render_on and "no Chromium" in ad.status
    assert not s.getdict("DOWNLOAD_HANDLERS")
    with pytest.raises(probe.BrowserUnavailable):
        applied(FINEWS_RENDER="always")


def test_config_reads_the_browser_settings() -> None:
    """FinewsConfig is the one reader of the browser's FINEWS_* settings; the route
    is on when scrapy-playwright has a Chromium to launch (what RenderAddon sets)."""
    from scrapy.settings import Settings
    from scrapy.utils.test import get_crawler

    from crawler import settings as project
    from crawler.config import FinewsConfig

    def config(**values: object) -> FinewsConfig:
        s = Settings()
        s.setmodule(project, priority="project")
        s.update(values, priority="cmdline")
        return FinewsConfig.from_settings(s)

    cfg = config()
    assert (cfg.render, cfg.chromium, cfg.render_recycle_pages, cfg.render_on) == (
        "auto",
        "",
        100,
        False,
    )
    cfg = config(FINEWS_CHROMIUM=f" {DEBIAN_SHELL} ", FINEWS_RENDER_RECYCLE_PAGES="-3")
    assert cfg.chromium == DEBIAN_SHELL and cfg.render_recycle_pages == 0
    launch = {"PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": DEBIAN_SHELL}}
    assert config(**launch).render_on
    assert not config(FINEWS_RENDER="never", **launch).render_on
    assert not config(PLAYWRIGHT_LAUNCH_OPTIONS={"headless": True}).render_on
    # The middleware takes its page count from there too.
    s = {k: getattr(project, k) for k in dir(project) if k.isupper()}
    s.update(FINEWS_RENDER="never", FINEWS_RENDER_RECYCLE_PAGES=7, PLAYWRIGHT_MAX_CONTEXTS=3)
    middleware = RenderContextMiddleware.from_crawler(get_crawler(settings_dict=s))
    assert (middleware.pages, middleware.max_live) == (7, 3)


def test_render_request_meta() -> None:
    meta = render_request_meta("list", timeout_ms=5000)
    assert meta["playwright"] is True and meta["finews_render"] == "list"
    assert meta["playwright_include_page"] is False
    (pm,) = meta["playwright_page_methods"]
    assert pm.method is settle and pm.args == ("list", 5000, 800)
    assert meta["playwright_page_init_callback"] is page_init
    assert meta["finews_render_deadline_ms"] == 95_000
    assert "playwright_context" not in meta
    assert render_request_meta("share", context="c1")["playwright_context"] == "c1"
    with pytest.raises(ValueError):
        render_request_meta("article")
    # Module-level functions and plain data: the meta pickles (disk queues).
    import pickle

    pickle.dumps(meta)


# --------------------------------------------------------------------------- real renders

SHARE_FIXTURES = [
    "current_basic",
    "hostile_xss",
    "image_and_placeholder",
    "kline_chart",
    "table",
    "stock_links",
    "hostile_markdown",
    "choice_empty_page_ok",
]


def column_order(articles: list[dict[str, Any]], column: int) -> list[dict[str, Any]]:
    hits = [a for a in articles if column in a["columns"]]
    return sorted(hits, key=lambda a: (a["showTime"], a["code"]), reverse=True)


@pytest.fixture(scope="module")
def refused_crawl(tmp_path_factory: pytest.TempPathFactory):
    from tests.replica.server import Replica

    out = tmp_path_factory.mktemp("render")
    with Replica(refuse_json=True) as replica:
        by_name = {a["name"]: a for a in replica.articles}
        plan = [
            {"id": "plain_list", "kind": "plain", "url": list_url(350, 1, 20, "1")},
            {"id": "list350", "kind": "list", "url": column_page_url(350, 1)},
            {"id": "list350_2", "kind": "list", "url": column_page_url(350, 2)},
            {"id": "list350_3", "kind": "list", "url": column_page_url(350, 3)},
            {"id": "list351", "kind": "list", "url": column_page_url(351, 1)},
        ] + [
            {
                "id": name,
                "kind": "share",
                "url": share_page_url("NW" + by_name[name]["code"]),
            }
            for name in SHARE_FIXTURES
        ]
        run = run_probe(
            out,
            plan,
            replica.url,
            render={"timeout_ms": 10_000},
            settings={"FINEWS_RENDER": "always", "FINEWS_RENDER_RECYCLE_PAGES": 3},
            addon=True,  # RenderAddon: 2 contexts, CONCURRENT_REQUESTS (4) pages each
        )
        run["replica"] = replica
        run["requests"] = replica.requests()
        run["articles"] = replica.articles
        run["by_name"] = by_name
        yield run


def test_one_driver_and_one_handler_for_http_and_https(refused_crawl) -> None:
    # Stock scrapy-playwright: one handler per scheme, each with its own
    # Playwright driver (and browser). SharedPlaywrightDownloadHandler: one.
    assert refused_crawl["processes"] == {"same_handler": True, "drivers": 1}
    assert "browser route on" in refused_crawl["log"]


def test_the_fast_route_is_refused_and_goes_through_plain_http(refused_crawl) -> None:
    plain = refused_crawl["by_id"]["plain_list"]
    assert plain["ok"] and "非法请求" in plain["body"]
    assert plain["context"] is None  # never saw the browser


def test_column_page_render_captures_the_list_json(refused_crawl) -> None:
    articles = refused_crawl["articles"]
    expected = column_order(articles, 350)
    rec = refused_crawl["by_id"]["list350"]
    assert rec["ok"], rec
    assert rec["state"] == "state:loaded"
    snaps = snapshots(rec)
    canon = "https://finance.eastmoney.com/a/cgnjj.html"
    # document as served, the list API answer, then the rendered DOM
    assert [s.url.split("?")[0] for s in snaps] == [
        canon,
        "https://np-listapi.eastmoney.com/comm/web/getNewsByColumns",
        canon,
    ]
    assert b'data-state="loading"' in snaps[0].body  # the shell, as served
    assert dict(snaps[-1].headers)["X-Finews-Rendered"] == "list; state=state:loaded"
    assert snaps[-1].body == rec["dom"].encode()
    api = parse_list(snaps[1].body.decode(), snaps[1].url)
    assert api.ok and [e.code for e in api.entries] == [a["code"] for a in expected[:20]]

    page = parse_rendered_list(rec["dom"], canon, snaps, column=350)
    assert page.ok and page.source == "json" and page.total == len(expected)
    assert [(e.code, e.show_time, e.media, e.title) for e in page.entries] == [
        (a["code"], a["showTime"], a["mediaName"], a["title"]) for a in expected[:20]
    ]
    # The DOM alone has the same articles, without seconds and media.
    dom = parse_rendered_list(rec["dom"], canon)
    assert dom.ok and dom.source == "dom"
    assert [(e.code, e.title, e.summary) for e in dom.entries] == [
        (a["code"], a["title"], a["summary"]) for a in expected[:20]
    ]
    assert all(e.show_time == "" and e.media == "" for e in dom.entries)
    assert [i.time_text for i in dom.dom_items][:1] == [
        f"{expected[0]['showTime'][5:7]}月{expected[0]['showTime'][8:10]}日 {expected[0]['showTime'][11:16]}"
    ]


def test_later_and_empty_pages_and_another_column(refused_crawl) -> None:
    articles = refused_crawl["articles"]
    by_id = refused_crawl["by_id"]
    second = parse_rendered_list(
        by_id["list350_2"]["dom"], column_page_url(350, 2), snapshots(by_id["list350_2"])
    )
    assert second.source == "json"
    assert [e.code for e in second.entries] == [a["code"] for a in column_order(articles, 350)[20:]]
    third = parse_rendered_list(
        by_id["list350_3"]["dom"], column_page_url(350, 3), snapshots(by_id["list350_3"])
    )
    assert third.ok and third.source == "json" and third.entries == []
    col351 = parse_rendered_list(
        by_id["list351"]["dom"], column_page_url(351), snapshots(by_id["list351"])
    )
    assert [e.code for e in col351.entries] == [a["code"] for a in column_order(articles, 351)]


def test_share_page_render_gives_the_choice_body(refused_crawl) -> None:
    for name in SHARE_FIXTURES:
        art = refused_crawl["by_name"][name]
        rec = refused_crawl["by_id"][name]
        assert rec["ok"], rec
        url = share_page_url("NW" + art["code"])
        snaps = snapshots(rec)
        api = [s for s in snaps if "/NewsData/GetNewsText.do" in s.url]
        assert [s.url for s in api] == [
            f"http://choicewzp1.eastmoney.com/NewsData/GetNewsText.do?id=NW{art['code']}"
        ]
        share, reason = parse_rendered_share(rec["dom"], url, snaps)
        if art["choice"] == "empty":
            assert rec["state"] == "state:empty"
            assert share is None and reason == "empty Choice text"
            continue
        assert rec["state"] == "state:loaded", (name, rec["state"])
        assert share is not None and share.source == "json", reason
        assert share.text == art["body_html"]  # byte for byte what the fast route archives
        assert (share.title, share.published, share.media) == (
            art["title"],
            art["showTime"],
            art["mediaName"],
        )
        dom_share, _ = parse_rendered_share(rec["dom"], url)  # no captures: the DOM
        assert dom_share is not None and dom_share.source == "dom"
        assert (dom_share.title, dom_share.published, dom_share.media) == (
            art["title"],
            art["showTime"],
            art["mediaName"],
        )


def test_images_stylesheets_and_iframes_are_aborted(refused_crawl) -> None:
    paths = [r["path"] for r in refused_crawl["requests"]]
    # hostile_xss has <img src=x> (relative: it would hit the replica) and an iframe
    assert "/html_News/x" not in paths
    stats = refused_crawl["stats"]
    images = stat(stats, "playwright/request_count/resource_type/image")
    assert images == 3  # <img src=x>, the chart, the photo: none loaded
    renders = len([r for r in refused_crawl["results"] if r["kind"] != "plain"])
    # one document per render, plus hostile_xss's iframe (evil.example): aborted too
    assert stat(stats, "playwright/request_count/resource_type/document") == renders + 1
    assert stat(stats, "playwright/request_count/aborted") == images + 1
    # Only the pages and their APIs reached the replica.
    assert set(paths) <= {
        "/robots.txt",
        "/comm/web/getNewsByColumns",
        "/a/cgnjj.html",
        "/a/cgnjj_2.html",
        "/a/cgnjj_3.html",
        "/a/cgjjj.html",
        "/html_News/NewsShare.html",
        "/NewsData/GetNewsText.do",
    }


def test_the_page_scripts_called_the_apis_like_a_browser(refused_crawl) -> None:
    replica = refused_crawl["replica"]
    api = [
        r
        for r in refused_crawl["requests"]
        if r["path"] in ("/comm/web/getNewsByColumns", "/NewsData/GetNewsText.do")
    ]

    def headers(r: dict[str, Any]) -> dict[str, str]:
        # Chromium sends lower-case names once scrapy-playwright re-sends them.
        return {k.lower(): v for k, v in r["headers"].items()}

    from_browser = [r for r in api if headers(r).get("x-requested-with") == "XMLHttpRequest"]
    assert len(from_browser) == 4 + len(SHARE_FIXTURES)  # one per render, no repeats
    assert len(api) == len(from_browser) + 1  # + the plain (refused) request
    for r in from_browser:
        assert headers(r)["referer"].startswith(replica.url + "/")
    pages = [r for r in refused_crawl["requests"] if r["path"].startswith(("/a/c", "/html_News"))]
    from crawler.settings import USER_AGENT

    # Scrapy's User-Agent on the navigations and on the page's own requests.
    assert pages and all(headers(r)["user-agent"] == USER_AGENT for r in pages + from_browser)


def test_contexts_are_recycled(refused_crawl) -> None:
    renders = [r for r in refused_crawl["results"] if r["kind"] != "plain"]
    contexts: dict[str, int] = {}
    for r in renders:
        contexts[r["context"]] = contexts.get(r["context"], 0) + 1
    assert len(contexts) == -(-len(renders) // 3)  # ceil: 3 pages per context
    assert all(n <= 3 for n in contexts.values())
    stats = refused_crawl["stats"]
    assert stat(stats, "finews/render/contexts_opened") == len(contexts)
    # Every full (retired) context was closed as soon as its last page came
    # back; a last partial one is closed with the browser at the end.
    assert stat(stats, "finews/render/contexts_closed") == len(renders) // 3
    assert stat(stats, "playwright/context_count") == len(contexts)
    assert stat(stats, "playwright/context_count/max_concurrent") <= 2
    assert stat(stats, "playwright/browser_count") == 1


def test_a_killed_browser_is_launched_again(tmp_path: Path) -> None:
    from tests.replica.server import Replica

    with Replica(refuse_json=True) as replica:
        shares = [a for a in replica.articles if a["choice"] == "ok"][:8]
        plan = [
            {"id": a["code"], "kind": "share", "url": share_page_url(a["code"])} for a in shares
        ]
        run = run_probe(
            tmp_path,
            plan,
            replica.url,
            render={"timeout_ms": 10_000},
            settings={"CONCURRENT_REQUESTS": 1},
            kill_after=3,
        )
    assert run["killed"], "no browser process found to kill"
    order = [r["id"] for r in run["results"]]
    assert len(order) == len(plan)
    failed = [r for r in run["results"] if not r["ok"]]
    assert len(failed) <= 1, failed  # at most the one in flight when it died
    for r in run["results"][4:]:
        assert r["ok"], r
        share, _ = parse_rendered_share(r["dom"], "", snapshots(r))
        assert share is not None and share.source == "json"
    assert stat(run["stats"], "playwright/browser_count") == 2


SPIN_AFTER_LOAD = (
    b"<!doctype html><html><body><div id=newsContent></div><script>"
    b"addEventListener('load', function () { setTimeout(function () { for (;;) {} }, 300); });"
    b"</script></body></html>"
)
SPIN_INLINE = b"<!doctype html><html><body><p>x</p><script>for (;;) {}</script></body></html>"


class _SpinHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = SPIN_AFTER_LOAD if self.path.startswith("/late") else SPIN_INLINE
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_hung_pages_fail_in_bounded_time_and_the_crawl_goes_on(tmp_path: Path) -> None:
    from tests.replica.server import Replica

    server = ThreadingHTTPServer(("127.0.0.1", 0), _SpinHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spin = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with Replica(refuse_json=True) as replica:
            code = next(a["code"] for a in replica.articles if a["name"] == "current_basic")
            plan = [
                {"id": "inline", "kind": "share", "url": spin + "/inline"},
                {"id": "late", "kind": "share", "url": spin + "/late"},
                {"id": "ok", "kind": "share", "url": share_page_url(code)},
            ]
            start = time.time()
            run = run_probe(
                tmp_path,
                plan,
                replica.url,
                render={"timeout_ms": 1500, "deadline_ms": 6000},
                playwright={"nav_timeout_ms": 3000},
                settings={"CONCURRENT_REQUESTS": 3, "RETRY_ENABLED": False},
            )
            elapsed = time.time() - start
    finally:
        server.shutdown()
    by_id = run["by_id"]
    assert by_id["ok"]["ok"] and by_id["ok"]["state"] == "state:loaded", by_id["ok"]
    assert not by_id["inline"]["ok"] and "Timeout" in by_id["inline"]["error"]
    # Spins after load: the wait times out, page.content() hangs, the watchdog closes it.
    assert not by_id["late"]["ok"] and "closed" in by_id["late"]["error"], by_id["late"]
    assert by_id["late"]["state"] == "deadline"
    assert elapsed < 60, elapsed


# --------------------------------------------------------------------------- entry point

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "probe":
        probe_main(sys.argv[2])
    elif sys.argv[1:] == ["handler"]:
        handler_main()
    else:
        sys.exit("usage: python -m tests.test_browser probe CONFIG.json | handler")
