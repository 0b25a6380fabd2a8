"""``make bench``: the finews benchmark. Prints one table; ``bench/README.md`` explains it.

    .venv/bin/python -m bench [--quick] [--check] [--only e2e,stages,...] [--dir build/bench]

Figures (each a median of several runs on this machine, or a ratio of medians):

1. ``e2e``     articles archived/s by ``scrapy crawl columns`` (all pipelines) against the
               fast replica, vs a bare Scrapy spider downloading the same URLs
               (``bench/barespider.py``); also with FINEWS_WORKERS=0 (all in one process)
2. ``stages``  µs per article per pipeline stage (``bench/stages.py``)
3. ``extract`` finews extraction vs trafilatura on the replica's pages: articles/s, char F1
4. ``noop``    incremental run with nothing new over a 10,000- and a 100,000-article archive
5. ``memory``  peak RSS of a backfill crawl of N vs N/10 articles
6. ``rebuild`` ``scrapy rebuild`` of the backfilled archive: articles/s
7. ``search``  search latency at 1,000,000 articles (``bench/search.py`` when present,
               and direct bigram-index queries on the synthetic archive)
8. ``browser`` browser route vs fast route (``bench/browser.py``, when Chromium is present)

Exit code 0; with ``--check``, 1 when a figure misses its target.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import synth  # noqa: E402
from bench.fastreplica import FastReplica, capacity  # noqa: E402

PY = sys.executable
SCRAPY = str(Path(PY).parent / "scrapy")
FIGURES = [
    "e2e",
    "stages",
    "extract",
    "noop",
    "memory",
    "rebuild",
    "search",
    "browser",
    "import",
    "distributed",
]

#: Settings of every benchmark crawl (finews and bare alike): no politeness
#: delays against the local server, enough concurrency to keep Scrapy busy.
CRAWL_SETTINGS = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "RETRY_TIMES": "1",
    "LOG_LEVEL": "WARNING",
}

TARGETS = {
    "e2e_ratio": 0.6,  # finews rate / bare rate, at least
    "extract_f1": 0.99,  # on Eastmoney pages, at least
    "extract_speedup": 1.0,  # finews / trafilatura rate, more than
    "noop_time_ratio": 1.2,  # 100k / 10k, at most
    "memory_ratio": 1.3,  # big / small backfill peak RSS, at most
    "search_p95_ms": 100.0,  # table page (no facets) and canned search, at most
}


@dataclass
class Sizes:
    e2e: int
    e2e_reps: int
    stage_articles: int
    stage_reps: int
    extract_synthetic: int
    extract_reps: int
    noop: tuple[int, int]
    noop_reps: int
    memory: tuple[int, int]
    search: int
    search_queries: int
    browser_pages: int


FULL = Sizes(3000, 5, 300, 5, 200, 5, (10_000, 100_000), 5, (5_000, 50_000), 1_000_000, 30, 300)
QUICK = Sizes(300, 1, 40, 2, 20, 2, (1_000, 10_000), 2, (300, 3_000), 10_000, 8, 20)


@dataclass
class Run:
    """One subprocess run: exit code, wall seconds, in-process elapsed, peak RSS, stats."""

    rc: int
    wall: float
    rss_mb: float
    cpu: float = 0.0  # user + system seconds of the process
    stats: dict[str, Any] = field(default_factory=dict)
    stderr: str = ""
    child_rss_mb: float = 0.0  # its child processes' (the workers') peak RSS, added

    @property
    def elapsed(self) -> float:
        return float(self.stats.get("elapsed_time_seconds") or self.wall)


def run_process(cmd: list[str], timeout: float = 3600) -> Run:
    """Run ``cmd`` in the repository: exit code, wall time, CPU time (``wait4``), peak RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # stderr (small at LOG_LEVEL=WARNING) is drained by a thread while we wait.
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    peak_kb = 0
    child_peaks: dict[int, int] = {}
    workers: list[int] = []
    for tick in itertools.count():
        peak_kb = max(peak_kb, vm_hwm_kb(proc.pid))
        # The crawl's worker processes (crawler.workers: the stages', the database
        # writer's): each one's peak, added below (an upper bound of their sum).
        # Looked up every 0.1 s, not every tick: psutil reads every process's
        # stat (~5 ms) to find children; a worker lives as long as the crawl, and
        # VmHWM is a peak anyway.
        if tick % 5 == 0:
            workers = child_pids(proc.pid)
        for child in workers:
            child_peaks[child] = max(child_peaks.get(child, 0), vm_hwm_kb(child))
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=10)
    stderr = b"".join(chunks).decode("utf-8", "replace")
    cpu = usage.ru_utime + usage.ru_stime
    workers_mb = sum(child_peaks.values()) / 1024
    return Run(proc.returncode, wall, peak_kb / 1024, cpu, {}, stderr, workers_mb)


def child_pids(pid: int) -> list[int]:
    """The crawl's worker processes among ``pid``'s children (``python -m
    crawler.workers``; not, say, the Node driver of the start-up browser check)."""
    try:
        children = psutil.Process(pid).children()
    except psutil.Error:
        return []
    workers = []
    for child in children:
        try:
            if "crawler.workers" in child.cmdline():
                workers.append(child.pid)
        except psutil.Error:
            continue
    return workers


def vm_hwm_kb(pid: int) -> int:
    """Peak RSS so far of a running process (``VmHWM``), 0 when it is gone.

    Not ``wait4``'s ``ru_maxrss``: Linux carries the parent's RSS at fork
    into the child's maximum across ``exec``, so a child of this (large)
    harness would report at least the harness's size. ``VmHWM`` belongs to
    the exec'd image alone; sampled every 20 ms, its last value is the peak.
    Read from ``/proc``: psutil has no peak RSS.
    """
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def scrapy_cmd(args: list[str]) -> list[str]:
    return [SCRAPY, *args]


def settings_args(settings: dict[str, str]) -> list[str]:
    out: list[str] = []
    for key, value in settings.items():
        out += ["-s", f"{key}={value}"]
    return out


def last_run_stats(archive: Path) -> dict[str, Any]:
    con = sqlite3.connect(archive / "finews.db")
    try:
        row = con.execute("SELECT stats FROM crawl_runs ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        con.close()
    return json.loads(row[0]) if row and row[0] else {}


def finews_crawl(
    archive: Path,
    upstream: str,
    args: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
) -> Run:
    merged = {**CRAWL_SETTINGS, "FINEWS_ARCHIVE_DIR": str(archive), "FINEWS_UPSTREAM": upstream}
    merged.update(settings or {})
    cmd = ["crawl", "columns"]
    for key, value in (args or {}).items():
        cmd += ["-a", f"{key}={value}"]
    run = run_process(scrapy_cmd(cmd + settings_args(merged)))
    if (archive / "finews.db").exists():
        run.stats = last_run_stats(archive)
    if run.rc not in (0,):
        print(f"  warning: crawl exited {run.rc}: {run.stderr[-2000:]}", file=sys.stderr)
    return run


def bare_crawl(workdir: Path, upstream: str, count: int) -> Run:
    out = workdir / "bare-stats.json"
    out.unlink(missing_ok=True)
    merged = {**CRAWL_SETTINGS, "FINEWS_UPSTREAM": upstream}
    cmd = [SCRAPY, "runspider", "bench/barespider.py", "-a", f"count={count}", "-a", f"out={out}"]
    run = run_process(cmd + settings_args(merged))
    if out.exists():
        run.stats = json.loads(out.read_text())
    if run.rc != 0:
        print(f"  warning: bare crawl exited {run.rc}: {run.stderr[-2000:]}", file=sys.stderr)
    return run


def discard(path: Path, work: Path) -> None:
    """Move ``path`` (a finished run's archive) aside, into ``work/trash``; the
    trash is deleted when the whole benchmark is done (:func:`empty_trash`).

    Not deleted now, because on a file system without a journal (this VM's
    ext4) the kernel, allocating an inode, passes over every inode freed in the
    last 60 s (6 min while its block is dirty): after deleting a 3,000-article
    archive each new file cost ~120 µs to create instead of ~8, for minutes,
    which landed on finews's next crawl and never on the bare spider (it
    writes nothing). A cron run does not follow the deletion of thousands of
    files; the measured crawls should not either.
    """
    if path.exists():
        trash = work / "trash"
        trash.mkdir(exist_ok=True)
        path.rename(trash / f"{path.name}-{time.time_ns()}")


def empty_trash(work: Path) -> None:
    """Delete what :func:`discard` set aside (and the stage figure's files)."""
    doomed = [work / "trash", *work.glob("stages-*")]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)


def settle() -> None:
    """Flush what earlier runs (and their clean-up) left to the disk, then pause.

    Writes of the previous run still in the page cache would otherwise be
    written back during the next measured one.
    """
    os.sync()
    time.sleep(1.0)


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float]) -> float:
    """(max - min) / median of repeated measurements: how noisy they were."""
    m = med(values)
    return (max(values) - min(values)) / m if values and m else 0.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- figures


def fig_e2e(sizes: Sizes, work: Path) -> dict[str, Any]:
    n = sizes.e2e
    # "finews": as shipped (FINEWS_WORKERS=1: the heavy stages in a worker
    # process); "one process": FINEWS_WORKERS=0, everything on the reactor thread.
    variants = {"finews": None, "one process": {"FINEWS_WORKERS": "0"}}
    rates: dict[str, list[float]] = {"bare": [], **{k: [] for k in variants}}
    rss: dict[str, list[float]] = {k: [] for k in rates}
    ratios: dict[str, list[float]] = {k: [] for k in variants}
    cpu_ms: dict[str, list[float]] = {k: [] for k in rates}
    cores: dict[str, list[float]] = {k: [] for k in rates}
    with FastReplica(n) as replica:
        server_rps = capacity(replica.url, seconds=1.5, connections=4)
        for rep in range(sizes.e2e_reps):
            log(f"e2e: repetition {rep + 1}/{sizes.e2e_reps} ({n} articles)")
            settle()
            bare = bare_crawl(work, replica.url, n)
            got = bare.stats.get("downloader/response_status_count/200", 0)
            rates["bare"].append((got - bare_lists(n)) / bare.elapsed)
            rss["bare"].append(bare.rss_mb)
            cpu_ms["bare"].append(1000 * bare.cpu / n)
            cores["bare"].append(bare.cpu / max(bare.wall, 1e-9))
            for kind, settings in variants.items():
                archive = work / f"e2e-{kind.replace(' ', '-')}"
                discard(archive, work)
                settle()
                run = finews_crawl(archive, replica.url, settings=settings)
                archived = run.stats.get("finews/index/archived", 0)
                if archived != n:
                    log(f"  warning: {kind} archived {archived} of {n}")
                rates[kind].append(archived / run.elapsed)
                rss[kind].append(run.rss_mb)
                cpu_ms[kind].append(1000 * run.cpu / max(archived, 1))
                cores[kind].append(run.cpu / max(run.wall, 1e-9))
                ratios[kind].append(rates[kind][-1] / rates["bare"][-1])
    MEASURED["finews_rate"] = med(rates["finews"])
    return {
        "articles": n,
        "reps": sizes.e2e_reps,
        "server_capacity_rps": server_rps,
        "rate": {k: med(v) for k, v in rates.items()},
        "rate_spread": {k: spread(v) for k, v in rates.items()},
        "rss_mb": {k: med(v) for k, v in rss.items()},
        "cpu_ms_per_article": {k: med(v) for k, v in cpu_ms.items()},
        "cores_busy": {k: med(v) for k, v in cores.items()},
        "ratio": med(ratios["finews"]),
        "ratio_one_process": med(ratios["one process"]),
        "ratios": ratios["finews"],
        "ratios_one_process": ratios["one process"],
    }


def bare_lists(n: int) -> int:
    from bench.barespider import crawl_urls

    return len(crawl_urls(n, 50)[0])


def fig_stages(sizes: Sizes, work: Path) -> dict[str, Any]:
    from bench import stages

    log(f"stages: {sizes.stage_articles} articles x {sizes.stage_reps}")
    return stages.measure_stages(sizes.stage_articles, sizes.stage_reps, work)


def fig_extract(sizes: Sizes, work: Path) -> dict[str, Any]:
    from bench import stages

    log("extraction: finews vs trafilatura")
    return stages.measure_extraction(sizes.extract_synthetic, sizes.extract_reps)


def fig_noop(sizes: Sizes, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    runs: dict[int, list[Run]] = {}
    servers = {}
    for n in sizes.noop:
        db = work / f"archive-{n}" / "finews.db"
        seconds, reused = synth.ensure_archive(db, n)
        out[f"build_{n}"] = {"seconds": seconds, "reused": reused}
        log(f"noop: archive of {n} articles {'reused' if reused else f'built in {seconds:.0f} s'}")
    try:
        for n in sizes.noop:
            servers[n] = FastReplica(n).__enter__()
            runs[n] = []
        never: list[Run] = []
        for rep in range(sizes.noop_reps):
            for n in sizes.noop:
                servers[n].reset()
                run = finews_crawl(work / f"archive-{n}", servers[n].url)
                run.stats["server_hits"] = servers[n].stats()
                runs[n].append(run)
            # The same with the browser route off: what its start-up probe costs.
            big = sizes.noop[1]
            never.append(
                finews_crawl(
                    work / f"archive-{big}", servers[big].url, settings={"FINEWS_RENDER": "never"}
                )
            )
            log(f"noop: repetition {rep + 1}/{sizes.noop_reps}")
    finally:
        for server in servers.values():
            server.__exit__()
    for n, rs in runs.items():
        out[str(n)] = {
            "requests": [r.stats.get("downloader/request_count", 0) for r in rs],
            "server_hits": rs[-1].stats["server_hits"],
            "archived": sum(r.stats.get("finews/index/archived", 0) for r in rs),
            "wall": med([r.wall for r in rs]),
            "wall_spread": spread([r.wall for r in rs]),
            "elapsed": med([r.elapsed for r in rs]),
            "rss_mb": med([r.rss_mb for r in rs]),
            "exit_codes": sorted({r.rc for r in rs}),
        }
    out["render_never_wall"] = med([r.wall for r in never])
    small, big = (str(n) for n in sizes.noop)
    out["time_ratio"] = out[big]["wall"] / out[small]["wall"]
    out["elapsed_ratio"] = out[big]["elapsed"] / out[small]["elapsed"]
    out["same_requests"] = set(out[big]["requests"]) == set(out[small]["requests"])
    return out


#: Whether bench/search.py and bench/browser.py are run (--no-external turns them off).
EXTERNAL = {"enabled": True}

#: Seconds the big backfill may take (full run); at a slower measured rate it is scaled down.
MEMORY_BUDGET_S = 330.0
#: The finews rate measured by figure 1, when it ran (sizes the backfills).
MEASURED: dict[str, float] = {}


def memory_sizes(sizes: Sizes) -> tuple[int, int, str]:
    """(small, big, note): ``sizes.memory``, scaled down (keeping big = 10 x small) when
    the end-to-end rate says the big backfill would take more than MEMORY_BUDGET_S."""
    small, big = sizes.memory
    rate = MEASURED.get("finews_rate")
    if rate and big / rate > MEMORY_BUDGET_S:
        scaled = max(10 * small // 10, int(rate * MEMORY_BUDGET_S) // 1000 * 1000)
        scaled = max(scaled, 2000)
        note = (
            f"scaled from {small:,}/{big:,}: {big:,} at {rate:.0f}/s would take {big / rate:.0f} s"
        )
        return scaled // 10, scaled, note
    return small, big, ""


def fig_memory(sizes: Sizes, work: Path) -> dict[str, Any]:
    small, big, note = memory_sizes(sizes)
    out: dict[str, Any] = {"note": note}
    for n in (small, big):
        with FastReplica(n) as replica:
            archive = work / f"backfill-{n}"
            discard(archive, work)
            settle()
            log(f"memory: backfill of {n} articles")
            run = finews_crawl(archive, replica.url, args={"since": "2000-01-01"})
            out[str(n)] = {
                "rss_mb": run.rss_mb,
                "worker_rss_mb": run.child_rss_mb,
                "archived": run.stats.get("finews/index/archived", 0),
                "requests": run.stats.get("downloader/request_count", 0),
                "elapsed": run.elapsed,
                "rate": run.stats.get("finews/index/archived", 0) / run.elapsed,
                "rc": run.rc,
            }
    out["ratio_crawl"] = out[str(big)]["rss_mb"] / out[str(small)]["rss_mb"]
    # The target's figure: crawl process + workers, peaks added (an upper bound).
    total = {k: out[k]["rss_mb"] + out[k]["worker_rss_mb"] for k in (str(small), str(big))}
    out["ratio"] = total[str(big)] / total[str(small)]
    MEASURED["backfill_small"] = small
    return out


def fig_rebuild(sizes: Sizes, work: Path) -> dict[str, Any]:
    n = int(MEASURED.get("backfill_small") or memory_sizes(sizes)[0])
    archive = work / f"backfill-{n}"
    if not (archive / "finews.db").exists():
        with FastReplica(n) as replica:
            finews_crawl(archive, replica.url, args={"since": "2000-01-01"})
    log(f"rebuild: {archive}")
    merged = {**CRAWL_SETTINGS, "FINEWS_ARCHIVE_DIR": str(archive)}
    run = run_process([SCRAPY, "rebuild", *settings_args(merged)])
    con = sqlite3.connect(archive / "finews.db")
    rows = con.execute("SELECT count(*) FROM articles").fetchone()[0]
    con.close()
    return {"articles": rows, "wall": run.wall, "rate": rows / run.wall, "rc": run.rc}


def fig_import(sizes: Sizes, work: Path) -> dict[str, Any]:
    # Figure 9 lives in bench/importbench.py (make import's throughput and memory).
    from bench import importbench

    return importbench.fig_import(sizes.memory == QUICK.memory, work)


SEARCH_LINE = re.compile(
    r"^\s*(?P<label>[a-z]+ (?:SQL|HTTP))\s*\((?P<kind>[^)]*)\)?\s*median\s+(?P<med>[\d.]+) ms\s+p95\s+(?P<p95>[\d.]+) ms"
)


def fig_search(sizes: Sizes, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"direct": direct_fts(sizes, work)}
    script = ROOT / "bench" / "search.py"
    if script.exists() and EXTERNAL["enabled"]:
        log(f"search: bench/search.py {sizes.search} --queries {sizes.search_queries}")
        cmd = [PY, str(script), str(sizes.search), "--dir", str(work / f"search-{sizes.search}")]
        cmd += ["--queries", str(sizes.search_queries)]
        # A million articles of the usual ~900 characters would take an hour to
        # build here: short bodies (the row count is what the plans feel).
        if sizes.search >= SEARCH_SHORT_BODIES_FROM:
            cmd += ["--body-median", str(SEARCH_SHORT_BODY)]
        out["articles"] = sizes.search
        if (work / f"search-{sizes.search}" / "finews.db").exists():
            cmd.append("--reuse")
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=7200)
            out["search_py"] = parse_search_output(proc.stdout)
            out["search_py_rc"] = proc.returncode
            if proc.returncode != 0:
                out["search_py_error"] = proc.stderr[-500:]
        except subprocess.TimeoutExpired:
            out["search_py_rc"] = "timeout"
    return out


#: From this many articles figure 7's archive has short bodies (median characters).
SEARCH_SHORT_BODIES_FROM = 500_000
SEARCH_SHORT_BODY = 200


def parse_search_output(text: str) -> dict[str, dict[str, float]]:
    """``{"3/table SQL": {"median": ms, "p95": ms}, ...}`` from bench/search.py's report,
    and ``{"size/articles_search": {"mb": MB, "pct": % of the articles}}`` for each b-tree group."""
    found: dict[str, dict[str, float]] = {}
    length = ""
    for line in text.splitlines():
        if m := re.match(r"^  ([a-z_ ]+?)\s+([\d.]+)\s+([\d.]+) %$", line):
            found[f"size/{m.group(1).strip()}"] = {
                "mb": float(m.group(2)),
                "pct": float(m.group(3)),
            }
            continue
        if m := re.match(r"^(\d+)-character queries", line):
            length = m.group(1)
            continue
        if length and (
            m := re.search(r"^\s*(.+?)\s+median\s+([\d.]+) ms\s+p95\s+([\d.]+) ms", line)
        ):
            label = re.sub(r"\s+", " ", m.group(1)).strip()
            found[f"{length}/{label}"] = {"median": float(m.group(2)), "p95": float(m.group(3))}
            if cpu := re.search(r"cpu median ([\d.]+), p95 ([\d.]+) ms", line):
                found[f"{length}/{label}"].update(
                    cpu_median=float(cpu.group(1)), cpu_p95=float(cpu.group(2))
                )
    return found


def direct_fts(sizes: Sizes, work: Path) -> dict[str, Any]:
    """Datasette's table search statements, run directly on the synthetic archive's bigram index."""
    n = sizes.noop[1]
    db_path = work / f"archive-{n}" / "finews.db"
    synth.ensure_archive(db_path, n)
    con = sqlite3.connect(db_path)
    rng = random.Random(7)
    res: dict[str, Any] = {"articles": n}
    # What Datasette's table search runs (fts_pk: code, newest first), with the
    # plugin's bigram rewrite of the query (archive/plugins/finews_search.py).
    sql_rows = (
        "SELECT info_code, title, published_at FROM articles WHERE code IN "
        "(SELECT rowid FROM articles_search WHERE articles_search MATCH ?) "
        "ORDER BY published_at DESC LIMIT 101"
    )
    sql_count = "SELECT count(*) FROM articles_search WHERE articles_search MATCH ?"
    for length in (2, 3, 6):
        queries = []
        while len(queries) < sizes.search_queries:
            text = synth.synth_article(rng.randrange(n))["expected_text"]
            start = rng.randrange(max(1, len(text) - length))
            q = text[start : start + length]
            if len(q) == length and all("\u4e00" <= c <= "\u9fff" for c in q):
                queries.append(q)
        times, hits = [], []
        for q in queries:
            phrase = '"' + " ".join(q[i : i + 2] for i in range(len(q) - 1)) + '"'
            t0 = time.perf_counter()
            con.execute(sql_rows, [phrase]).fetchall()
            count = con.execute(sql_count, [phrase]).fetchone()[0]
            times.append((time.perf_counter() - t0) * 1000)
            hits.append(count)
        ordered = sorted(times)
        res[str(length)] = {
            "median_ms": med(times),
            "p95_ms": ordered[min(len(ordered) - 1, int(0.95 * len(ordered) + 0.5) - 1)],
            "queries": len(times),
            "median_hits": med(hits),
            "method": "bigram index (table search)",
        }
    con.close()
    return res


def fig_browser(sizes: Sizes, work: Path) -> dict[str, Any]:
    script = ROOT / "bench" / "browser.py"
    chromium = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if not EXTERNAL["enabled"]:
        return {"skipped": "--no-external"}
    if not script.exists() or not chromium:
        return {"skipped": "no bench/browser.py" if not script.exists() else "no Chromium"}
    out_json = work / "browser.json"
    out_json.unlink(missing_ok=True)
    log(f"browser: bench/browser.py --pages {sizes.browser_pages}")
    cmd = [PY, "-m", "bench.browser", "--pages", str(sizes.browser_pages), "--json", str(out_json)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return {"skipped": "timeout"}
    if proc.returncode != 0 or not out_json.exists():
        return {"skipped": f"bench/browser.py exited {proc.returncode}: {proc.stderr[-300:]}"}
    routes = {s["route"]: s for s in json.loads(out_json.read_text())}
    return {
        route: {
            "pages": s.get("pages"),
            "pages_per_s": s.get("pages_per_s_wall"),
            "rss_peak_mib": s.get("rss_peak_mib"),
            "pss_peak_mib": s.get("pss_peak_mib"),
        }
        for route, s in routes.items()
    }


def fig_distributed(sizes: Sizes, work: Path) -> dict[str, Any]:
    """Figure 10 (bench/distributed.py): articles/s for 1, 2, 3 workers under a
    per-host limit, and the Redis memory of a synthetic frontier."""
    from bench import distributed

    if not shutil.which("redis-server"):
        return {"skipped": "no redis-server"}
    quick = sizes is QUICK or sizes.e2e <= QUICK.e2e
    articles, frontier = (100, 20_000) if quick else (300, 1_000_000)
    runs = []
    for own, workers in ((False, 1), (False, 2), (False, 3), (True, 2), (True, 3)):
        log(f"distributed: {workers} workers, {'own' if own else 'one'} egress")
        runs.append(distributed.throughput(articles, workers, 0.1, own))
    log(f"distributed: a frontier of {frontier:,} requests")
    return {"throughput": runs, "frontier": distributed.frontier_memory(frontier)}


# --------------------------------------------------------------------------- report


def fmt(value: Any, digits: int = 1) -> str:
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


STAGE_NOTES = {
    "clean": "in the worker process",
    "markdown": "in the worker process",
    "yaml": "in the worker process",
    "warc build": "in the worker process",
    "warc write": "worker; wall, syncfs per 100",
    "post write": "worker; wall, syncfs per 100",
    "sqlite upsert": "index worker process; wall",
    "search index": "index worker process; wall",
    "total": "CPU of one process would be",
}


def table(results: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """Rows (figure, measure, value, reference, target, ok) and the missed targets."""
    rows: list[list[str]] = []
    missed: list[str] = []

    def check(name: str, ok: bool) -> str:
        if not ok:
            missed.append(name)
        return "ok" if ok else "MISSED"

    if e := results.get("e2e"):
        rate = e["rate"]
        rows.append(
            [
                "1 e2e",
                f"finews archived/s ({e['articles']:,} articles)",
                fmt(rate["finews"]),
                f"bare {fmt(rate['bare'])}/s",
                "",
                "",
            ]
        )
        rows.append(
            [
                "",
                "ratio finews / bare",
                fmt(e["ratio"], 2),
                "",
                f">= {TARGETS['e2e_ratio']}",
                check("e2e_ratio", e["ratio"] >= TARGETS["e2e_ratio"]),
            ]
        )
        rows.append(
            [
                "",
                "FINEWS_WORKERS=0 (one process): archived/s, ratio",
                f"{fmt(rate['one process'])} ({fmt(e['ratio_one_process'], 2)})",
                "",
                "",
                "",
            ]
        )
        cpu, busy = e["cpu_ms_per_article"], e.get("cores_busy", {})
        kinds = ("bare", "finews", "one process")
        rows.append(
            [
                "",
                "CPU ms per article (bare / finews / one process)",
                " / ".join(f"{cpu[k]:.1f}" for k in kinds),
                "cores busy " + " / ".join(f"{busy.get(k, 0):.2f}" for k in kinds),
                "",
                "",
            ]
        )
        rows.append(
            [
                "",
                "spread of repeated rates (bare / finews / one process)",
                " / ".join(f"{100 * e['rate_spread'][k]:.0f}%" for k in kinds),
                f"server {fmt(e['server_capacity_rps'], 0)} req/s",
                "",
                "",
            ]
        )
    if s := results.get("stages"):
        us = s["us"]
        for key in (
            "parse",
            "clean",
            "markdown",
            "yaml",
            "warc build",
            "warc write",
            "post write",
            "sqlite upsert",
            "search index",
            "dedupe lookup",
            "total",
        ):
            rows.append(
                [
                    "2 stages" if key == "parse" else "",
                    f"{key} µs/article",
                    fmt(us[key], 0),
                    STAGE_NOTES.get(key, ""),
                    "",
                    "",
                ]
            )
    if x := results.get("extract"):
        fin = x["finews"]
        for set_name in ("fixtures", "synthetic"):
            f = fin[set_name]
            t = x.get("trafilatura", {}).get(set_name)
            tf = x.get("trafilatura fast", {}).get(set_name)
            rows.append(
                [
                    "3 extract" if set_name == "fixtures" else "",
                    f"{set_name} ({x['pages'][set_name]} pages): articles/s",
                    fmt(f["rate"], 0),
                    f"trafilatura {fmt(t['rate'], 0)}, fast {fmt(tf['rate'], 0)}"
                    if t
                    else "trafilatura missing",
                    "> trafilatura",
                    check(
                        f"extract_speed_{set_name}",
                        bool(t) and f["rate"] > max(t["rate"], tf["rate"]),
                    ),
                ]
            )
            rows.append(
                [
                    "",
                    f"{set_name}: char F1 mean (min)",
                    f"{f['f1_mean']:.4f} ({f['f1_min']:.4f})",
                    f"trafilatura {t['f1_mean']:.4f} ({t['f1_min']:.4f})" if t else "",
                    f">= {TARGETS['extract_f1']}",
                    check(f"extract_f1_{set_name}", f["f1_min"] >= TARGETS["extract_f1"]),
                ]
            )
    if n := results.get("noop"):
        small, big = (k for k in n if k.isdigit())
        rows.append(
            [
                "4 no-op",
                "requests per run",
                f"{n[small]['requests'][0]} / {n[big]['requests'][0]}",
                f"{int(small):,} / {int(big):,} archived",
                "equal",
                check("noop_requests", n["same_requests"] and n[big]["archived"] == 0),
            ]
        )
        rows.append(
            [
                "",
                "wall s per run (median)",
                f"{n[small]['wall']:.2f} / {n[big]['wall']:.2f}",
                f"in-crawl {n[small]['elapsed']:.2f} / {n[big]['elapsed']:.2f}",
                "",
                "",
            ]
        )
        rows.append(
            [
                "",
                "time ratio big / small",
                fmt(n["time_ratio"], 2),
                f"spread {100 * n[small]['wall_spread']:.0f}% / {100 * n[big]['wall_spread']:.0f}%",
                f"<= {TARGETS['noop_time_ratio']}",
                check("noop_time", n["time_ratio"] <= TARGETS["noop_time_ratio"]),
            ]
        )
    if "render_never_wall" in (n or {}):
        rows.append(
            [
                "",
                "wall s, big archive, FINEWS_RENDER=never",
                f"{n['render_never_wall']:.2f}",
                "vs auto (default): Chromium probed at start",
                "",
                "",
            ]
        )
    if m := results.get("memory"):
        small, big = (k for k in m if k.isdigit())
        if m.get("note"):
            rows.append(["5 memory", "sizes", f"{int(small):,} / {int(big):,}", m["note"], "", ""])
        rows.append(
            [
                "" if m.get("note") else "5 memory",
                "peak RSS MB backfill small / big",
                f"{m[small]['rss_mb']:.0f} / {m[big]['rss_mb']:.0f}",
                f"{int(small):,} / {int(big):,} articles at {m[big]['rate']:.0f}/s",
                "",
                "",
            ]
        )
        if "worker_rss_mb" in m[small]:
            rows.append(
                [
                    "",
                    "worker processes' peak RSS MB small / big",
                    f"{m[small]['worker_rss_mb']:.0f} / {m[big]['worker_rss_mb']:.0f}",
                    "ratio below: crawl + workers",
                    "",
                    "",
                ]
            )
        rows.append(
            [
                "",
                "ratio big / small",
                fmt(m["ratio"], 2),
                "",
                f"<= {TARGETS['memory_ratio']}",
                check("memory_ratio", m["ratio"] <= TARGETS["memory_ratio"]),
            ]
        )
    if r := results.get("rebuild"):
        rows.append(
            [
                "6 rebuild",
                f"articles/s ({r['articles']:,} articles, wall)",
                fmt(r["rate"]),
                f"{r['wall']:.1f} s, exit {r['rc']}",
                "",
                "",
            ]
        )
    if q := results.get("search"):
        d = q["direct"]
        for length in ("2", "3", "6"):
            rows.append(
                [
                    "7 search" if length == "2" else "",
                    f"{length} chars, direct SQL median / p95 ms",
                    f"{d[length]['median_ms']:.1f} / {d[length]['p95_ms']:.1f}",
                    f"{d[length]['method']}, {d['articles']:,} rows, "
                    f"median {d[length]['median_hits']:,.0f} hits",
                    "",
                    "",
                ]
            )
        searched = q.get("search_py") or {}
        n = q.get("articles", 0)
        for key, v in searched.items():
            if key.startswith("size/"):
                if key in ("size/articles_search", "size/articles", "size/file"):
                    rows.append(
                        [
                            "",
                            f"search.py {n:,} articles: {key[5:]} MB",
                            f"{v['mb']:,.0f}",
                            "",
                            "",
                            "",
                        ]
                    )
                continue
            targeted = "table HTTP (nofacet)" in key or "canned HTTP" in key
            if targeted or any(
                w in key for w in ("table SQL (planned)", "canned SQL", "table HTTP (facets)")
            ):
                limit = TARGETS["search_p95_ms"]
                rows.append(
                    [
                        "",
                        f"search.py {key} median / p95 ms",
                        f"{v['median']:.1f} / {v['p95']:.1f}",
                        ("facets on: what they cost; " if "facets" in key else "")
                        + (
                            f"CPU {v['cpu_median']:.1f} / {v['cpu_p95']:.1f}"
                            if "cpu_p95" in v
                            else ""
                        ),
                        f"p95 < {limit:.0f}" if targeted else "",
                        check(f"search_{key}", v["p95"] < limit) if targeted else "",
                    ]
                )
        if "search_py_rc" in q and q["search_py_rc"] != 0:
            rows.append(["", "bench/search.py", f"exit {q['search_py_rc']}", "", "", ""])
    if b := results.get("browser"):
        if "skipped" in b:
            rows.append(["8 browser", "skipped", b["skipped"][:60], "", "", ""])
        else:
            br, fa = b.get("browser", {}), b.get("fast", {})
            rows.append(
                [
                    "8 browser",
                    "pages/s browser / fast",
                    f"{fmt(br.get('pages_per_s') or 0.0)} / {fmt(fa.get('pages_per_s') or 0.0)}",
                    f"{br.get('pages')} pages",
                    "",
                    "",
                ]
            )
            rows.append(
                [
                    "",
                    "peak RSS MiB browser / fast",
                    f"{fmt(br.get('rss_peak_mib') or 0.0, 0)} / {fmt(fa.get('rss_peak_mib') or 0.0, 0)}",
                    f"PSS {fmt(br.get('pss_peak_mib') or 0.0, 0)} / {fmt(fa.get('pss_peak_mib') or 0.0, 0)}",
                    "",
                    "",
                ]
            )
    if imp := results.get("import"):
        from bench import importbench

        for n, (measure, value, ref, target, ok) in enumerate(importbench.rows(imp)):
            name = ("import_rate", "import_rss_ratio", "import_cpu")[n]
            rows.append(
                ["9 import" if n == 0 else "", measure, value, ref, target, check(name, ok)]
            )
    if (di := results.get("distributed")) and "throughput" in di:
        for n, r in enumerate(di["throughput"]):
            egress = "own egress each" if r["own_egress"] else "one egress"
            rows.append(
                [
                    "" if n else "10 distributed",
                    f"articles/s, {r['workers']} worker(s), {egress}",
                    fmt(r["articles_per_s"]),
                    f"host limit {fmt(r['host_limit_per_s'])}/s",
                    "",
                    "",
                ]
            )
        fr = di["frontier"]
        rows.append(
            [
                "",
                f"Redis MiB, frontier of {fr['requests']:,} requests",
                fmt(fr["used_mib"], 0),
                f"{fmt(fr['bytes_per_request'], 0)} B/request",
                "",
                "",
            ]
        )
    return rows, missed


def render(rows: list[list[str]]) -> str:
    head = ["figure", "measure", "value", "reference", "target", "check"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--only", default="", help="comma list of figures: " + ",".join(FIGURES))
    parser.add_argument("--dir", type=Path, default=ROOT / "build" / "bench", help="work directory")
    parser.add_argument(
        "--json", type=Path, help="write the results here (default DIR/results.json)"
    )
    parser.add_argument("--e2e", type=int, help="articles in the end-to-end crawl")
    parser.add_argument("--memory", help="backfill sizes, e.g. 5000,50000")
    parser.add_argument("--noop", help="archive sizes, e.g. 10000,100000")
    parser.add_argument("--reps", type=int, help="repetitions of the crawl figures")
    parser.add_argument(
        "--no-external",
        action="store_true",
        help="do not run bench/search.py and bench/browser.py (figures 7 and 8 then show only "
        "the direct FTS measurement)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    sizes = Sizes(**vars(sizes))
    if args.e2e:
        sizes.e2e = args.e2e
    if args.memory:
        sizes.memory = tuple(int(x) for x in args.memory.split(","))  # type: ignore[assignment]
    if args.noop:
        sizes.noop = tuple(int(x) for x in args.noop.split(","))  # type: ignore[assignment]
    if args.reps:
        sizes.e2e_reps = sizes.noop_reps = args.reps
    EXTERNAL["enabled"] = not args.no_external
    chosen = [f for f in (args.only.split(",") if args.only else FIGURES) if f]
    unknown = set(chosen) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figures: {', '.join(sorted(unknown))}")
    work = args.dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "sizes": vars(sizes),
        "quick": args.quick,
        "load_before": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    t_start = time.perf_counter()
    for name in chosen:
        t0 = time.perf_counter()
        results[name] = globals()[f"fig_{name}"](sizes, work)
        results[name + "_seconds"] = time.perf_counter() - t0
        log(f"{name}: {time.perf_counter() - t0:.0f} s")
    results["seconds"] = time.perf_counter() - t_start
    results["load_after"] = os.getloadavg()
    empty_trash(work)
    out_json = args.json or work / "results.json"
    out_json.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str))
    rows, missed = table(results)
    print(render(rows))
    print(
        f"\n{'quick' if args.quick else 'full'} run, {results['seconds']:.0f} s; load average "
        f"{results['load_before'][0]:.1f} before, {results['load_after'][0]:.1f} after "
        f"({results['cpus']} CPUs); results in {out_json}"
    )
    if missed:
        print("targets missed: " + ", ".join(missed))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
