"""The shared frontier: scrapy-redis's Scheduler, finews's identity of work, leases.

- **Dupefilter.** A request is new work when its *identity* is new: a list
  page is ``list:<column>:<page>``, an article's first body request
  ``article:<infoCode>`` (a fallback to another body source is
  ``article:<infoCode>:<source>``). Not Scrapy's fingerprint of the URL: a list
  URL holds ``req_trace``, a clock reading, so two workers' requests for the
  same page never look alike. A spider names its own work with a
  ``work_identity(request)`` method (see :func:`work_identity`). The check and
  the push are one Lua script, so a worker killed between them loses nothing.
- **Columns.** Every column an article is listed in is recorded in
  ``columns:<infoCode>``. A second listing is a duplicate request; the worker
  that fetches the article adds every recorded column to the item, as one
  crawler's in-flight item would. A listing in a new column after the item was
  handed off (``emitted``) passes as a refresh with every column
  (``article:<infoCode>:+<columns>``), as one crawler fetches it again.
- **Leases.** ``next_request`` moves a request from ``queue`` to ``leases``
  (expiry FINEWS_REDIS_LEASE_SECONDS, renewed by the worker's heartbeat);
  :class:`~crawler.distributed.handoff.HandOff` acknowledges it once its output
  is in Redis. A lease that expires (its worker died) goes back to the queue
  with its priority. A retry or redirect of a leased request is pushed and the
  old lease acknowledged in one script (the new request is not new work).

Queue order: priority first (a list page's priority from crawler.walk), then
first in, first out (a sequence number in the score). While a request of
BARRIER_PRIORITY or more (every column's first page) is leased, nothing of
lower priority is handed out: the first pages are all read before any
article, by however many workers, as in one crawler.

Settings: SCHEDULER_PERSIST, FINEWS_REDIS_*. Stats: ``finews/distributed/enqueued``,
``finews/distributed/duplicate``, ``finews/distributed/leased``.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request, Spider
from scrapy.utils.request import request_from_dict
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import Base
from scrapy_redis.scheduler import Scheduler

from crawler.config import FinewsConfig
from crawler.distributed.codec import Codec
from crawler.distributed.redisio import Keys, connect, keys_of, retrying
from crawler.distributed.scripts import ACK_LUA, CONTINUE_LUA, POP_LUA, PUSH_LUA
from crawler.walk import list_priority

logger = logging.getLogger(__name__)

#: Requests of this priority or more (every column's first list page,
#: crawler.walk.list_priority) are read before anything else starts, across
#: all workers, as in one crawler: an article listed in two columns is then
#: seen in both before its body is fetched.
BARRIER_PRIORITY = list_priority(1)
#: The queue score of the last request above the barrier (scores are
#: -priority * 1e10 + a sequence number).
BARRIER_SCORE = -BARRIER_PRIORITY * 1e10 + 1e10 - 1


def work_identity(request: Request) -> str:
    """What a finews request fetches, as the dupefilter knows it ('' = no identity)."""
    meta = request.meta
    article = meta.get("article")
    if article is not None:
        if meta.get("reasons"):  # a fallback body source
            return f"article:{article.info_code}:{meta.get('source', '')}"
        if article.refresh:  # fetched again for a new column set
            columns = ",".join(map(str, sorted(set(article.column_ids))))
            return f"article:{article.info_code}:+{columns}"
        return f"article:{article.info_code}"
    if "column" in meta and "page" in meta:
        rendered = ":rendered" if meta.get("rendered") else ""
        return f"list:{meta['column']}:{meta['page']}{rendered}"
    return ""


def request_dict(request: Request, spider: Spider) -> dict[str, Any]:
    """``request.to_dict(spider=spider)``, callbacks named directly: Scrapy finds
    their names with ``inspect.getmembers``, which reads every property of the
    spider (its database connection among them) for every request."""
    names: dict[str, str | None] = {}
    for kind in ("callback", "errback"):
        method = getattr(request, kind)
        if method is None:
            names[kind] = None
            continue
        func = getattr(method, "__func__", None)
        name = getattr(func, "__name__", "")
        if func is None or getattr(getattr(spider, name, None), "__func__", None) is not func:
            return request.to_dict(spider=spider)
        names[kind] = name
    found = request.replace(callback=None, errback=None).to_dict()
    found.update(names)
    return found


class WorkDupeFilter(RFPDupeFilter):
    """scrapy-redis's dupefilter keyed by the identity of work, not the URL's fingerprint."""

    identify = staticmethod(work_identity)

    def request_fingerprint(self, request: Request) -> str:
        return self.identify(request)

    def request_seen(self, request: Request) -> bool:
        identity = self.request_fingerprint(request)
        return bool(identity) and not self.server.sadd(self.key, identity)


class LeasedQueue(Base):
    """scrapy-redis's queue, leased: pop moves a request into ``leases``."""

    def __init__(self, server: Any, spider: Spider, key: str, serializer: Any = None) -> None:
        super().__init__(server, spider, key, serializer)
        self.cfg = FinewsConfig.from_settings(spider.crawler.settings)
        self.keys: Keys = keys_of(self.cfg)
        self.codec = Codec(server, self.keys)
        self.held: set[str] = set()  # this worker's leases, renewed by its heartbeat

    def __len__(self) -> int:
        return int(retrying(self.cfg, "queue length", lambda: self.server.zcard(self.keys.queue)))

    def leased(self) -> int:
        return int(retrying(self.cfg, "leases", lambda: self.server.zcard(self.keys.leases)))

    def encode(self, request: Request) -> bytes:
        # The lease is this worker's, not part of the request.
        request.meta.pop("finews_lease", None)
        return self.codec.dumps(request_dict(request, self.spider))

    def push_new(
        self, request: Request, identity: str, columns_key: str = "", columns: list[int] = ()
    ) -> int:
        """Push unless ``identity`` was seen (both in one script): 1 pushed, 0 a
        duplicate, 2 a duplicate in a new column of an article handed off."""
        lease = request.meta.get("finews_lease")
        payload = self.encode(request)
        if lease:
            retrying(self.cfg, "continue", lambda: self.server.eval(
                CONTINUE_LUA, 1, self.keys.prefix, lease, request.priority, payload))  # fmt: skip
            self.held.discard(lease)
            return True
        article = request.meta.get("article")
        info_code = article.info_code if article is not None else ""
        args = [identity, request.priority, payload, columns_key, info_code, *columns]
        pushed = retrying(
            self.cfg, "push", lambda: self.server.eval(PUSH_LUA, 1, self.keys.prefix, *args)
        )
        if pushed != 1:
            self.codec.release(payload)
        return int(pushed)

    def columns(self, info_code: str) -> list[int]:
        """Every column the article was listed in, by any worker."""
        key = self.keys.columns_of(info_code)
        return sorted(
            int(c) for c in retrying(self.cfg, "columns", lambda: self.server.smembers(key))
        )

    def push(self, request: Request) -> None:
        self.push_new(request, "")

    def pop(self, timeout: int = 0) -> Request | None:
        found = retrying(self.cfg, "pop", lambda: self.server.eval(
            POP_LUA, 1, self.keys.prefix, self.cfg.lease_seconds, BARRIER_SCORE))  # fmt: skip
        if not found:
            return None
        token, payload = found[0].decode(), found[1]
        try:
            request = request_from_dict(self.codec.loads(payload), spider=self.spider)
        except Exception as e:  # unreadable (a blob lost with Redis' data): counted, dropped
            logger.error("undecodable request dropped: %s", e)
            self.spider.crawler.stats.inc_value("finews/distributed/undecodable")
            self.ack(token)
            return None
        request.meta["finews_lease"] = token
        self.held.add(token)
        return request

    def ack(self, token: str) -> None:
        retrying(self.cfg, "ack", lambda: self.server.eval(
            ACK_LUA + "return ack(KEYS[1], ARGV[1])", 1, self.keys.prefix, token))  # fmt: skip
        self.held.discard(token)

    def renew(self) -> None:
        """Push this worker's leases' expiry forward (the heartbeat)."""
        if not self.held:
            return
        t = self.server.time()
        expiry = t[0] + t[1] / 1e6 + self.cfg.lease_seconds
        self.server.zadd(self.keys.leases, dict.fromkeys(self.held, expiry), xx=True)

    def clear(self) -> None:
        self.server.delete(self.keys.queue)


class Frontier(Scheduler):
    """scrapy-redis's Scheduler over :class:`LeasedQueue`, always persistent across
    restarts of the workers (SCHEDULER_PERSIST), deduplicating by identity."""

    queue: LeasedQueue

    @classmethod
    def from_crawler(cls, crawler: Any) -> Frontier:
        cfg = FinewsConfig.from_settings(crawler.settings)
        server = connect(cfg)
        keys = keys_of(cfg)
        retrying(cfg, "ping", server.ping)
        instance = cls(
            server=server,
            persist=crawler.settings.getbool("SCHEDULER_PERSIST", True),
            queue_key=keys.queue,
            queue_cls=f"{__name__}.LeasedQueue",
            dupefilter=WorkDupeFilter(server, keys.seen),
            dupefilter_key=keys.seen,
        )
        instance.stats = crawler.stats
        instance.keys = keys
        return instance

    def open(self, spider: Spider) -> None:
        self.spider = spider
        self.queue = LeasedQueue(self.server, spider, self.queue_key)
        # The spider's hand-off acknowledges leases and its heartbeat renews them.
        spider.frontier = self.queue
        if len(self.queue):
            spider.logger.info("resuming a distributed crawl: %d requests queued", len(self.queue))

    def close(self, reason: str) -> None:
        # Persistent: the frontier, the seen identities and the leases stay.
        pass

    def enqueue_request(self, request: Request) -> bool:
        # The dupefilter's check and the push in one script (see the module's doc).
        self.df.identify = getattr(self.spider, "work_identity", work_identity)
        identity = self.df.request_fingerprint(request)
        article = request.meta.get("article")
        columns_key, columns = "", []
        if article is not None and identity and not request.meta.get("finews_lease"):
            columns_key = self.keys.columns_of(article.info_code)
            columns = list(article.column_ids)
        pushed = self.queue.push_new(request, identity, columns_key, columns)
        if pushed == 2:
            # Listed in a new column after its item was handed off: fetched
            # again with every column (a refresh), as one crawler does.
            article.refresh = True
            article.column_ids = self.queue.columns(article.info_code)
            self.stats.inc_value("finews/distributed/new_column")
            pushed = self.queue.push_new(request, self.df.request_fingerprint(request))
        key = "enqueued" if pushed else "duplicate"
        self.stats.inc_value(f"finews/distributed/{key}")
        return bool(pushed)

    def next_request(self) -> Request | None:
        request = self.queue.pop()
        if request is not None:
            self.stats.inc_value("finews/distributed/leased")
        return request

    def has_pending_requests(self) -> bool:
        return len(self.queue) > 0
