"""One request budget per upstream host, shared by every worker of one egress address.

Before a request leaves, :class:`SharedRateLimit` reserves the next free slot
of its upstream host (the canonical ``*.eastmoney.com`` host, whatever origin
serves it) in ``<prefix>:rate:<egress>:<host>``: a Lua script reads Redis's
clock, takes ``max(now, next free)`` and moves the next free slot
FINEWS_HOST_INTERVAL later. The worker waits until its slot (without blocking
the reactor). So however many workers share an egress address, two requests
to one host start at least FINEWS_HOST_INTERVAL apart: the single crawler's
rate. Workers behind different addresses set different FINEWS_EGRESS names
and get one budget each. Every worker must leave its own downloader free to
send at once (DOWNLOAD_DELAY 0, no AutoThrottle, several requests per
domain): the shared slot is the only pacing, so nothing queues between the
reservation and the send.

A worker whose reactor wakes up late for its slot (a loaded machine) gives
the slot up and takes a new one (LATE), so late wake-ups never bunch two
requests together.

Settings: FINEWS_HOST_INTERVAL (0 = no limit), FINEWS_EGRESS, FINEWS_REDIS_*.
Stats: ``finews/distributed/rate_waits``, ``finews/distributed/rate_wait_seconds``,
``finews/distributed/rate_late``.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler

from crawler.config import FinewsConfig
from crawler.distributed.redisio import connect, keys_of, retrying

RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], tostring(slot + tonumber(ARGV[1])), 'EX', 3600)
return {tostring(slot), tostring(now)}
"""

#: A slot woken up later than this share of the interval (a busy reactor) is
#: given up and a new one reserved: two requests to one host never start
#: closer than (1 - LATE) intervals, and never more often than one an interval.
LATE = 0.25


class SharedRateLimit:
    """Downloader middleware: wait for the host's shared slot, then send."""

    def __init__(self, crawler: Crawler, cfg: FinewsConfig) -> None:
        self.stats = crawler.stats
        self.cfg = cfg
        self.server = connect(cfg)
        self.keys = keys_of(cfg)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedRateLimit:
        return cls(crawler, FinewsConfig.from_settings(crawler.settings))

    def host_of(self, request: Request) -> str:
        url = request.meta.get("finews_canonical_url") or request.url
        return urlsplit(url).netloc.lower()

    def reserve(self, host: str) -> tuple[float, float]:
        """This request's slot at ``host`` and Redis's time now."""
        key = self.keys.rate(self.cfg.egress, host)
        slot, now = retrying(self.cfg, "rate slot", lambda: self.server.eval(
            RESERVE_LUA, 1, key, self.cfg.host_interval))  # fmt: skip
        return float(slot), float(now)

    def redis_now(self) -> float:
        seconds, micros = retrying(self.cfg, "time", self.server.time)
        return seconds + micros / 1e6

    async def process_request(self, request: Request) -> Any:
        interval = self.cfg.host_interval
        if interval <= 0:
            return None
        host = self.host_of(request)
        while True:
            slot, now = self.reserve(host)
            if slot > now:
                self.stats.inc_value("finews/distributed/rate_waits")
                self.stats.inc_value("finews/distributed/rate_wait_seconds", round(slot - now, 3))
                await asyncio.sleep(slot - now)
            if self.redis_now() - slot <= LATE * interval:
                return None
            self.stats.inc_value("finews/distributed/rate_late")
