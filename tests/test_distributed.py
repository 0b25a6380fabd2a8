"""Distributed backfills: 3 workers + 1 writer against the replica, through a real
redis-server (free loopback port, persistence on, data in tmp).

The reference is a single-machine backfill of the same replica (tests/crawlrun.py):
the distributed archive must digest the same (tests/golden.py: post bytes,
WARC payloads, rows) — also when a worker or the writer is killed with
SIGKILL mid-run, when Redis restarts mid-run, and under the replica's faults.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request

from crawler.distributed.frontier import work_identity
from tests.crawlrun import ROOT, run_crawl
from tests.distrun import DistributedRun
from tests.golden import digest
from tests.redisrun import RedisServer
from tests.replica.faults import Faults
from tests.replica.server import Replica

WINDOW = {"since": "2000-01-01"}
PAGE = {"FINEWS_PAGE_SIZE": "20"}
PARTS = ("posts", "categories", "warc", "rows")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A single-machine backfill of the replica: its digest, exit code and request counts."""
    archive = tmp_path_factory.mktemp("local") / "archive"
    with Replica() as replica:
        result = run_crawl(archive, replica.url, args=WINDOW, settings=PAGE, expect_exit=None)
        fetched = article_fetches(replica.requests())
    return {"digest": digest(archive), "exit": result.returncode, "fetches": fetched}


def article_fetches(log: list[dict[str, Any]]) -> Counter[str]:
    """How often each article page and Choice text was requested."""
    return Counter(
        e["path"] + e["query"].get("id", "")
        for e in log
        if e["path"].startswith(("/a/", "/NewsData/"))
    )


def stat(server: RedisServer, name: str) -> int:
    try:
        return int(server.client().hget("finews:stats", name) or 0)
    except Exception:  # restarting
        return 0


def wait_for(predicate: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the run never got there")
        time.sleep(0.05)


def busy_worker(server: RedisServer, run: DistributedRun) -> Any:
    """A worker that has handed items off and holds leases now (by its heartbeat)."""
    found: list[Any] = []

    def look() -> bool:
        client = server.client()
        for key in client.scan_iter(match="finews:worker:*"):
            beat = json.loads(client.get(key) or "{}")
            handed_off = beat.get("stats", {}).get("finews/distributed/handed_off", 0)
            if handed_off >= 3 and beat.get("leases", 0) >= 2:
                found.extend(p for p in run.workers if p.pid == beat.get("pid"))
        return bool(found)

    wait_for(look)
    return found[0]


def assert_same(archive: Path, reference: dict[str, Any]) -> None:
    ours = digest(archive)
    for part in PARTS:
        assert ours[part] == reference["digest"][part], f"{part} differ from the local crawl"
    assert len(ours["posts"]) == 40


def finish(run: DistributedRun, reference: dict[str, Any]) -> dict[str, int]:
    try:
        codes = run.wait()
    finally:
        run.stop()
    logs = run.logs()
    assert "Traceback" not in logs, logs[-6000:]
    writers = [c for name, c in codes.items() if name.startswith("writer")]
    assert writers[-1] == reference["exit"], logs[-4000:]
    return codes


def test_identity_is_the_work_not_the_url() -> None:
    one = Request("http://x/list?req_trace=1", meta={"column": 350, "page": 2})
    two = Request("http://x/list?req_trace=2", meta={"column": 350, "page": 2})
    assert work_identity(one) == work_identity(two) == "list:350:2"
    assert work_identity(Request("http://x/a", meta={"column": 350, "page": 3})) != "list:350:2"


def test_three_workers_one_writer_archive_everything_once(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    with RedisServer(tmp_path / "redis") as server, Replica() as replica:
        run = DistributedRun(tmp_path, replica.url, server.url, WINDOW, PAGE).start(3)
        codes = finish(run, reference)
        assert sorted(c for n, c in codes.items() if n.startswith("columns_worker")) == [0, 0, 0]
        fetched = article_fetches(replica.requests())
        status = subprocess.run(
            [str(Path(sys.executable).parent / "scrapy"), "distributed-status", "--interval", "0.2",
             "-s", f"FINEWS_REDIS_URL={server.url}"],  # fmt: skip
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert server.client().llen("finews:items") == 0
    assert_same(tmp_path / "archive", reference)
    # Each article page and Choice text fetched as often as by one crawler: none twice.
    assert fetched == reference["fetches"]
    assert "frontier: 0 queued, 0 leased" in status.stdout, status.stdout + status.stderr
    assert "0 waiting for the writer, 0 at the writer" in status.stdout
    assert "workers:  0 alive" in status.stdout


def test_a_worker_killed_mid_run_loses_nothing(tmp_path: Path, reference: dict[str, Any]) -> None:
    with RedisServer(tmp_path / "redis") as server, Replica() as replica:
        settings = {**PAGE, "FINEWS_HOST_INTERVAL": "0.1"}
        run = DistributedRun(tmp_path, replica.url, server.url, WINDOW, settings).start(3)
        victim = busy_worker(server, run)
        run.kill(victim)
        run.workers.remove(victim)
        finish(run, reference)
        requeued = stat(server, "requeued")
    assert_same(tmp_path / "archive", reference)
    assert requeued >= 1, "the killed worker's leases came back to the queue"


def test_the_writer_killed_mid_run_loses_nothing(tmp_path: Path, reference: dict[str, Any]) -> None:
    with RedisServer(tmp_path / "redis") as server, Replica() as replica:
        settings = {**PAGE, "FINEWS_HOST_INTERVAL": "0.1"}
        run = DistributedRun(tmp_path, replica.url, server.url, WINDOW, settings).start(3)
        wait_for(lambda: stat(server, "items_pushed") >= 8)
        run.kill(run.writers.pop())
        for worker in run.workers:  # the workers finish without a writer
            worker.wait(timeout=300)
        client = server.client()
        waiting = client.llen("finews:items") + client.llen("finews:processing")
        assert waiting > 0, "the items wait in Redis"
        run.start_writer()
        finish(run, reference)
    assert_same(tmp_path / "archive", reference)


def test_redis_restarted_mid_run(tmp_path: Path, reference: dict[str, Any]) -> None:
    with RedisServer(tmp_path / "redis") as server, Replica() as replica:
        settings = {**PAGE, "FINEWS_HOST_INTERVAL": "0.1", "FINEWS_REDIS_LEASE_SECONDS": "10"}
        run = DistributedRun(tmp_path, replica.url, server.url, WINDOW, settings).start(3)
        wait_for(lambda: stat(server, "items_pushed") >= 5)
        server.restart(down_seconds=1.5)
        finish(run, reference)
        assert "redis unreachable" in run.logs()
    assert_same(tmp_path / "archive", reference)


def test_replica_faults_apply(tmp_path: Path, reference: dict[str, Any]) -> None:
    faults = Faults(
        seed=5, error_share=0.15, throttle_share=0.05, reset_share=0.05, truncate_share=0.05
    )
    with RedisServer(tmp_path / "redis") as server, Replica(faults=faults) as replica:
        # At most two faults in a row for one URL (Faults.max_streak): three tries get through.
        settings = {**PAGE, "RETRY_TIMES": "3"}
        run = DistributedRun(tmp_path, replica.url, server.url, WINDOW, settings).start(3)
        finish(run, reference)
        injected = replica.fault_counts()
    assert sum(injected.values()) > 0, "faults were injected"
    ours = digest(tmp_path / "archive")
    # Transient faults only: every servable article, with the same bytes.
    assert ours["posts"] == reference["digest"]["posts"]
    assert ours["rows"]["articles"] == reference["digest"]["rows"]["articles"]


def per_host_times(log: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Request times by upstream host (the replica serves them all at one origin)."""
    hosts: dict[str, list[float]] = {}
    for e in log:
        path = e["path"]
        host = (
            "np-listapi" if path.startswith("/comm/")
            else "choice" if path.startswith(("/NewsData/", "/html_News/"))
            else "finance" if path.startswith(("/a/", "/news/"))
            else ""
        )  # fmt: skip
        if host:
            hosts.setdefault(host, []).append(e["time"])
    return {h: sorted(t) for h, t in hosts.items()}


def too_fast(times: list[float], interval: float, k: int = 4) -> bool:
    """Some k+1 consecutive requests came in less than (k - 1/2) intervals."""
    return any(times[i + k] - times[i] < (k - 0.5) * interval for i in range(len(times) - k))


def test_the_shared_rate_limit_holds(tmp_path: Path, reference: dict[str, Any]) -> None:
    interval = 0.25
    logs = {}
    for limit in ("0", str(interval)):
        with RedisServer(tmp_path / limit / "redis") as server, Replica() as replica:
            settings = {**PAGE, "FINEWS_HOST_INTERVAL": limit}
            run = DistributedRun(tmp_path / limit, replica.url, server.url, WINDOW, settings)
            (tmp_path / limit).mkdir(exist_ok=True)
            finish(run.start(3), reference)
            logs[limit] = per_host_times(replica.requests())
    # Without the limit, 3 workers send faster than one polite crawler would.
    assert any(too_fast(t, interval) for t in logs["0"].values())
    limited = logs[str(interval)]
    assert len(limited["finance"]) >= 40
    for host, times in limited.items():
        assert not too_fast(times, interval), f"{host}: faster than one request per {interval}s"


def test_workers_skip_what_the_archive_holds(tmp_path: Path, reference: dict[str, Any]) -> None:
    """The writer publishes the archive's articles: workers do not fetch them again."""
    with RedisServer(tmp_path / "redis") as server, Replica() as replica:
        run_crawl(tmp_path / "archive", replica.url, args={**WINDOW, "columns": "351"},
                  settings=PAGE, expect_exit=None)  # fmt: skip
        only_351 = {
            a["code"] for a in replica.articles if a["columns"] == [351] and a["np_dst"] != "CFH"
        }
        replica.reset_log()
        run = DistributedRun(tmp_path, replica.url, server.url, WINDOW, PAGE).start(2)
        finish(run, reference)
        fetched = {e["path"] for e in replica.requests() if e["path"].startswith("/a/")}
        published = server.client().hlen("finews:archived")
    assert only_351 and published >= 40
    assert not {f"/a/{code}.html" for code in only_351} & fetched
    assert len(digest(tmp_path / "archive")["posts"]) == 40
