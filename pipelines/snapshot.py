"""The snapshot stage: every upstream response an article was built from, as WARC.

Where each file goes and what it holds: :mod:`crawler.transform.snapshots`;
the records themselves: :mod:`crawler.transform.warc` (warcio). List answers
are written once however many articles they list; an article's refresh
appends to its file; failures with responses get a file of their own.

Settings: FINEWS_ARCHIVE_DIR, FINEWS_WORKERS. Stats: ``finews/snapshot/articles``,
``finews/snapshot/unchanged``, ``finews/snapshot/lists``, ``finews/snapshot/failures``,
``finews/snapshot/bytes``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from crawler.config import FinewsConfig
from crawler.counters import counter
from crawler.files import atomic_write, inside
from crawler.items import Article, Failure, Fetched
from crawler.offload import Offload
from crawler.transform.snapshots import (
    article_metadata,
    article_snapshot_path,
    failure_snapshot_path,
    list_snapshot_path,
    unchanged,
    write_article_snapshot,
)
from crawler.transform.warc import warc_bytes

# Annotations only: the offload worker imports this module without Scrapy.
if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class SnapshotPipeline:
    """Writes WARC snapshots; sets ``Article.snapshot`` / ``Failure.snapshot``.

    Files are written without an fsync each; the index stage syncs the file
    system before the rows naming them are committed. Settings:
    FINEWS_ARCHIVE_DIR, FINEWS_WORKERS. Stats: ``finews/snapshot/articles``,
    ``finews/snapshot/lists``, ``finews/snapshot/failures``,
    ``finews/snapshot/unchanged``, ``finews/snapshot/bytes``.
    """

    def __init__(self, crawler: Crawler, cfg: FinewsConfig) -> None:
        self.crawler = crawler
        self.count = counter(crawler.stats)
        self.root = cfg.archive_dir
        self.lists_written: dict[str, str] = {}  # list answer key -> its snapshot
        self.offload = Offload.for_crawler(crawler, preload=__name__)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SnapshotPipeline:
        return cls(crawler, FinewsConfig.from_settings(crawler.settings))

    def _inc(self, key: str, n: int = 1) -> None:
        self.count(f"finews/snapshot/{key}", n)

    def _write(self, relpath: str, data: bytes) -> None:
        if atomic_write(inside(self.root, relpath), data, durable=False):
            self._inc("bytes", len(data))

    def write_list(self, resp: Fetched) -> str:
        # Every article of a list page carries that page: written (or found) once.
        relpath = self.lists_written.get(resp.key)
        if relpath is None:
            relpath = list_snapshot_path(resp)
            if not inside(self.root, relpath).exists():
                self._write(relpath, warc_bytes([resp]))
                self._inc("lists")
            self.lists_written[resp.key] = relpath
        return relpath

    def process_item(self, item: Any) -> Any:
        if isinstance(item, Article):
            if item.snapshot:
                return item  # rebuilt from its snapshot: nothing to write
            list_paths = [self.write_list(r) for r in item.list_responses]
            relpath = article_snapshot_path(item)
            path = inside(self.root, relpath)
            if item.refresh and unchanged(item) and path.exists():
                # A refresh that found nothing new adds nothing to the history.
                item.snapshot = relpath
                self._inc("unchanged")
                return item
            args = (path, item.body_responses, article_metadata(item, list_paths))
            if self.offload.enabled:
                return self._offloaded(item, relpath, args)
            return self._written(item, relpath, write_article_snapshot(*args))
        if isinstance(item, Failure) and item.responses:
            key = hashlib.sha1(b"".join(r.key.encode() for r in item.responses)).hexdigest()
            relpath = failure_snapshot_path(item, key)
            self._write(relpath, warc_bytes(item.responses))
            item.snapshot = relpath
            self._inc("failures")
        return item

    async def _offloaded(self, item: Article, relpath: str, args: tuple[Any, ...]) -> Article:
        return self._written(item, relpath, await self.offload.call(write_article_snapshot, *args))

    def _written(self, item: Article, relpath: str, size: int) -> Article:
        if size:
            self._inc("bytes", size)
        item.snapshot = relpath
        self._inc("articles")
        return item
