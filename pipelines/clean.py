"""The clean stage: an Article's body HTML becomes safe, normalized article HTML.

The work is :func:`crawler.transform.html.clean.clean_article` (pure: lxml,
then nh3; see that module); the stage sets ``clean_html``, ``stocks``,
``body_text`` and ``content_sha256`` (the digest of the clean HTML: a changed
digest on a refresh is a new version).

Settings: FINEWS_WORKERS. Stats: ``finews/clean/articles``, ``finews/clean/empty``
(nothing survived cleaning: the article becomes a recorded failure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter

from crawler.items import Article, Failure
from crawler.transform.html.clean import clean_article
from crawler.workers import Workers

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class CleanPipeline:
    """The clean stage: Article.body_html -> clean_html, stocks, body_text, content_sha256.

    :func:`clean_article` runs in a worker (crawler.workers). Settings:
    FINEWS_WORKERS. Stats: ``finews/clean/articles``, ``finews/clean/empty``.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats
        self.workers = Workers.for_crawler(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CleanPipeline:
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Article):
            return item
        adapter = ItemAdapter(item)
        html, stocks, text, digest = await self.workers.run(
            clean_article, adapter["body_html"], adapter["source_url"]
        )
        if not text.strip():
            self.stats.inc_value("finews/clean/empty")
            return Failure.of_article(adapter, "clean", "nothing left after cleaning")
        adapter.update(clean_html=html, stocks=stocks, body_text=text, content_sha256=digest)
        self.stats.inc_value("finews/clean/articles")
        return item
