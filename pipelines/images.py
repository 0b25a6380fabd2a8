"""The images stage: the pictures an article shows, archived and shown from the archive.

Between clean and snapshot. Each picture URL of the clean body (``urls.is_picture_url``) is
fetched once per run and per archive (the ``images`` table), checked (crawler.transform.images),
its copy and WARC written in a worker, the body's ``img[src]`` pointed at
``/assets/img/<sha256>.<ext>``. A failed picture stays a link and becomes a ``failures`` row
(stage ``image``); the article goes on either way. A rebuild never fetches (it restores).

Settings: FINEWS_IMAGES, FINEWS_IMAGE_TIMEOUT, FINEWS_IMAGE_MAX_BYTES,
FINEWS_ARCHIVE_DIR, FINEWS_WORKERS. Stats: ``finews/images/archived``,
``finews/images/known``, ``finews/images/failed``, ``finews/images/bytes``,
``finews/images/late`` (an article went on after 2 x FINEWS_IMAGE_TIMEOUT).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter

from crawler.clock import utc_now
from crawler.config import FinewsConfig
from crawler.imagefetch import fetch_image
from crawler.items import Article, Failure
from crawler.stopping import StopCancelled
from crawler.store.images import close_images_database, known_images, write_images_at
from crawler.store.schema import connect
from crawler.store.writes import write_failure_at
from crawler.transform.images import image_urls, localize, write_image
from crawler.workers import Workers

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class ImagesPipeline:
    """Points ``clean_html``'s pictures at their archived copies (see the module doc)."""

    def __init__(self, crawler: Crawler, cfg: FinewsConfig) -> None:
        self.crawler, self.stats, self.cfg = crawler, crawler.stats, cfg
        self.on = cfg.images == "archive"
        self.local: dict[str, str | None] = {}  # URL -> /assets/img/… (None: failed this run)
        self.fetching: dict[str, asyncio.Task[None]] = {}  # URL -> its download under way
        self.writes: list[asyncio.Task[Any]] = []
        self.db: Any = None
        if self.on:
            self.workers = Workers.for_crawler(crawler)
            self.lane = Workers.for_crawler(crawler, lane="index")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ImagesPipeline:
        return cls(crawler, FinewsConfig.from_settings(crawler.settings))

    async def close_spider(self) -> None:
        if self.fetching:
            await asyncio.gather(*self.fetching.values(), return_exceptions=True)
        if self.db is not None:
            self.db.close()
        if self.writes:
            await asyncio.gather(*self.writes, return_exceptions=True)
            await self.lane.run(close_images_database, str(self.cfg.db_path))

    def _record(self, fn: Any, *args: Any) -> None:
        # The index lane keeps the order of writes: the row of a picture comes
        # before the row of the article that shows it.
        self.writes.append(asyncio.ensure_future(self.lane.run(fn, *args)))

    async def process_item(self, item: Any) -> Any:
        if not self.on or not isinstance(item, Article):
            return item
        adapter = ItemAdapter(item)
        shown = image_urls(adapter["clean_html"])
        urls = [u for u in shown if u not in self.local]
        if urls:
            self.db = self.db or connect(self.cfg.db_path)
            for url, path in known_images(self.db, urls).items():
                self.local[url] = "/" + path  # /assets/img/<sha256>.<ext>
                self.stats.inc_value("finews/images/known")
            missing = [u for u in urls if u not in self.local]
            if missing and not adapter["snapshot"]:  # a rebuild makes no request
                # An URL another article is fetching is awaited, not fetched again.
                for url in (u for u in missing if u not in self.fetching):
                    self.fetching[url] = asyncio.ensure_future(self.archive(url, item.info_code))
                # Time in the downloader's queue counts too: past it the post
                # links the upstream, the download goes on (for later articles).
                if waiting := {self.fetching[u] for u in missing if u in self.fetching}:
                    _, late = await asyncio.wait(waiting, timeout=self.cfg.image_timeout * 2)
                    self.stats.inc_value("finews/images/late", len(late))
        found = {u: p for u in shown if (p := self.local.get(u))}
        adapter["clean_html"] = localize(adapter["clean_html"], found)
        return item

    async def archive(self, url: str, info_code: str) -> None:
        cfg, reason = self.cfg, ""
        try:
            resp, ext, reason = await fetch_image(
                self.crawler, url, cfg.image_timeout, cfg.image_max_bytes
            )
            if resp is not None and not reason:
                copy = await self.workers.run(write_image, cfg.archive_dir, resp, ext)
                self._record(write_images_at, str(cfg.db_path), str(cfg.archive_dir), [copy])
                self.local[url] = copy.local_url
                self.stats.inc_value("finews/images/archived")
                self.stats.inc_value("finews/images/bytes", copy.bytes)
                return
        except StopCancelled:  # the run is stopping: a later run fetches it, no failure
            self.stats.inc_value("finews/stop/left")
            return
        except Exception as exc:  # a write that failed: the post links the upstream
            reason = f"image not archived: {type(exc).__name__}: {exc}"[:300]
        finally:
            self.fetching.pop(url, None)
        self.local[url] = None  # not asked again this run
        self.stats.inc_value("finews/images/failed")
        failure = Failure(stage="image", reason=reason, url=url, detail=f"a picture of {info_code}")
        run_id = self.stats.get_value("finews/run_id")
        self._record(
            write_failure_at, str(cfg.db_path), str(cfg.archive_dir), failure, run_id, utc_now()
        )
