"""The writer's side of Redis: one writer, a reliable queue, the run's end.

- **One writer.** ``<prefix>:writer`` is held with an expiry
  (FINEWS_REDIS_LEASE_SECONDS) and renewed; a second writer waits for it. A
  killed writer's claim runs out and the next one takes over.
- **Reliable queue.** Items are taken with ``LMOVE items → processing``;
  an item leaves ``processing`` only when its row is committed (or the
  pipelines dropped it). A new writer first moves whatever a dead one left in
  ``processing`` back to the head of ``items``: taken but not acknowledged
  means re-delivered. The archive's dedupe stage makes a re-delivery of a
  committed article a no-op.
- **What is archived**, published for the workers: ``<prefix>:archived``
  (infoCode → its column ids), filled from the archive when the writer starts
  and kept up to date as rows are committed; ``<prefix>:writer_ready`` says
  it is complete.
- **The end** of a run: the queue, the leases, ``items`` and the writer's own
  items in flight are empty, and no worker's heartbeat is alive.

Settings: FINEWS_REDIS_*.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from typing import Any

from crawler.config import FinewsConfig
from crawler.distributed.codec import RELEASE_LUA, Codec
from crawler.distributed.redisio import connect, keys_of, retrying

# KEYS[1] prefix; ARGV: payloads committed.
ACK_ITEMS_LUA = (
    RELEASE_LUA
    + """
local P = KEYS[1]
for i = 1, #ARGV do
  if redis.call('LREM', P .. ':processing', 1, ARGV[i]) == 1 then release(P, ARGV[i]) end
end
redis.call('HINCRBY', P .. ':stats', 'items_committed', #ARGV)
return #ARGV
"""
)

#: Stats the writer itself counts; the workers' counts of these are not merged.
WRITER_STAGES = ("validate", "dedupe/dropped", "clean", "snapshot", "post", "index", "run_id")


class WriterQueue:
    def __init__(self, cfg: FinewsConfig) -> None:
        self.cfg = cfg
        self.server = connect(cfg)
        self.keys = keys_of(cfg)
        self.codec = Codec(self.server, self.keys)
        self.name = f"{socket.gethostname()}:writer"

    def _do(self, what: str, call: Any) -> Any:
        return retrying(self.cfg, what, call)

    def claim(self) -> bool:
        """Take (or keep) the one writer's claim."""
        ttl = int(self.cfg.lease_seconds) + 1
        key = self.keys.writer
        if self._do("claim", lambda: self.server.set(key, self.name, nx=True, ex=ttl)):
            return True
        held = self._do("claim", lambda: self.server.get(key))
        if held is not None and held.decode() == self.name:
            self._do("claim", lambda: self.server.expire(key, ttl))
            return True
        return False

    def release_claim(self) -> None:
        self._do("claim", lambda: self.server.delete(self.keys.writer))

    def recover(self) -> int:
        """Move a dead writer's unacknowledged items back to the head of the queue."""
        moved = 0
        while self._do("recover", lambda: self.server.lmove(
                self.keys.processing, self.keys.items, "RIGHT", "LEFT")) is not None:  # fmt: skip
            moved += 1
        return moved

    def publish_archived(self, db: Any) -> int:
        """Tell the workers what the archive holds; returns how many articles."""
        count = 0
        pipe = self.server.pipeline(transaction=False)
        for info_code, column_ids in db.execute("SELECT info_code, column_ids FROM articles"):
            pipe.hset(
                self.keys.archived, info_code, ",".join(map(str, json.loads(column_ids or "[]")))
            )
            count += 1
            if count % 5000 == 0:
                self._do("publish", pipe.execute)
        pipe.set(self.keys.writer_ready, "1")
        self._do("publish", pipe.execute)
        return count

    def mark_archived(self, info_code: str, column_ids: list[int]) -> None:
        value = ",".join(map(str, sorted(set(column_ids))))
        self._do("archived", lambda: self.server.hset(self.keys.archived, info_code, value))

    def take(self) -> tuple[Any, bytes] | None:
        """The next item and its payload (the acknowledgement's token), or None."""
        payload = self._do("take", lambda: self.server.lmove(
            self.keys.items, self.keys.processing, "LEFT", "RIGHT"))  # fmt: skip
        if payload is None:
            return None
        return self.codec.loads(payload), payload

    def ack(self, payloads: list[bytes]) -> None:
        if payloads:
            self._do("ack", lambda: self.server.eval(ACK_ITEMS_LUA, 1, self.keys.prefix, *payloads))

    def orphans(self, kept: int) -> bool:
        """``processing`` holds more than the ``kept`` items this writer knows of."""
        return int(self._do("processing", lambda: self.server.llen(self.keys.processing))) > kept

    def workers_alive(self) -> int:
        return sum(1 for _ in self.server.scan_iter(match=self.keys.worker("*"), count=1000))

    def run_done(self, kept: int = 0) -> bool:
        """The run was started and everything in it has been done (``kept``: items
        this writer holds unacknowledged because their write failed)."""

        def read() -> list[Any]:
            pipe = self.server.pipeline()
            pipe.exists(self.keys.run).zcard(self.keys.queue).zcard(self.keys.leases)
            pipe.llen(self.keys.items).llen(self.keys.processing)
            return pipe.execute()

        started, queued, leased, items, processing = self._do("run state", read)
        idle = not (queued or leased or items) and processing <= kept
        return bool(started) and idle and self._do("workers", self.workers_alive) == 0

    def worker_stats(self) -> dict[str, int]:
        """The workers' ``finews/*`` counts, summed (the writer's own stages left out)."""
        total: Counter[str] = Counter()
        for raw in self._do("stats", lambda: self.server.hvals(self.keys.workerstats)):
            for key, value in json.loads(raw).items():
                if not key.removeprefix("finews/").startswith(WRITER_STAGES):
                    total[key] += int(value)
        return dict(total)
