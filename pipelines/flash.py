"""The flash stage: a 7×24 item becomes its snapshot, its emnews post and its row.

The article stages pass :class:`~crawler.items.Flash` and
:class:`~crawler.items.FeedPage` items on untouched; this one takes them.
An archived item seen in another feed column (:class:`~crawler.items.FlashColumns`)
gets the column in its row, post and snapshot. A feed answer is snapshotted once (``raw/lists/…``, like the column lists);
a flash's files are :func:`crawler.transform.flashes.write_flash` (in a
worker); its row goes through the index lane (the database's one writer) in
batches. The category page ``category/emnews.html`` is written once.

Settings: FINEWS_ARCHIVE_DIR, FINEWS_SITE_URL, FINEWS_POSTS_KEEP_DAYS,
FINEWS_DB_BATCH, FINEWS_WORKERS. Stats: ``finews/flash/written``,
``finews/flash/with_text``, ``finews/flash/feed_pages``, ``finews/flash/archived``,
``finews/flash/updated``, ``finews/flash/errors``, ``finews/flash/columns_added`` (and ``finews/index/archived``,
``finews/index/updated``, which the run's record counts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crawler.config import FinewsConfig
from crawler.files import atomic_write, inside
from crawler.items import FeedPage, Flash, FlashColumns
from crawler.store.flashrows import update_flash_columns_at, write_flash_rows_at
from crawler.transform.emnews import EMNEWS_CATEGORY_PAGE, render_emnews_category_page
from crawler.transform.flashes import write_flash
from crawler.transform.snapshots import list_snapshot_path
from crawler.transform.warc import warc_bytes
from crawler.workers import Workers

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class FlashPipeline:
    """Flash and FeedPage items -> WARC, emnews post, ``flashes`` row (see the module doc)."""

    def __init__(self, crawler: Crawler, cfg: FinewsConfig) -> None:
        self.stats = crawler.stats
        self.cfg = cfg
        self.workers = Workers.for_crawler(crawler)
        self.lane = Workers.for_crawler(crawler, lane="index")
        self.pending: list[dict[str, Any]] = []
        self.category_done = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FlashPipeline:
        return cls(crawler, FinewsConfig.from_settings(crawler.settings))

    def _inc(self, key: str, n: int = 1) -> None:
        self.stats.inc_value(f"finews/flash/{key}", n)

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, FeedPage):
            relpath = list_snapshot_path(item.response)
            path = inside(self.cfg.archive_dir, relpath)
            if not path.exists() and atomic_write(path, warc_bytes([item.response]), False):
                self._inc("feed_pages")
            return item
        if isinstance(item, FlashColumns):
            await self.flush()  # its row first
            changed = await self.lane.run(
                update_flash_columns_at,
                str(self.cfg.db_path),
                str(self.cfg.archive_dir),
                item.code,
                item.column_ids,
                self.cfg.site_url,
            )
            self._inc("columns_added" if changed else "columns_unchanged")
            return item
        if not isinstance(item, Flash):
            return item
        if not self.category_done:
            page = inside(self.cfg.archive_dir, EMNEWS_CATEGORY_PAGE)
            atomic_write(page, render_emnews_category_page().encode("utf-8"), durable=False)
            self.category_done = True
        # The worker needs neither the body's raw bytes twice nor a shared list.
        row = await self.workers.run(
            write_flash,
            str(self.cfg.archive_dir),
            item,
            self.cfg.site_url,
            self.cfg.posts_keep_days,
        )
        item.post_path, item.snapshot = row["post_path"], row["snapshot"]
        self._inc("written")
        if row["body_markdown"]:
            self._inc("with_text")
        self.pending.append(row)
        if len(self.pending) >= self.cfg.db_batch:
            await self.flush()
        return item

    async def flush(self) -> None:
        rows, self.pending = self.pending, []
        if not rows:
            return
        try:
            inserted, updated = await self.lane.run(
                write_flash_rows_at, str(self.cfg.db_path), str(self.cfg.archive_dir), rows
            )
        except Exception:
            self._inc("errors")
            raise
        for key, n in (("archived", inserted), ("updated", updated)):
            self._inc(key, n)
            self.stats.inc_value(f"finews/index/{key}", n)

    async def close_spider(self) -> None:
        await self.flush()
