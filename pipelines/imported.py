"""The imported stage: an imported file read back by ``make rebuild`` becomes its
post and row again (``crawler.importer``).

The rebuild spider yields an :class:`~crawler.importer.work.ImportedFile` for
each imported file in the snapshots; the crawl's stages pass it by. Here it is
converted with the import's own functions and its post and category page are
written (in a worker, crawler.workers); its row goes through the index lane
(the database's one writer, in order with the crawl rows).

Settings: FINEWS_ARCHIVE_DIR, FINEWS_SITE_URL, FINEWS_SHARE_URL,
FINEWS_POSTS_KEEP_DAYS, FINEWS_WORKERS. Stats: ``finews/imported/rebuilt``,
``finews/imported/failed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crawler.config import FinewsConfig
from crawler.importer.oldpost import ImportProblem
from crawler.importer.work import ImportedFile, Options, rewrite
from crawler.items import Failure
from crawler.store.writes import write_rows_at
from crawler.workers import Workers

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class ImportedPipeline:
    """Rewrites an imported file's post and row (rebuild only). Settings:
    FINEWS_ARCHIVE_DIR, FINEWS_SITE_URL, FINEWS_SHARE_URL, FINEWS_POSTS_KEEP_DAYS,
    FINEWS_WORKERS. Stats: ``finews/imported/rebuilt``, ``finews/imported/failed``."""

    def __init__(self, crawler: Crawler, cfg: FinewsConfig) -> None:
        self.stats = crawler.stats
        self.cfg = cfg
        self.opts = Options(
            archive_dir=str(cfg.archive_dir),
            site_url=cfg.site_url,
            share_url=cfg.share_url,
            keep_days=cfg.posts_keep_days,
        )
        self.workers = Workers.for_crawler(crawler)
        self.lane = Workers.for_crawler(crawler, lane="index")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ImportedPipeline:
        return cls(crawler, FinewsConfig.from_settings(crawler.settings))

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, ImportedFile):
            return item
        try:
            row = await self.workers.run(rewrite, self.opts, item)
        except ImportProblem as exc:
            self.stats.inc_value("finews/imported/failed")
            return Failure(stage="rebuild", reason=str(exc), detail=item.snapshot)
        await self.lane.run(write_rows_at, str(self.cfg.db_path), str(self.cfg.archive_dir), [row])
        self.stats.inc_value("finews/imported/rebuilt")
        return item
