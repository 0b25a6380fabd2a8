"""``scrapy rebuild`` (or ``scrapy crawl rebuild``): the archive from its WARC snapshots alone.

Makes no request and starts no browser. Every ``raw/articles/**/*.warc.gz`` holds, per fetch, a
metadata record and the body responses; each such group becomes an Article
again (body re-parsed from the archived response) and goes through the same
pipelines as a crawl, so posts and rows are what a crawl would write — byte
for byte, or better after the cleaner improved. Snapshots are not rewritten.

A file that does not read whole is not rebuilt from (see RebuildSpider).
The database it writes is FINEWS_DB_NAME (the ``rebuild`` command's
temporary one). Stats: ``finews/rebuild/files``, ``finews/rebuild/versions``,
``finews/rebuild/unreadable`` (damaged files).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

from scrapy.http import Headers, TextResponse
from scrapy.responsetypes import responsetypes

from crawler.eastmoney.choice import parse_choice_text
from crawler.eastmoney.ids import INFO_CODE_RE
from crawler.eastmoney.pages import parse_article_page
from crawler.eastmoney.rendered import parse_rendered_share
from crawler.eastmoney.urls import article_url, column_name
from crawler.importer.rebuild import imported_file, is_imported
from crawler.items import Article, Failure, Fetched
from crawler.spiders.base import ArchiveSpider
from crawler.store.images import restore_images_at
from crawler.transform.warc import SnapshotRecord, read_warc, warc_damage


def _fetched(record: SnapshotRecord) -> Fetched:
    return Fetched(
        url=record.url,
        status=record.status,
        headers=record.headers,
        body=record.body,
        fetched_at=record.date,
    )


def versions_in(path: Path) -> Iterator[tuple[dict[str, Any], list[SnapshotRecord]]]:
    """(metadata, response records) per fetch recorded in an article snapshot."""
    meta: dict[str, Any] | None = None
    responses: list[SnapshotRecord] = []
    for record in read_warc(path):
        if record.type == "metadata":
            if meta is not None:
                yield meta, responses
            meta, responses = json.loads(record.body), []
        elif record.type in ("response", "resource"):  # resource: an imported file
            responses.append(record)
    if meta is not None:
        yield meta, responses


def _decoded(record: SnapshotRecord) -> str:
    """The body as the crawl decoded it: Scrapy's charset rules (header, BOM,
    ``<meta>``; ``charset=gbk`` read as GB18030), not blindly UTF-8."""
    headers = Headers(record.headers)
    cls = responsetypes.from_args(headers=headers, url=record.url, body=record.body)
    if issubclass(cls, TextResponse):
        return cls(url=record.url, headers=headers, body=record.body).text
    return record.body.decode("utf-8", "replace")


def _is_rendered(record: SnapshotRecord) -> bool:
    return any(name.lower() == "x-finews-rendered" for name, _ in record.headers)


def body_from(meta: dict[str, Any], responses: list[SnapshotRecord]) -> str:
    """The body HTML from the archived response the article was built from."""
    if meta.get("body_source") == "browser":
        # A rendered share page: what it loaded (Choice JSON) or its DOM.
        dom = next((r for r in reversed(responses) if _is_rendered(r)), None)
        if dom is not None:
            share, _ = parse_rendered_share(
                _decoded(dom), dom.url, [_fetched(r) for r in responses if r is not dom]
            )
            return share.text if share is not None else ""
        return ""
    for record in reversed(responses):
        if record.status != 200:
            continue
        text = _decoded(record)
        if meta.get("body_source") == "choice" and "GetNewsText" in record.url:
            choice, _ = parse_choice_text(text, record.url)
            if choice is not None:
                return choice.text
        elif meta.get("body_source") != "choice" and "GetNewsText" not in record.url:
            page, _ = parse_article_page(text, record.url)
            if page is not None:
                return page.body_html
    return ""


def info_code_of(path: Path) -> str:
    """The infoCode an article snapshot's file name gives ("" if none)."""
    name = path.name.removesuffix(".warc.gz")
    return name if INFO_CODE_RE.match(name) else ""


class RebuildSpider(ArchiveSpider):
    """Every snapshot file read whole first (:func:`warc_damage`): a damaged
    one yields no article (a good row or post must never be replaced by what a
    cut file gives), only a ``rebuild`` failure naming it; ``damaged`` lists
    them and ``expected`` the infoCodes of the whole files, for the rebuild
    command's check before it swaps the new database in."""

    name = "rebuild"
    # What a rebuild reads: (directory under the archive, the method turning
    # one whole file into items). A new kind of record adds a line here.
    sources: ClassVar[tuple[tuple[str, str], ...]] = (
        ("raw/articles", "articles_from"),
        ("raw/flash", "flashes_from"),  # after the articles: a flash may use their bodies
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expected: set[str] = set()
        self.damaged: list[dict[str, str]] = []

    async def start(self) -> AsyncIterator[Any]:
        root = self.cfg.archive_dir
        if self.cfg.images == "archive":  # pictures first: the articles show them
            for problem in restore_images_at(root, self.cfg.db_path, self.cfg.image_max_bytes):
                yield Failure(stage="rebuild", reason=problem)
        for directory, method in self.sources:
            for path in sorted((root / directory).rglob("*.warc.gz")):
                self.inc("rebuild/files")
                relpath = path.relative_to(root).as_posix()
                try:
                    reason = warc_damage(path.read_bytes(), bodies=directory != "raw/flash")
                except OSError as exc:
                    reason = f"cannot read: {exc}"
                if reason:
                    self.inc("rebuild/unreadable")
                    info_code = info_code_of(path)
                    self.damaged.append({"path": relpath, "info_code": info_code, "reason": reason})
                    yield Failure(
                        stage="rebuild",
                        reason=f"damaged snapshot: {reason}",
                        info_code=info_code,
                        detail=relpath,
                    )
                    continue
                for item in getattr(self, method)(path, relpath):
                    yield item

    def flashes_from(self, path: Path, relpath: str) -> Iterator[Any]:
        """A 7×24 item snapshot (whole): its Flash (crawler/spiders/fastrebuild.py)."""
        from crawler.spiders.fastrebuild import flash_from_file

        yield from flash_from_file(self, path, relpath)

    def closed(self, reason: str) -> None:
        from crawler.spiders.fastrebuild import link_after_rebuild

        if reason == "finished":
            link_after_rebuild(self)
        super().closed(reason)

    def articles_from(self, path: Path, relpath: str) -> Iterator[Any]:
        """An article snapshot (whole): an Article per fetch it records."""
        for n, (meta, responses) in enumerate(versions_in(path)):
            self.inc("rebuild/versions")
            if is_imported(meta):  # read from the old Jekyll archive (make import)
                if (imported := imported_file(meta, responses, relpath, n)) is not None:
                    self.expected.add(meta.get("info_code", ""))
                    yield imported
                continue
            info_code = meta["info_code"]
            self.expected.add(info_code)
            article = Article(
                info_code=info_code,
                code=meta.get("code", info_code[2:]),
                title=meta.get("title", ""),
                published=meta.get("published", ""),
                media=meta.get("media", ""),
                summary=meta.get("summary", ""),
                column_ids=list(meta.get("column_ids", [])),
                source_url=article_url(info_code[2:]),
                share_url=self.cfg.share_url_for(info_code),
                body_html=body_from(meta, responses),
                body_source=meta.get("body_source", ""),
                body_responses=[_fetched(r) for r in responses],
                fetched_at=meta.get("fetched_at", ""),
                refresh=n > 0,
                snapshot=relpath,
            )
            article.columns = [column_name(c) for c in sorted(set(article.column_ids))]
            yield article
