"""Validate: an article needs a well-formed infoCode, a title, a date and a body.

An article that fails is not dropped silently: it becomes a
:class:`~crawler.items.Failure` (stage ``validate``) that the later stages
snapshot and record in the ``failures`` table.

Stats: ``finews/validate/ok``, ``finews/validate/invalid``,
``finews/validate/invalid/<reason>``.
"""

from __future__ import annotations

import re
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler

from crawler.eastmoney.ids import CODE_RE, INFO_CODE_RE, valid_show_time
from crawler.items import Article, Failure

UNKNOWN_MEDIA = "未知来源"
_SURROGATES = re.compile("[\ud800-\udfff]")


def problems(article: Article) -> list[str]:
    """Why this article cannot be archived (empty when it can)."""
    found = []
    if not INFO_CODE_RE.match(article.info_code) or article.info_code[2:] != article.code:
        found.append("bad_info_code")
    if not CODE_RE.match(article.code):
        found.append("bad_code")
    if not article.title.strip():
        found.append("missing_title")
    if not valid_show_time(article.published):  # a real date: it names the post file
        found.append("missing_date")
    if not article.body_html.strip():
        found.append("missing_body")
    return found


class ValidatePipeline:
    """Passes a valid Article on (its title, summary and media made safe to
    write), turns an invalid one into a Failure. Stats: ``finews/validate/ok``,
    ``finews/validate/invalid``, ``finews/validate/invalid/<reason>``."""

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidatePipeline:
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Article):
            return item
        found = problems(item)
        adapter = ItemAdapter(item)
        if not found:
            # Lone surrogates (JSON "\\ud800") cannot be written as UTF-8 anywhere.
            title, summary, media = (
                _SURROGATES.sub("\ufffd", adapter[k]) for k in ("title", "summary", "media")
            )
            adapter["title"] = " ".join(title.split())
            adapter["summary"] = summary
            # One line, like the title: the media also names the category and the
            # footer's back link, where a newline would break the Markdown.
            adapter["media"] = " ".join(media.split()) or UNKNOWN_MEDIA
            self.stats.inc_value("finews/validate/ok")
            return item
        self.stats.inc_value("finews/validate/invalid")
        for reason in found:
            self.stats.inc_value(f"finews/validate/invalid/{reason}")
        info_code = adapter["info_code"]
        return Failure.of_article(
            adapter,
            "validate",
            ", ".join(found),
            info_code=info_code if "bad_info_code" not in found else "",
            detail=f"info_code={info_code[:60]!r} title={adapter['title'][:200]!r}",
        )
