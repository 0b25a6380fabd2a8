"""Benchmark the browser route against the fast route, on the local replica.

    .venv/bin/python -m bench.browser [--pages 2000] [--route both|browser|fast]
        [--concurrency 4] [--recycle 100] [--max-contexts 2] [--chromium PATH] [--json OUT]

- browser: N Choice share pages (``NewsShare.html?infoCode=…``) rendered with
  Chromium through scrapy-playwright (``crawler.browser``: render_request_meta,
  playwright_settings, a new browser context every ``--recycle`` pages),
  against ``Replica(refuse_json=True)``: only the page's own script gets the
  Choice JSON. Each render is parsed (``parse_rendered_share``) and snapshotted
  (``render_snapshots``) as the spider would.
- fast: the same N articles as plain HTTP GETs of ``GetNewsText.do`` (replica
  without refuse_json), parsed by ``parse_choice_text``.

The replica runs in its own process; the crawl runs in another
(``python -m bench.browser --crawl CONFIG``). This process samples, every
second, with psutil, the RSS of the crawl process plus all its children (the
Playwright driver and every Chromium process), and their PSS too (Chromium's
processes share pages, so the RSS sum over-counts). It prints pages/s and the
memory curve: min, median and peak per 10% of the run's wall time.

The Chromium is ``--chromium`` (default: the project's ``FINEWS_CHROMIUM``,
through :class:`crawler.config.FinewsConfig`), found as the crawler finds it
(:func:`crawler.browser.chromium.find_chromium`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MIB = 1024 * 1024

# --------------------------------------------------------------------------- memory sampling


def _proc_tree(pid: int) -> list[psutil.Process]:
    """``pid`` and all its descendants ([] when it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _mem(proc: psutil.Process) -> tuple[int, int, str]:
    """(RSS bytes, PSS bytes or 0, executable name) of one process."""
    try:
        info = proc.memory_full_info()
        return info.rss, getattr(info, "pss", 0), proc.name()
    except psutil.Error:  # the process just ended (or is not ours to read)
        return 0, 0, ""


class Sampler(threading.Thread):
    """Every ``interval`` s: total RSS/PSS of ``pid`` and its descendants."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[dict[str, float]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            t = time.time()
            rss = pss = browser_rss = browser_pss = driver_pss = 0
            procs = chromium = 0
            crawler_pss = 0
            for proc in _proc_tree(self.pid):
                r, p, name = _mem(proc)
                if not r:
                    continue
                procs += 1
                rss, pss = rss + r, pss + p
                if proc.pid == self.pid:
                    crawler_pss = p
                elif "chrom" in name or "headless" in name:
                    chromium += 1
                    browser_rss, browser_pss = browser_rss + r, browser_pss + p
                else:  # the Playwright driver (node)
                    driver_pss += p
            if procs:
                self.samples.append(
                    {
                        "t": t,
                        "rss": rss,
                        "pss": pss,
                        "crawler_pss": crawler_pss,
                        "driver_pss": driver_pss,
                        "browser_rss": browser_rss,
                        "browser_pss": browser_pss,
                        "procs": procs,
                        "chromium": chromium,
                    }
                )
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


# --------------------------------------------------------------------------- the crawl (subprocess)


def crawl_main(config_path: str) -> None:
    import scrapy
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    from crawler.browser.addon import playwright_settings
    from crawler.browser.render import render_request_meta
    from crawler.browser.snapshots import render_snapshots
    from crawler.eastmoney.choice import parse_choice_text
    from crawler.eastmoney.rendered import parse_rendered_share
    from crawler.eastmoney.urls import choice_text_url, share_page_url

    cfg = json.loads(Path(config_path).read_text())
    route = cfg["route"]

    class BenchSpider(scrapy.Spider):
        name = "bench_browser"

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.ok = self.failed = self.snapshot_bytes = 0
            self.done: list[float] = []
            self.errors: dict[str, int] = {}

        async def start(self):
            codes = cfg["codes"]
            for i in range(cfg["pages"]):
                code = codes[i % len(codes)]
                if route == "browser":
                    url = share_page_url(code)
                    meta = render_request_meta("share", timeout_ms=15_000)
                else:
                    url = choice_text_url("NW" + code)
                    meta = {}
                yield scrapy.Request(
                    url,
                    callback=self.parse,
                    errback=self.errback,
                    meta=meta,
                    dont_filter=True,
                    priority=cfg["pages"] - i,
                )

        def parse(self, response):
            if route == "browser":
                snaps = render_snapshots(response)
                self.snapshot_bytes += sum(len(s.body) for s in snaps)
                share, reason = parse_rendered_share(response.text, response.url, snaps)
                good = share is not None and share.source == "json"
            else:
                text, reason = parse_choice_text(response.text, response.url)
                good = text is not None
            if good:
                self.ok += 1
            else:
                self.failed += 1
                self.errors[reason[:80]] = self.errors.get(reason[:80], 0) + 1
            self.done.append(time.time())

        def errback(self, failure):
            self.failed += 1
            key = f"{failure.type.__name__}: {failure.getErrorMessage()[:60]}"
            self.errors[key] = self.errors.get(key, 0) + 1
            self.done.append(time.time())

        def closed(self, reason):
            stats = self.crawler.stats.get_stats()
            Path(cfg["out"]).write_text(
                json.dumps(
                    {
                        "ok": self.ok,
                        "failed": self.failed,
                        "errors": self.errors,
                        "done": self.done,
                        "snapshot_bytes": self.snapshot_bytes,
                        "stats": {
                            k: v
                            for k, v in stats.items()
                            if k.startswith(
                                ("playwright/", "finews/render", "downloader/response_count")
                            )
                        },
                        "reason": reason,
                    }
                )
            )

    settings = get_project_settings()
    overrides: dict[str, Any] = {
        "FINEWS_UPSTREAM": cfg["upstream"],
        "FINEWS_ARCHIVE_DIR": cfg["archive"],
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "CONCURRENT_REQUESTS": cfg["concurrency"],
        "CONCURRENT_REQUESTS_PER_DOMAIN": cfg["concurrency"],
        "RETRY_TIMES": 1,
        "ROBOTSTXT_OBEY": False,
        "LOG_LEVEL": "WARNING",
        "LOG_FILE": cfg["log"],
        "ITEM_PIPELINES": {},
        "EXTENSIONS": {},
        "MEMUSAGE_ENABLED": False,
    }
    if route == "browser":
        overrides.update(
            playwright_settings(
                cfg["chromium"],
                max_contexts=cfg["max_contexts"],
                max_pages=cfg["concurrency"],
                nav_timeout_ms=30_000,
                downloader_middlewares=settings.getdict("DOWNLOADER_MIDDLEWARES"),
            )
        )
        # Read by RenderContextMiddleware (through FinewsConfig).
        overrides["FINEWS_RENDER_RECYCLE_PAGES"] = cfg["recycle"]
    settings.update(overrides, priority="cmdline")
    process = CrawlerProcess(settings)
    process.crawl(BenchSpider)
    process.start()


# --------------------------------------------------------------------------- orchestration


def start_replica(refuse_json: bool) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "tests.replica.server", "--port", "0"]
    if refuse_json:
        cmd.append("--refuse-json")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip() if proc.stdout else ""
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"replica did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def run_route(route: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from crawler.browser.chromium import find_chromium
    from tests.replica.fixtures import load_articles

    codes = [a["code"] for a in load_articles() if a["choice"] == "ok" and a["np_dst"] == "CMS"]
    replica, origin = start_replica(refuse_json=route == "browser")
    out = work / f"{route}.json"
    config = {
        "route": route,
        "pages": args.pages,
        "codes": codes,
        "upstream": origin,
        "archive": str(work / "archive"),
        "out": str(out),
        "log": str(work / f"{route}.log"),
        "concurrency": args.concurrency,
        "recycle": args.recycle,
        "max_contexts": args.max_contexts,
        "chromium": find_chromium(args.chromium) or "",
    }
    if route == "browser" and not config["chromium"]:
        raise SystemExit("no Chromium found (apt-get install chromium-headless-shell)")
    path = work / f"{route}.config.json"
    path.write_text(json.dumps(config))
    try:
        start = time.time()
        crawl = subprocess.Popen(
            [sys.executable, "-m", "bench.browser", "--crawl", str(path)], cwd=ROOT
        )
        sampler = Sampler(crawl.pid, args.interval)
        sampler.start()
        crawl.wait()
        end = time.time()
        sampler.stop()
    finally:
        replica.terminate()
        replica.wait(10)
    if crawl.returncode != 0 or not out.exists():
        log = Path(config["log"]).read_text()[-3000:] if Path(config["log"]).exists() else ""
        raise SystemExit(f"{route} crawl failed ({crawl.returncode}):\n{log}")
    result = json.loads(out.read_text())
    result.update(route=route, start=start, end=end, samples=sampler.samples)
    return result


def summarize(r: dict[str, Any]) -> dict[str, Any]:
    done = sorted(r["done"])
    wall = r["end"] - r["start"]
    steady = (done[-1] - done[0]) if len(done) > 1 else 0.0
    samples = r["samples"]
    t0, t1 = (samples[0]["t"], samples[-1]["t"]) if samples else (r["start"], r["end"])
    deciles = []
    for i in range(10):
        lo = t0 + (t1 - t0) * i / 10
        hi = t0 + (t1 - t0) * (i + 1) / 10
        part = [s for s in samples if lo <= s["t"] <= hi] or samples[-1:]
        rss = [s["rss"] / MIB for s in part]
        pss = [s["pss"] / MIB for s in part]
        pages = sum(1 for d in done if lo <= d < hi or (i == 9 and d == hi))
        deciles.append(
            {
                "decile": f"{i * 10}-{(i + 1) * 10}%",
                "pages": pages,
                "pages_per_s": pages / (hi - lo) if hi > lo else 0.0,
                "rss_min": min(rss),
                "rss_median": statistics.median(rss),
                "rss_peak": max(rss),
                "pss_median": statistics.median(pss),
                "pss_peak": max(pss),
                "browser_rss_peak": max(s["browser_rss"] / MIB for s in part),
                "crawler_pss_median": statistics.median(s["crawler_pss"] / MIB for s in part),
                "driver_pss_median": statistics.median(s["driver_pss"] / MIB for s in part),
                "browser_pss_median": statistics.median(s["browser_pss"] / MIB for s in part),
                "procs_peak": max(s["procs"] for s in part),
            }
        )
    return {
        "route": r["route"],
        "pages": len(done),
        "ok": r["ok"],
        "failed": r["failed"],
        "errors": r["errors"],
        "wall_s": wall,
        "pages_per_s_wall": len(done) / wall if wall else 0.0,
        "pages_per_s_steady": (len(done) - 1) / steady if steady else 0.0,
        "rss_peak_mib": max((s["rss"] / MIB for s in samples), default=0.0),
        "pss_peak_mib": max((s["pss"] / MIB for s in samples), default=0.0),
        "snapshot_mib": r["snapshot_bytes"] / MIB,
        "deciles": deciles,
        "stats": r["stats"],
    }


def print_summary(s: dict[str, Any]) -> None:
    print(
        f"\n== {s['route']} route: {s['pages']} pages ({s['ok']} ok, {s['failed']} failed) "
        f"in {s['wall_s']:.1f}s: {s['pages_per_s_wall']:.1f} pages/s wall, "
        f"{s['pages_per_s_steady']:.1f} pages/s first-to-last response"
    )
    print(
        f"   peak RSS (crawler + children) {s['rss_peak_mib']:.0f} MiB, peak PSS {s['pss_peak_mib']:.0f} MiB"
    )
    if s["errors"]:
        print(f"   errors: {s['errors']}")
    print("   MiB; PSS split by process: scrapy (python) / driver (node) / chromium")
    print(
        f"   {'part':>8} {'pages':>6} {'pg/s':>6} {'RSS min':>8} {'median':>7} {'peak':>7}"
        f" {'PSS med':>8} {'peak':>7} {'scrapy':>7} {'driver':>7} {'chromium':>8} {'procs':>5}"
    )
    for d in s["deciles"]:
        print(
            f"   {d['decile']:>8} {d['pages']:>6} {d['pages_per_s']:>6.1f} {d['rss_min']:>8.0f}"
            f" {d['rss_median']:>7.0f} {d['rss_peak']:>7.0f} {d['pss_median']:>8.0f}"
            f" {d['pss_peak']:>7.0f} {d['crawler_pss_median']:>7.0f} {d['driver_pss_median']:>7.0f}"
            f" {d['browser_pss_median']:>8.0f} {d['procs_peak']:>5}"
        )
    interesting = {k: v for k, v in s["stats"].items() if "count" in k and "resource_type" not in k}
    if interesting:
        print(f"   stats: {json.dumps(interesting, sort_keys=True)}")


def project_chromium() -> str:
    """``FINEWS_CHROMIUM`` of the project's settings (``""``: let the crawler find one)."""
    from scrapy.utils.project import get_project_settings

    from crawler.config import FinewsConfig

    return FinewsConfig.from_settings(get_project_settings()).chromium


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--route", choices=("both", "browser", "fast"), default="both")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--recycle", type=int, default=100, help="pages per browser context")
    parser.add_argument("--max-contexts", type=int, default=2)
    parser.add_argument("--interval", type=float, default=1.0, help="sampling interval, s")
    parser.add_argument(
        "--chromium", help="Chromium executable (default: the project's FINEWS_CHROMIUM, or found)"
    )
    parser.add_argument("--json", help="also write the summaries here")
    parser.add_argument("--crawl", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.crawl:
        crawl_main(args.crawl)
        return
    if args.chromium is None:
        args.chromium = project_chromium()
    print(
        f"memory sampler: psutil; {args.pages} pages, "
        f"concurrency {args.concurrency}, new context every {args.recycle} pages"
    )
    routes = ["browser", "fast"] if args.route == "both" else [args.route]
    summaries = []
    with tempfile.TemporaryDirectory(prefix="finews-bench-") as tmp:
        for route in routes:
            summary = summarize(run_route(route, args, Path(tmp)))
            print_summary(summary)
            summaries.append(summary)
    if args.json:
        Path(args.json).write_text(json.dumps(summaries, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
