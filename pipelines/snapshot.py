"""The snapshot stage: every upstream response an article was built from, as WARC.

Where each file goes and what it holds: :mod:`crawler.transform.snapshots`;
the records themselves: :mod:`crawler.transform.warc` (warcio). List answers
are written once however many articles they list; an article's refresh
appends to its file, as does any later fetch (a file is never rewritten; a
damaged one is moved to ``raw/damaged/``, recorded as a failure of the
article, and a new file started); failures with responses get a file of their own.

Settings: FINEWS_ARCHIVE_DIR, FINEWS_WORKERS. Stats: ``finews/snapshot/articles``,
``finews/snapshot/unchanged``, ``finews/snapshot/lists``, ``finews/snapshot/failures``,
``finews/snapshot/bytes``, ``finews/snapshot/damaged``, ``finews/snapshot/repaired``
(an article on disk without its row, fetched again).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter

from crawler.config import FinewsConfig
from crawler.files import atomic_write, inside
from crawler.items import Article, Failure, Fetched
from crawler.transform.snapshots import (
    article_metadata,
    article_snapshot_path,
    failure_snapshot_path,
    list_snapshot_path,
    unchanged,
    write_article_snapshot,
)
from crawler.transform.warc import warc_bytes
from crawler.workers import Workers

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class SnapshotPipeline:
    """Writes WARC snapshots; sets ``Article.snapshot`` / ``Failure.snapshot``.

    An article's WARC is written by :func:`write_article_snapshot` in a worker
    (crawler.workers); the shared list answers and the failures (small, rare)
    here. Files are written without an fsync each; the index stage syncs the
    file system before the rows naming them are committed. Settings:
    FINEWS_ARCHIVE_DIR, FINEWS_WORKERS. Stats: ``finews/snapshot/articles``,
    ``finews/snapshot/lists``, ``finews/snapshot/failures``,
    ``finews/snapshot/unchanged``, ``finews/snapshot/bytes``.
    """

    def __init__(self, crawler: Crawler, cfg: FinewsConfig) -> None:
        self.stats = crawler.stats
        self.root = cfg.archive_dir
        self.lists_written: dict[str, str] = {}  # list answer key -> its snapshot
        self.workers = Workers.for_crawler(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SnapshotPipeline:
        return cls(crawler, FinewsConfig.from_settings(crawler.settings))

    def _inc(self, key: str, n: int = 1) -> None:
        self.stats.inc_value(f"finews/snapshot/{key}", n)

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

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, Article):
            adapter = ItemAdapter(item)
            if adapter["snapshot"]:
                return item  # rebuilt from its snapshot: nothing to write
            list_paths = [self.write_list(r) for r in adapter["list_responses"]]
            relpath = article_snapshot_path(item)
            path = inside(self.root, relpath)
            if adapter["refresh"] and unchanged(item) and path.exists():
                # A refresh that found nothing new adds nothing to the history.
                adapter["snapshot"] = relpath
                self._inc("unchanged")
                return item
            metadata = article_metadata(item, list_paths)
            lost_row = not adapter["refresh"] and path.exists()
            size, damage = await self.workers.run(
                write_article_snapshot, path, adapter["body_responses"], metadata, self.root
            )
            if size:
                self._inc("bytes", size)
            if damage:
                # The damaged file is kept in raw/damaged/; the article goes on
                # in a new file, and the damage is recorded with it.
                self._inc("damaged")
                adapter["failures"].append(
                    Failure.of_article(adapter, "snapshot", damage, responses=[])
                )
            elif lost_row:  # on disk, not in the database (killed before the commit)
                self._inc("repaired")
            adapter["snapshot"] = relpath
            self._inc("articles")
        elif isinstance(item, Failure):
            adapter = ItemAdapter(item)
            if responses := adapter["responses"]:
                key = hashlib.sha1(b"".join(r.key.encode() for r in responses)).hexdigest()
                relpath = failure_snapshot_path(item, key)
                self._write(relpath, warc_bytes(responses))
                adapter["snapshot"] = relpath
                self._inc("failures")
        return item
