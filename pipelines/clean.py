"""The clean stage: an Article's body HTML becomes safe, normalized article HTML.

The work is :func:`crawler.transform.html.clean.clean_article` (pure: lxml,
then nh3; see that module); the stage sets ``clean_html``, ``stocks``,
``body_text`` and ``content_sha256`` (the digest of the clean HTML: a changed
digest on a refresh is a new version).

Settings: FINEWS_WORKERS. Stats: ``finews/clean/articles``, ``finews/clean/empty``
(nothing survived cleaning: the article becomes a recorded failure).
"""

from __future__ import annotations

from typing import Any

from crawler.counters import counter
from crawler.items import Article, Failure
from crawler.offload import Offload
from crawler.transform.html.clean import clean_article


class CleanPipeline:
    """The clean stage: Article.body_html -> clean_html, stocks, body_text, content_sha256.

    :func:`clean_article` runs in a worker process (crawler.offload) when
    FINEWS_WORKERS > 0. Settings: FINEWS_WORKERS. Stats:
    ``finews/clean/articles``, ``finews/clean/empty``.
    """

    def __init__(self, stats: Any, offload: Offload | None = None) -> None:
        self.inc = counter(stats)
        self.offload = offload

    @classmethod
    def from_crawler(cls, crawler: Any) -> CleanPipeline:
        return cls(crawler.stats, Offload.for_crawler(crawler, preload=__name__))

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Article):
            return item
        if self.offload is not None and self.offload.enabled:
            return self._offloaded(item)
        return self._apply(item, clean_article(item.body_html, item.source_url))

    async def _offloaded(self, item: Article) -> Any:
        assert self.offload is not None
        done = await self.offload.call(clean_article, item.body_html, item.source_url)
        return self._apply(item, done)

    def _apply(self, item: Article, done: tuple[str, list[str], str, str]) -> Any:
        html, stocks, text, digest = done
        if not text.strip():
            self.inc("finews/clean/empty")
            return Failure(
                stage="clean",
                reason="nothing left after cleaning",
                url=item.source_url,
                info_code=item.info_code,
                responses=item.list_responses + item.body_responses,
            )
        item.clean_html, item.stocks, item.body_text, item.content_sha256 = (
            html,
            stocks,
            text,
            digest,
        )
        self.inc("finews/clean/articles")
        return item
