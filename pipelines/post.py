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
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter

from crawler.config import FinewsConfig
from crawler.files import atomic_write, inside
from crawler.items import Article
from crawler.skeleton import ensure_skeleton
from crawler.transform.posts import category_slug, post_relpath, render_category_page, write_post
from crawler.workers import Workers

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class PostPipeline:
    """Sets ``body_markdown`` and ``post_path``; writes the post (in a worker,
    crawler.workers) and the category page (here, once per media).

    Settings: FINEWS_ARCHIVE_DIR, FINEWS_SITE_URL, FINEWS_POSTS_KEEP_DAYS,
    FINEWS_WORKERS. Stats: ``finews/post/written``, ``finews/post/unchanged``,
    ``finews/post/categories``.
    """

    def __init__(self, crawler: Crawler, cfg: FinewsConfig) -> None:
        self.stats = crawler.stats
        self.root = cfg.archive_dir
        self.site_url = cfg.site_url
        self.keep_days = cfg.posts_keep_days
        self.categories_done: set[str] = set()
        self.workers = Workers.for_crawler(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PostPipeline:
        return cls(crawler, FinewsConfig.from_settings(crawler.settings))

    def open_spider(self) -> None:
        # A new archive directory gets the site skeleton (config, layouts).
        ensure_skeleton(self.root)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Article):
            return item
        adapter = ItemAdapter(item)
        post_path = post_relpath(adapter["info_code"], adapter["published"], self.keep_days)
        adapter["post_path"] = post_path
        self.write_category(adapter["media"])
        # What the post needs: not the responses or the text (the worker would copy them).
        slim = dataclasses.replace(
            item, body_html="", body_text="", list_responses=[], body_responses=[]
        )
        markdown, changed = await self.workers.run(
            write_post, inside(self.root, post_path), slim, self.site_url
        )
        adapter["body_markdown"] = markdown
        self.stats.inc_value("finews/post/written" if changed else "finews/post/unchanged")
        return item

    def write_category(self, media: str) -> None:
        slug = category_slug(media)
        if slug in self.categories_done:
            return
        page = inside(self.root, f"category/{slug}.html")
        if atomic_write(page, render_category_page(media).encode("utf-8"), durable=False):
            self.stats.inc_value("finews/post/categories")
        self.categories_done.add(slug)
