"""The worker processes of crawler.offload: answers, errors, a worker's death."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from bench.fastreplica import FastReplica
from crawler.files import UnsafePathError, inside
from crawler.offload import WorkerDied, _name_of, _Worker
from crawler.store.search import check_search
from crawler.transform.html.clean import clean_article
from tests.crawlrun import ROOT, crawl_command


def test_worker_answers_like_the_function_and_raises_its_errors() -> None:
    async def main() -> None:
        worker = _Worker()
        try:
            html = '<p>　　央行<a href="/a/1.html">降准</a></p><script>x()</script>'
            got = await worker.call(
                _name_of(clean_article), (html, "https://finance.eastmoney.com/a/2.html")
            )
            assert got == clean_article(html, "https://finance.eastmoney.com/a/2.html")
            assert "央行" in got[2] and "<script" not in got[0]
            # An exception in the worker is raised here, with its type and message.
            with pytest.raises(UnsafePathError, match="outside"):
                await worker.call(_name_of(inside), (Path("/tmp/a"), "../../etc/passwd"))
            # Calls are answered concurrently-submitted, each to its caller.
            names = [f"{i}" for i in range(50)]
            answers = await asyncio.gather(
                *(worker.call(_name_of(inside), (Path("/tmp/a"), n)) for n in names)
            )
            assert answers == [Path("/tmp/a") / n for n in names]
            # A dead worker fails the waiting and later calls with WorkerDied.
            os.kill(worker.proc.pid, signal.SIGKILL)
            with pytest.raises(WorkerDied):
                for _ in range(100):
                    await worker.call(_name_of(inside), (Path("/tmp/a"), "x"))
                    await asyncio.sleep(0.01)
        finally:
            worker.close()
        assert worker.proc.returncode is not None

    asyncio.run(main())


def test_only_finews_functions_are_offloaded() -> None:
    with pytest.raises(ValueError, match="cannot be offloaded"):
        _name_of(os.path.join)
    with pytest.raises(ValueError, match="cannot be offloaded"):
        _name_of(lambda: None)


class Stats:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def inc_value(self, key: str, count: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + count


def test_offload_falls_back_to_the_crawl_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offload.call: answers from the worker; the function's own errors as they
    are; arguments that do not pickle, a worker that cannot start or that died:
    the call runs here, nothing is lost."""
    import crawler.offload as offload_module
    from crawler.store.search import bigram_text

    async def main() -> None:
        stats = Stats()
        offload = offload_module.Offload(1, stats, needs_reactor=False)
        try:
            assert await offload.call(bigram_text, "央行降息") == "央行 行降 降息 息"
            with pytest.raises(UnsafePathError):
                await offload.call(inside, Path("/tmp/a"), "../b")
            assert not offload.broken
            lam = lambda: None  # noqa: E731 - does not pickle
            assert await offload.call(bigram_text, lam) == bigram_text(lam)
            assert stats.values == {"finews/offload/calls": 3, "finews/offload/local": 1}
            assert not offload.broken
            (worker,) = offload.workers
            os.kill(worker.proc.pid, signal.SIGKILL)
            worker.proc.wait()
            for _ in range(50):  # until the reader has seen the EOF
                got = await offload.call(bigram_text, "涨停")
                assert got == "涨停 停"
                if offload.broken:
                    break
                await asyncio.sleep(0.02)
            assert offload.broken and stats.values["finews/offload/died"] == 1
            assert await offload.call(bigram_text, "a") == "a"  # local from now on
        finally:
            offload.close()

        def no_processes(*args: object, **kwargs: object) -> None:
            raise OSError("fork: resource temporarily unavailable")

        monkeypatch.setattr(offload_module.subprocess, "Popen", no_processes)
        stats = Stats()
        offload = offload_module.Offload(1, stats, needs_reactor=False)
        assert await offload.call(bigram_text, "央行") == "央行 行"
        assert offload.broken and stats.values["finews/offload/local"] == 1
        offload.close()

    asyncio.run(main())
    # Outside a crawl (no running loop, or not Twisted's asyncio reactor): local.
    assert not offload_module.Offload(1, Stats()).enabled


def worker_pids(parent: int, lane: str) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(parent)], capture_output=True, text=True
    ).stdout
    return [
        int(line.split()[0])
        for line in out.splitlines()
        if "crawler.offload" in line and line.split()[-1] == lane
    ]


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
            pids = worker_pids(proc.pid, lane)
            if pids and posts >= 50:
                os.kill(pids[0], signal.SIGKILL)
                killed.append((pids[0], posts))
            time.sleep(0.02)
        _, stderr = proc.communicate(timeout=300)
    assert killed, "the crawl ended before its worker could be killed"
    assert killed[0][1] < n // 2, killed  # killed early enough to matter
    assert proc.returncode == 0, stderr[-3000:]
    assert b"offload worker died" in stderr
    db = sqlite3.connect(archive / "finews.db")
    stats = json.loads(db.execute("SELECT stats FROM crawl_runs").fetchone()[0])
    assert stats["finews/offload/died"] == 1
    assert stats["finews/offload/local"] > 0
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
