"""The Redis connection, the key names, and riding out a Redis restart.

Every key of a run lives under ``<FINEWS_REDIS_PREFIX>:`` so one Redis can hold
independent runs, and ``scrapy distributed-status --reset`` removes one run.

Settings (through :class:`crawler.config.FinewsConfig`): FINEWS_REDIS_URL,
FINEWS_REDIS_PREFIX, FINEWS_REDIS_RETRY_SECONDS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import redis

from crawler.config import FinewsConfig

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Keys:
    """The names of a run's keys."""

    prefix: str

    def __getattr__(self, name: str) -> str:
        # keys.queue -> "finews:queue"; one spelling for every module.
        if name.startswith("__"):
            raise AttributeError(name)
        return f"{self.prefix}:{name}"

    def blob(self, key: str) -> str:
        return f"{self.prefix}:blob:{key}"

    def blobref(self, key: str) -> str:
        return f"{self.prefix}:blobref:{key}"

    def columns_of(self, info_code: str) -> str:
        return f"{self.prefix}:columns:{info_code}"

    def worker(self, name: str) -> str:
        return f"{self.prefix}:worker:{name}"

    def rate(self, egress: str, host: str) -> str:
        return f"{self.prefix}:rate:{egress}:{host}"


def connect(cfg: FinewsConfig) -> redis.Redis:
    """A client of FINEWS_REDIS_URL (bytes in, bytes out)."""
    return redis.Redis.from_url(cfg.redis_url, socket_timeout=30, socket_connect_timeout=10)


def keys_of(cfg: FinewsConfig) -> Keys:
    return Keys(cfg.redis_prefix)


def retrying(cfg: FinewsConfig, what: str, call: Callable[[], T]) -> T:
    """``call()``, retried while Redis is unreachable (a restart, a failover),
    for up to FINEWS_REDIS_RETRY_SECONDS; then the error is raised.

    Blocking on purpose: a worker or writer without its Redis can do nothing
    safe (a request not handed off must stay leased), so it waits, and a
    worker that gives up dies with its leases intact for another to take.
    """
    deadline = time.monotonic() + cfg.redis_retry_seconds
    pause = 0.1
    while True:
        try:
            return call()
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as e:
            if time.monotonic() >= deadline:
                raise
            logger.warning("redis unreachable (%s: %s); retrying in %.1fs", what, e, pause)
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
