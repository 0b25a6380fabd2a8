"""crawler.workers: answers, errors, a worker's death, order, start and close."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from scrapy import signals
from scrapy.utils.test import get_crawler

import crawler.workers as workers_module
from bench.fastreplica import FastReplica
from bench.run import child_pids
from crawler import settings as project_settings
from crawler.files import UnsafePathError, inside
from crawler.items import ListProgress
from crawler.store.schema import connect
from crawler.store.search import bigram_text, check_search
from crawler.store.writes import close_database, write_progress_at
from crawler.transform.html.clean import clean_article
from crawler.workers import Workers
from tests.crawlrun import ROOT, crawl_command

BASE = {k: getattr(project_settings, k) for k in dir(project_settings) if k.isupper()}


class Stats:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def inc_value(self, key: str, count: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + count


def worker_pids(parent: int | None = None) -> list[int]:
    """The worker processes among ``parent``'s children (default: this process)."""
    return child_pids(os.getpid() if parent is None else parent)


def test_run_answers_like_the_function_and_raises_its_errors() -> None:
    async def main() -> None:
        stats = Stats()
        workers = Workers(1, stats)
        try:
            html = '<p>　　央行<a href="/a/1.html">降准</a></p><script>x()</script>'
            url = "https://finance.eastmoney.com/a/2.html"
            got = await workers.run(clean_article, html, url)
            assert got == clean_article(html, url)
            assert "央行" in got[2] and "<script" not in got[0]
            assert await workers.run(os.getpid) != os.getpid()  # it ran elsewhere
            # An exception of fn is raised here, with its type and message.
            with pytest.raises(UnsafePathError, match="outside"):
                await workers.run(inside, Path("/tmp/a"), "../../etc/passwd")
            # Calls made together are answered each to its caller.
            names = [f"{i}" for i in range(50)]
            answers = await asyncio.gather(*(workers.run(inside, Path("/tmp/a"), n) for n in names))
            assert answers == [Path("/tmp/a") / n for n in names]
            assert stats.values == {"finews/workers/calls": 53}
        finally:
            workers.close()

    asyncio.run(main())


def test_large_arguments_and_answers_cross_whole() -> None:
    async def main() -> None:
        workers = Workers(1, Stats())
        try:
            big = "央" * (3 << 20)  # 9 MiB as UTF-8
            calls = [workers.run(inside, Path("/tmp/a"), big[:10] + str(i)) for i in range(3)]
            answers = await asyncio.gather(*calls, workers.run(bigram_text, big))
            assert answers[:3] == [Path("/tmp/a") / (big[:10] + str(i)) for i in range(3)]
            assert len(answers[3]) == 3 * len(big) - 2
        finally:
            workers.close()

    asyncio.run(main())


def test_workers_off_run_on_a_thread_of_the_crawl_process() -> None:
    async def main() -> None:
        stats = Stats()
        workers = Workers(0, stats)
        try:
            assert await workers.run(os.getpid) == os.getpid()
            assert await workers.run(bigram_text, "央行降息") == "央行 行降 降息 息"
            with pytest.raises(UnsafePathError):
                await workers.run(inside, Path("/tmp/a"), "../b")
            assert stats.values == {}  # nothing sent, nothing failed over
        finally:
            workers.close()

    asyncio.run(main())


def test_falls_back_to_the_crawl_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arguments that do not pickle, a worker that died or could not start:
    the call runs in the crawl process, nothing is lost."""

    async def main() -> None:
        stats = Stats()
        workers = Workers(1, stats)
        try:
            assert await workers.run(bigram_text, "央行降息") == "央行 行降 降息 息"
            lam = lambda: None  # noqa: E731 - does not pickle
            assert await workers.run(bigram_text, lam) == bigram_text(lam)
            assert stats.values == {"finews/workers/calls": 1, "finews/workers/local": 1}
            os.kill(await workers.run(os.getpid), signal.SIGKILL)
            for _ in range(3):  # at once, or once the pool has seen the death: here
                assert await workers.run(bigram_text, "涨停") == "涨停 停"
            assert await workers.run(os.getpid) == os.getpid()  # here from now on
            assert stats.values["finews/workers/died"] == 1
            assert stats.values["finews/workers/local"] >= 5
        finally:
            workers.close()

        # A worker that cannot start (no interpreter there: OSError, like EAGAIN).
        monkeypatch.setattr(workers_module, "PYTHON", "/nonexistent/python3")
        stats = Stats()
        workers = Workers(1, stats)
        assert await workers.run(bigram_text, "央行") == "央行 行"
        assert stats.values == {"finews/workers/died": 1, "finews/workers/local": 1}
        workers.close()

    asyncio.run(main())


def test_a_lane_fails_over_in_order(tmp_path: Path) -> None:
    """The index lane's calls held by a worker that dies, and those made after,
    run in the crawl process in the order they were made: the column's
    progress ends at the last value written."""
    db_path = str(tmp_path / "finews.db")
    connect(db_path).close()

    async def main() -> None:
        stats = Stats()
        lane = Workers(1, stats, ordered=True)
        try:
            pid = await lane.run(os.getpid)
            busy = lane.run(time.sleep, 1.0)  # the worker is busy when it dies
            early = [
                lane.run(write_progress_at, db_path, ListProgress(350, f"2026-11-24 {i:02d}"))
                for i in range(30)
            ]
            asyncio.get_running_loop().call_later(0.3, os.kill, pid, signal.SIGKILL)
            await asyncio.sleep(0.5)
            late = [
                lane.run(write_progress_at, db_path, ListProgress(350, f"2026-11-25 {i:02d}"))
                for i in range(30)
            ]
            await asyncio.gather(busy, *early, *late)
            await lane.run(close_database, db_path)
        finally:
            lane.close()
        assert stats.values["finews/workers/died"] == 1

    asyncio.run(main())
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT reached FROM column_state").fetchall() == [("2026-11-25 29",)]


def test_started_early_and_none_left_after_close() -> None:
    """The process starts with the pool, before any call (it imports its
    modules meanwhile); a pool never used closes at once; none is left."""
    workers = Workers(1, Stats(), preload=["pipelines.clean"])
    try:
        deadline = time.monotonic() + 30
        while not worker_pids() and time.monotonic() < deadline:
            time.sleep(0.02)
        (pid,) = worker_pids()
    finally:
        workers.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert worker_pids() == []


def test_for_crawler_lanes_and_closing_at_spider_close() -> None:
    crawler = get_crawler(settings_dict={**BASE, "FINEWS_WORKERS": 2})
    stages = Workers.for_crawler(crawler)
    assert Workers.for_crawler(crawler) is stages and stages.size == 2 and not stages.ordered
    lane = Workers.for_crawler(crawler, lane="index")
    assert lane is not stages and lane.size == 1 and lane.ordered
    # Preloaded: the item pipelines' modules.
    deadline = time.monotonic() + 30
    while len(worker_pids()) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(worker_pids()) == 3
    crawler.signals.send_catch_log(signals.spider_closed, spider=None, reason="finished")
    assert worker_pids() == []
    off = get_crawler(settings_dict={**BASE, "FINEWS_WORKERS": 0})
    assert Workers.for_crawler(off).size == 0 and Workers.for_crawler(off, lane="index").size == 0


def test_a_worker_leaves_when_the_crawl_process_is_killed() -> None:
    """No orphan: a crawl process killed outright (OOM, SIGKILL) cannot close
    its pool; the worker notices its parent is gone and exits."""
    script = (
        "import asyncio, os, signal, sys\n"
        "from crawler.workers import Workers\n"
        "class Stats:\n"
        "    def inc_value(self, key, count=1): pass\n"
        "w = Workers(1, Stats())\n"
        "print(asyncio.run(w.run(os.getpid)), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pid = int(proc.stdout)
    deadline = time.monotonic() + 30
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    assert not alive, f"worker {pid} outlived its crawl process"


def lane_pids(parent: int, lane: str) -> list[int]:
    """The crawl's worker processes of ``lane``: the index lane's is the one
    with the database open (after its first write), the stages' the other."""
    found = []
    for pid in worker_pids(parent):
        try:
            files = {Path(f.path).name for f in psutil.Process(pid).open_files()}
        except psutil.NoSuchProcess:
            continue
        if ("finews.db" in files) == (lane == "index"):
            found.append(pid)
    return found


@pytest.mark.parametrize("lane", ["stages", "index"])
def test_a_worker_killed_mid_crawl_loses_nothing(tmp_path: Path, lane: str) -> None:
    """SIGKILL a worker while a crawl is busy, the stages' (clean, WARC,
    post) or the database writer's: its calls are redone in the crawl
    process; every article is archived once, the run ends ok, and the death
    is logged and counted."""
    n = 1200
    archive = tmp_path / "archive"
    with FastReplica(n) as replica:
        cmd = crawl_command(
            archive, replica.url, settings={"CONCURRENT_REQUESTS": "16", "LOG_LEVEL": "INFO"}
        )
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        killed = []
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline and proc.poll() is None:
            posts = sum(1 for _ in (archive / "_posts").rglob("*.md")) if archive.exists() else 0
            pids = lane_pids(proc.pid, lane) if posts >= 50 else []
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append((pids[0], posts))
            time.sleep(0.02)
        _, stderr = proc.communicate(timeout=300)
    assert killed, "the crawl ended before its worker could be killed"
    assert killed[0][1] < n // 2, killed  # killed early enough to matter
    assert proc.returncode == 0, stderr[-3000:]
    assert b"a worker process died" in stderr
    db = sqlite3.connect(archive / "finews.db")
    stats = json.loads(db.execute("SELECT stats FROM crawl_runs").fetchone()[0])
    assert stats["finews/workers/died"] == 1
    assert stats["finews/workers/local"] > 0
    assert db.execute("SELECT count(DISTINCT info_code) FROM articles").fetchone()[0] == n
    posts = list((archive / "_posts").rglob("*.md"))
    assert len(posts) == n
    assert all(p.read_text(encoding="utf-8").startswith("---\nlayout: post\n") for p in posts)
    assert len(list((archive / "raw" / "articles").rglob("*.warc.gz"))) == n
    assert check_search(db) == []
    # Nothing half-written under a real name; at most the killed worker's own
    # temp file of the write it was in (a dotfile Jekyll ignores).
    leftovers = [p.name for p in archive.rglob(".*.tmp")]
    assert len(leftovers) <= 1 and all(f".{killed[0][0]}.tmp" in n for n in leftovers), leftovers
