"""Figure 10: distributed backfills (docs/distributed.md).

- **Throughput per worker** under a per-host rate limit: articles/s for 1, 2
  and 3 workers (and one writer) against the fast replica, every worker behind
  one egress address (one shared budget per host: the total must stay at one
  crawler's rate) and each behind its own (``FINEWS_EGRESS`` per worker: the
  rate may add up). The rate is read from the run's ``items_pushed`` count in
  Redis between 10 % and 90 % of the articles, so start-up and the run's tail
  (process start, the writer's last batch) are left out.
- **Redis memory of a frontier of N requests** (1,000,000 by default): N article
  requests as a worker queues them (the Article with its list answer, one list
  answer of FINEWS_PAGE_SIZE entries shared by each 50, the dupefilter's
  identity, the column record), pushed through the frontier's own script;
  ``used_memory`` before and after.

    .venv/bin/python -m bench.distributed [--articles 300] [--interval 0.1] [--frontier 1000000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fastreplica import FastReplica  # noqa: E402
from tests.distrun import DistributedRun  # noqa: E402
from tests.redisrun import RedisServer  # noqa: E402


def throughput(articles: int, workers: int, interval: float, own_egress: bool) -> dict[str, Any]:
    """One distributed run: articles/s between 10 % and 90 % of the items."""
    with tempfile.TemporaryDirectory(prefix="finews-dist-bench-") as tmp:
        scratch = Path(tmp)
        with RedisServer(scratch / "redis") as server, FastReplica(articles) as replica:
            settings = {
                "FINEWS_HOST_INTERVAL": str(interval),
                "FINEWS_PAGE_SIZE": "50",
                "LOG_LEVEL": "WARNING",
                "FINEWS_REDIS_LEASE_SECONDS": "30",
            }
            run = DistributedRun(
                scratch, replica.url, server.url, {"since": "2000-01-01"}, settings
            )
            run.start_writer()
            for n in range(workers):
                run.start_worker({"FINEWS_EGRESS": f"egress{n}"} if own_egress else None)
            client = server.client()
            samples: list[tuple[float, int]] = []
            try:
                while any(p.poll() is None for p in run.workers):
                    pushed = int(client.hget("finews:stats", "items_pushed") or 0)
                    samples.append((time.monotonic(), pushed))
                    time.sleep(0.1)
                run.wait(timeout=900)
            finally:
                run.stop()
    low, high = 0.1 * articles, 0.9 * articles
    t_low = next(t for t, n in samples if n >= low)
    t_high = next((t for t, n in samples if n >= high), samples[-1][0])
    return {
        "workers": workers,
        "own_egress": own_egress,
        "articles_per_s": (high - low) / max(t_high - t_low, 1e-6),
        "host_limit_per_s": 1 / interval,
    }


def push_articles(url: str, start: int, stop: int, page_size: int = 50) -> int:
    """Queue article requests ``start..stop-1`` as a worker does; returns the list answer's size."""
    import redis
    from scrapy import Request

    from bench.synth import synth_article
    from crawler.config import FinewsConfig
    from crawler.distributed.codec import Codec
    from crawler.distributed.redisio import Keys
    from crawler.distributed.scripts import PUSH_LUA
    from crawler.eastmoney.urls import article_url
    from crawler.items import Article, Fetched
    from tests.replica.server import list_item

    client = redis.Redis.from_url(url)
    keys = Keys(FinewsConfig.redis_prefix)
    codec = Codec(client, keys)
    push = client.register_script(PUSH_LUA)
    pipe = client.pipeline(transaction=False)
    # Synthetic articles made once (making one costs more than queueing it).
    arts = [synth_article(k) for k in range(page_size)]
    items = [list_item(a, [350]) for a in arts]
    body = json.dumps({"code": 1, "data": {"list": items}}, ensure_ascii=False).encode()
    listed = None
    for i in range(start, stop):
        art = arts[i % page_size]
        code = f"{20260000000000000 + i:018d}"
        if listed is None or i % page_size == 0:  # one list answer per page_size articles
            listed = Fetched(f"https://np-listapi.eastmoney.com/list?page={i}", 200,
                             [("Content-Type", "application/json")], body, "2026-12-03T00:00:00Z")  # fmt: skip
        article = Article(
            info_code="NW" + code, code=code, title=art["title"], published=art["showTime"],
            media=art["mediaName"], summary=art["summary"], column_ids=[350],
            source_url=article_url(code), list_responses=[listed], absent_at_list=True,
        )  # fmt: skip
        meta = {"article": article, "sources": ["page", "choice"], "source": "page"}
        data = Request(article_url(code), meta=meta, priority=-1, dont_filter=True).to_dict()
        data.update(callback="parse_page", errback="body_errback")
        payload = codec.dumps(data)
        push(keys=[keys.prefix], args=[f"article:NW{code}", -1, payload,
             keys.columns_of("NW" + code), "NW" + code, 350], client=pipe)  # fmt: skip
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    return len(body)


def frontier_memory(count: int, procs: int = 4) -> dict[str, Any]:
    """Redis memory of ``count`` queued article requests (and their bookkeeping),
    pushed by ``procs`` processes (each push is a round trip, as in a worker)."""
    from concurrent.futures import ProcessPoolExecutor

    from crawler.config import FinewsConfig
    from crawler.distributed.redisio import Keys

    keys = Keys(FinewsConfig.redis_prefix)
    with (
        tempfile.TemporaryDirectory(prefix="finews-frontier-") as tmp,
        RedisServer(Path(tmp)) as server,
    ):
        client = server.client()
        before = int(client.info("memory")["used_memory"])
        t0 = time.monotonic()
        bounds = [(count * k // procs, count * (k + 1) // procs) for k in range(procs)]
        with ProcessPoolExecutor(procs) as pool:
            sizes = list(pool.map(push_articles, [server.url] * procs, *zip(*bounds, strict=True)))
        seconds = time.monotonic() - t0
        after = int(client.info("memory")["used_memory"])
        blobs = sum(1 for _ in client.scan_iter(match=f"{keys.prefix}:blob:*", count=10_000))
        queued = client.zcard(keys.queue)
        client.flushall()  # nothing to save on the way out (GBs at 1,000,000)
    return {
        "requests": queued,
        "list_blobs": blobs,
        "used_mib": (after - before) / 2**20,
        "bytes_per_request": (after - before) / max(queued, 1),
        "list_answer_bytes": sizes[0],
        "push_seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=300)
    ap.add_argument("--interval", type=float, default=0.1, help="FINEWS_HOST_INTERVAL")
    ap.add_argument("--frontier", type=int, default=1_000_000, help="0: skip")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    results: dict[str, Any] = {"throughput": []}
    for own in (False, True):
        for workers in (1, 2, 3):
            if own and workers == 1:
                continue  # the same run as one worker on the shared egress
            found = throughput(args.articles, workers, args.interval, own)
            print(json.dumps(found), flush=True)
            results["throughput"].append(found)
    if args.frontier:
        results["frontier"] = frontier_memory(args.frontier)
        print(json.dumps(results["frontier"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
