"""``scrapy crawl article``: fetch given articles once.

Arguments: ``-a ids=NW202206142411662087,202206142411662087,https://finance.eastmoney.com/a/….html``
(infoCodes, bare codes or article URLs, legacy ``/news/1<col>,<code>.html``
included) and/or ``-a file=ids.txt`` (one per line, ``#`` comments), ``-a force=1``
to fetch archived ones again. Without a list entry the date has minutes only
(the article page shows no seconds).

Stats: ``finews/input/ids``, ``finews/input/invalid``, ``finews/dedupe/archived``,
``finews/article/requested``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from crawler.eastmoney.ids import code_from_id, split_ids
from crawler.eastmoney.urls import article_url
from crawler.items import Article, Failure
from crawler.spiders.base import ArchiveSpider


class ArticleSpider(ArchiveSpider):
    name = "article"

    def __init__(self, ids: str = "", file: str = "", force: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.raw_ids = split_ids(ids)
        if file:
            for line in Path(file).read_text(encoding="utf-8").splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    self.raw_ids.append(line)
        self.force = force not in ("", "0", "false", "no")

    async def start(self) -> AsyncIterator[Any]:
        codes: dict[str, str] = {}  # code -> page URL to fetch ("" = canonical)
        for raw in self.raw_ids:
            self.inc("input/ids")
            code = code_from_id(raw)
            if code is None:
                self.inc("input/invalid")
                self.logger.error("not an article id or URL: %r", raw)
                yield Failure(stage="input", reason="not an article id or URL", detail=raw[:500])
                continue
            page_url = raw if raw.startswith("http") and "/news/1" in raw else ""
            codes.setdefault(code, page_url)
        archived = {} if self.force else self.archived(["NW" + c for c in codes])
        for code, page_url in codes.items():
            info_code = "NW" + code
            if info_code in archived:
                self.inc("dedupe/archived")
                self.logger.warning(
                    "%s is already archived: skipped (-a force=1 fetches it again)", info_code
                )
                continue
            self.inc("article/requested")  # an id with no body anywhere makes the run partial
            article = Article(
                info_code=info_code,
                code=code,
                source_url=article_url(code),
                share_url=self.cfg.share_url_for(info_code),
                refresh=self.force,
            )
            yield self.body_request(article, self.body_order(), page_url=page_url)
