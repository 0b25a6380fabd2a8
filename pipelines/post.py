"""The post stage: Markdown posts with Jekyll front matter, the continuation of
the existing archive, and a category page per media.

The text and paths are :mod:`crawler.transform.posts` (front matter:
:mod:`crawler.transform.frontmatter`); files are written atomically and only
when their bytes change.

Settings: FINEWS_ARCHIVE_DIR, FINEWS_SITE_URL, FINEWS_POSTS_KEEP_DAYS, FINEWS_WORKERS.
Stats: ``finews/post/written``, ``finews/post/unchanged``, ``finews/post/categories``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.config import FinewsConfig
from crawler.counters import counter
from crawler.files import atomic_write, inside
from crawler.items import Article
from crawler.offload import Offload
from crawler.skeleton import ensure_skeleton
from crawler.transform.posts import category_slug, post_relpath, render_category_page, write_post

# Annotations only: the offload worker imports this module without Scrapy.
if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class PostPipeline:
    """Sets ``body_markdown`` and ``post_path``; writes the post and category page.

    Settings: FINEWS_ARCHIVE_DIR, FINEWS_SITE_URL, FINEWS_POSTS_KEEP_DAYS,
    FINEWS_WORKERS. Stats: ``finews/post/written``, ``finews/post/unchanged``,
    ``finews/post/categories``.
    """

    def __init__(self, crawler: Crawler, cfg: FinewsConfig) -> None:
        self.inc = counter(crawler.stats)
        self.root = cfg.archive_dir
        self.site_url = cfg.site_url
        self.keep_days = cfg.posts_keep_days
        self.categories_done: set[str] = set()
        self.offload = Offload.for_crawler(crawler, preload=__name__)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PostPipeline:
        return cls(crawler, FinewsConfig.from_settings(crawler.settings))

    def open_spider(self, spider: Any = None) -> None:
        # A new archive directory gets the site skeleton (config, layouts).
        ensure_skeleton(self.root)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Article):
            return item
        item.post_path = post_relpath(item.info_code, item.published, self.keep_days)
        path = inside(self.root, item.post_path)
        self.write_category(item.media)
        if self.offload.enabled:
            return self._offloaded(item, path)
        return self._written(item, *write_post(path, item, self.site_url))

    async def _offloaded(self, item: Article, path: Path) -> Article:
        # What the post needs: not the responses or the text (the worker would copy them).
        slim = dataclasses.replace(
            item, body_html="", body_text="", list_responses=[], body_responses=[]
        )
        done = await self.offload.call(write_post, path, slim, self.site_url)
        return self._written(item, *done)

    def _written(self, item: Article, markdown: str, changed: bool) -> Article:
        item.body_markdown = markdown
        self.inc("finews/post/written" if changed else "finews/post/unchanged")
        return item

    def write_category(self, media: str) -> None:
        slug = category_slug(media)
        if slug in self.categories_done:
            return
        page = inside(self.root, f"category/{slug}.html")
        if atomic_write(page, render_category_page(media).encode("utf-8"), durable=False):
            self.inc("finews/post/categories")
        self.categories_done.add(slug)
