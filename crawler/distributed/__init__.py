"""Distributed backfills: several crawl workers, one frontier in Redis, one archive writer.

- :mod:`.redisio`: the connection (FINEWS_REDIS_URL), the key names under
  FINEWS_REDIS_PREFIX, waiting out a Redis outage (FINEWS_REDIS_RETRY_SECONDS).
- :mod:`.codec`: requests and items as bytes; a large response (a list page
  shared by every article it lists) is stored once, reference-counted.
- :mod:`.frontier`: scrapy-redis's Scheduler with finews's identity of work as
  the dupefilter and leased requests (FINEWS_REDIS_LEASE_SECONDS).
- :mod:`.ratelimit`: the per-host request budget shared by every worker of one
  egress address (FINEWS_HOST_INTERVAL, FINEWS_EGRESS).
- :mod:`.handoff`: a worker's callback output: child requests to the frontier,
  items (with their raw responses) to the writer's queue, then the lease acknowledged.
- :mod:`.writerqueue`: the writer's reliable queue: take, acknowledge after commit.
- :mod:`.status`: what ``scrapy distributed-status`` prints.

A spider joins with a subclass that mixes in :class:`.handoff.HandOff` and
wraps its callbacks (see ``crawler/spiders/worker.py``); see docs/distributed.md.
"""
