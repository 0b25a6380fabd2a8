"""A crawl worker's side: callback output handed to Redis, leases, heartbeat, when to stop.

A worker writes nothing to the archive. :meth:`HandOff.hand_off` runs a
callback (or errback) of a leased request and then, in this order: pushes its
child requests to the frontier (each through the dupefilter), and in one Lua
script acknowledges the lease and appends the items — each with the raw
responses it was built from — to the writer's queue ``<prefix>:items``. A
worker killed before that script loses nothing: the lease expires and another
worker fetches the request again (its children are already seen). If the
lease had already expired and gone back to the queue, the items are not
pushed: the request's next delivery produces them. A callback that raises
becomes a recorded failure (stage ``worker``), never a request retried forever.

Every 2 s the worker renews its leases and its heartbeat key
``<prefix>:worker:<name>`` (expiring after FINEWS_REDIS_LEASE_SECONDS), with a
snapshot of its ``finews/*`` stats that the writer adds to the run's. An idle
worker stops when the queue is empty and no request is leased by anyone.

A spider joins by mixing :class:`HandOff` in and routing each callback through
``hand_off`` (``crawler/spiders/worker.py``: one line per callback); it may
define ``work_identity(request)`` (see :mod:`crawler.distributed.frontier`).

Settings: FINEWS_REDIS_*. Stats: ``finews/distributed/handed_off``,
``finews/distributed/lease_lost``, ``finews/distributed/callback_errors``.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from twisted.internet.task import LoopingCall

from crawler.config import FinewsConfig
from crawler.distributed.codec import Codec
from crawler.distributed.frontier import LeasedQueue
from crawler.distributed.redisio import Keys, connect, keys_of, retrying
from crawler.distributed.scripts import ACK_LUA
from crawler.eastmoney.urls import column_name
from crawler.items import Article, Failure

HEARTBEAT_SECONDS = 2.0

# KEYS[1] prefix; ARGV: lease ('' = none), item payload...
# KEYS[1] prefix; ARGV: lease ('' = none), n, n pairs (infoCode, columns
# counted), item payload... Returns 1 done, 0 lease lost, -1 an article's
# columns changed since they were read (read again and retry).
HANDOFF_LUA = (
    ACK_LUA
    + """
local P = KEYS[1]
local n = tonumber(ARGV[2])
for i = 0, n - 1 do
  local code, counted = ARGV[3 + 2 * i], tonumber(ARGV[4 + 2 * i])
  if redis.call('SCARD', P .. ':columns:' .. code) ~= counted then return -1 end
end
local first = 3 + 2 * n
if ARGV[1] ~= '' and ack(P, ARGV[1]) == 0 then
  -- Done already (the reply lost in a Redis restart, the call retried)?
  if redis.call('EXISTS', P .. ':handed:' .. ARGV[1]) == 1 then return 1 end
  for i = first, #ARGV do release(P, ARGV[i]) end
  return 0
end
if ARGV[1] ~= '' then redis.call('SET', P .. ':handed:' .. ARGV[1], '1', 'EX', 3600) end
for i = 0, n - 1 do redis.call('SADD', P .. ':emitted', ARGV[3 + 2 * i]) end
for i = first, #ARGV do redis.call('RPUSH', P .. ':items', ARGV[i]) end
redis.call('HINCRBY', P .. ':stats', 'items_pushed', #ARGV - first + 1)
return 1
"""
)


class HandOff(scrapy.Spider):
    """Mixin of a crawl worker spider (before the spider's own base class)."""

    frontier: LeasedQueue | None = None

    @cached_property
    def dcfg(self) -> FinewsConfig:
        return FinewsConfig.from_settings(self.crawler.settings)

    @cached_property
    def redis(self) -> Any:
        return connect(self.dcfg)

    @cached_property
    def rkeys(self) -> Keys:
        return keys_of(self.dcfg)

    @cached_property
    def codec(self) -> Codec:
        return Codec(self.redis, self.rkeys)

    @cached_property
    def worker_name(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> Any:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.worker_opened, signal=signals.spider_opened)
        crawler.signals.connect(spider.worker_idle, signal=signals.spider_idle)
        crawler.signals.connect(spider.worker_closed, signal=signals.spider_closed)
        return spider

    # --- the hand-off -----------------------------------------------------
    def hand_off(
        self, request: scrapy.Request, callback: Callable[[Any], Iterable[Any]], arg: Any
    ) -> list[Any]:
        """Run ``callback(arg)`` for ``request``; its output goes to Redis."""
        try:
            outputs = list(callback(arg))
        except Exception as e:
            self.logger.error("callback of %s raised", request.url, exc_info=e)
            self.crawler.stats.inc_value("finews/distributed/callback_errors")
            url = request.meta.get("finews_canonical_url", request.url)
            outputs = [Failure(stage="worker", reason=f"callback raised {e!r}"[:300], url=url)]
        items = []
        for output in outputs:
            if isinstance(output, scrapy.Request):
                self.crawler.engine.crawl(output)
            else:
                items.append(output)
        token = request.meta.get("finews_lease") or ""
        articles = [item for item in items if isinstance(item, Article)]
        while True:
            counted = [(a.info_code, self.add_columns(a)) for a in articles]
            payloads = [self.codec.dumps(item) for item in items]
            args = [token, len(counted), *(x for pair in counted for x in pair), *payloads]
            done = retrying(self.dcfg, "hand-off", lambda args=args: self.redis.eval(
                HANDOFF_LUA, 1, self.rkeys.prefix, *args))  # fmt: skip
            if done != -1:
                break
            for payload in payloads:  # another worker listed one in a new column meanwhile
                self.codec.release(payload)
        if self.frontier is not None:
            self.frontier.held.discard(token)
        if done:
            self.crawler.stats.inc_value("finews/distributed/handed_off", len(items))
        else:
            self.crawler.stats.inc_value("finews/distributed/lease_lost")
        return []

    def add_columns(self, article: Article) -> int:
        """Add the columns other workers listed the article in while it was
        fetched here; returns how many columns are recorded."""
        key = self.rkeys.columns_of(article.info_code)
        found = {int(c) for c in retrying(self.dcfg, "columns", lambda: self.redis.smembers(key))}
        if found - set(article.column_ids):
            article.column_ids = sorted(set(article.column_ids) | found)
            article.columns = [column_name(c) for c in article.column_ids]
        return len(found)

    # --- heartbeat, leases, stopping -------------------------------------
    def worker_opened(self, spider: scrapy.Spider) -> None:
        self.heartbeat_loop = LoopingCall(self.heartbeat)
        self.heartbeat_loop.start(HEARTBEAT_SECONDS, now=True)

    def heartbeat(self) -> None:
        stats = {
            k: v
            for k, v in self.crawler.stats.get_stats().items()
            if k.startswith("finews/") and isinstance(v, (int, float))
        }
        held = len(self.frontier.held) if self.frontier is not None else 0
        beat = json.dumps({"spider": self.name, "pid": os.getpid(), "leases": held, "stats": stats})
        try:
            pipe = self.redis.pipeline()
            pipe.set(self.rkeys.worker(self.worker_name), beat, ex=int(self.dcfg.lease_seconds) + 1)
            pipe.hset(self.rkeys.workerstats, self.worker_name, json.dumps(stats))
            pipe.execute()
            if self.frontier is not None:
                self.frontier.renew()
        except Exception as e:  # an outage: the next beat tries again (leases last a while)
            self.logger.warning("heartbeat failed: %s", e)

    def frontier_drained(self) -> bool:
        """Nothing queued and nothing leased by any worker."""

        def read() -> tuple[int, int]:
            pipe = self.redis.pipeline()
            pipe.zcard(self.rkeys.queue).zcard(self.rkeys.leases)
            queued, leased = pipe.execute()
            return int(queued), int(leased)

        return retrying(self.dcfg, "drained", read) == (0, 0)

    def worker_idle(self, spider: scrapy.Spider) -> None:
        if not self.frontier_drained():
            raise DontCloseSpider

    def worker_closed(self, spider: scrapy.Spider, reason: str) -> None:
        # The run's outcome is the writer's; a worker succeeded when it ran out of work.
        self.crawler.stats.set_value("finews/exit_code", 0 if reason == "finished" else 1)
        if getattr(self, "heartbeat_loop", None) is not None and self.heartbeat_loop.running:
            self.heartbeat_loop.stop()
        self.heartbeat()
        try:
            self.redis.delete(self.rkeys.worker(self.worker_name))
        except Exception as e:
            self.logger.warning("could not sign off: %s", e)
