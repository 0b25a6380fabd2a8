"""What ``scrapy distributed-status`` shows: the run's queues, rates and workers.

Read-only (``reset`` aside): queue lengths (frontier, leased, items for the
writer, items the writer holds), items committed per second over a sampling
interval, the workers whose heartbeat is alive with their counts, the writer's
claim, the run's parameters. Settings: FINEWS_REDIS_*.
"""

from __future__ import annotations

import json
import time
from typing import Any

from crawler.config import FinewsConfig
from crawler.distributed.redisio import connect, keys_of


def snapshot(cfg: FinewsConfig) -> dict[str, Any]:
    """The run's state now."""
    server, keys = connect(cfg), keys_of(cfg)
    pipe = server.pipeline()
    pipe.zcard(keys.queue).zcard(keys.leases).llen(keys.items).llen(keys.processing)
    pipe.hgetall(keys.stats).hgetall(keys.run).get(keys.writer).scard(keys.seen)
    queued, leased, items, processing, stats, run, writer, seen = pipe.execute()
    workers = {}
    for key in server.scan_iter(match=keys.worker("*"), count=1000):
        raw = server.get(key)
        if raw is not None:
            name = key.decode().removeprefix(keys.worker(""))
            workers[name] = json.loads(raw)
    used = server.info("memory").get("used_memory", 0)
    return {
        "time": time.time(),
        "queued": queued,
        "leased": leased,
        "items_waiting": items,
        "items_at_writer": processing,
        "seen": seen,
        "stats": {k.decode(): int(v) for k, v in stats.items()},
        "run": {k.decode(): v.decode() for k, v in run.items()},
        "writer": writer.decode() if writer else "",
        "workers": workers,
        "redis_used_memory": used,
    }


def rate(before: dict[str, Any], after: dict[str, Any], key: str) -> float:
    elapsed = max(after["time"] - before["time"], 1e-6)
    return (after["stats"].get(key, 0) - before["stats"].get(key, 0)) / elapsed


def render(before: dict[str, Any], after: dict[str, Any]) -> str:
    """The snapshot as a few lines of text."""
    run = after["run"]
    lines = [
        f"run:      since {run.get('since') or '-'} until {run.get('until') or '-'} "
        f"columns {run.get('columns') or 'default'}"
        if run
        else "run:      none started",
        f"frontier: {after['queued']} queued, {after['leased']} leased, {after['seen']} seen",
        f"items:    {after['items_waiting']} waiting for the writer, "
        f"{after['items_at_writer']} at the writer",
        f"rates:    {rate(before, after, 'items_pushed'):.2f} items/s pushed, "
        f"{rate(before, after, 'items_committed'):.2f} items/s committed, "
        f"{after['stats'].get('requeued', 0)} leases re-queued so far",
        f"writer:   {after['writer'] or 'none'}",
        f"workers:  {len(after['workers'])} alive",
    ]
    for name, beat in sorted(after["workers"].items()):
        stats = beat.get("stats", {})
        lines.append(
            f"  {name}: {stats.get('finews/list/pages', 0)} list pages, "
            f"{stats.get('finews/article/requested', 0)} articles requested, "
            f"{stats.get('finews/distributed/handed_off', 0)} items handed off"
        )
    lines.append(f"redis:    {after['redis_used_memory'] / 2**20:.1f} MiB used")
    return "\n".join(lines)


def reset(cfg: FinewsConfig) -> int:
    """Delete every key of the run (FINEWS_REDIS_PREFIX); returns how many."""
    server, keys = connect(cfg), keys_of(cfg)
    deleted = 0
    batch = []
    for key in server.scan_iter(match=f"{keys.prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += server.delete(*batch)
            batch = []
    if batch:
        deleted += server.delete(*batch)
    return deleted
