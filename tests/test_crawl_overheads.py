"""Per-article work the crawl process no longer does, each checked to change nothing else:
callbacks Scrapy need not re-read, the clock made once a second, the dedupe stage
trusting the spider's list lookup (workers started early: tests/test_workers.py)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.misc import is_generator_with_return_value
from scrapy.utils.test import get_crawler

from crawler import settings as project_settings
from crawler.clock import utc_now
from crawler.extensions.logfile import ArchiveLogFile
from crawler.items import Article
from crawler.spiders.base import ArchiveSpider, as_list
from crawler.spiders.columns import ColumnsSpider
from crawler.store.schema import connect
from pipelines.dedupe import DedupePipeline

BASE = {k: getattr(project_settings, k) for k in dir(project_settings) if k.isupper()}

CALLBACKS = {
    ArchiveSpider: ("parse_page", "parse_choice", "parse_share", "body_errback"),
    ColumnsSpider: ("parse_list", "parse_rendered_list", "list_errback"),
}


def test_callbacks_are_not_generator_functions() -> None:
    """Scrapy reads and parses a generator callback's source on every response
    (its cache is keyed by the bound method, new each time); a plain function
    returning a list is checked by a flag."""
    for cls, names in CALLBACKS.items():
        for name in names:
            method = getattr(cls, name)
            assert not inspect.isgeneratorfunction(method), name
            assert inspect.isgeneratorfunction(method.__wrapped__), name  # the body as written


def test_as_list_returns_what_the_generator_yields() -> None:
    class Spider:
        @as_list
        def parse(self, n: int) -> Iterator[int]:
            yield from range(n)
            if n > 2:
                return  # a bare return, as the spiders use

    assert Spider().parse(3) == [0, 1, 2]
    assert Spider().parse(0) == []
    assert not is_generator_with_return_value(Spider().parse)


def test_utc_now_is_the_second_as_datetime_formats_it() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = utc_now()
    after = datetime.now(UTC).replace(microsecond=0)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= parsed <= after
    # Made once a second: a later second gives a new string.
    time.sleep(1.05)
    assert utc_now() > stamp


def _article(info_code: str, **fields: object) -> Article:
    return Article(info_code=info_code, code=info_code[2:], **fields)  # type: ignore[arg-type]


def test_dedupe_trusts_absent_at_list_and_still_drops_in_run(tmp_path: Path) -> None:
    crawler = get_crawler(settings_dict={**BASE, "FINEWS_ARCHIVE_DIR": str(tmp_path)})
    db = connect(tmp_path / "finews.db")
    archived = "NW202611240000000001"
    with db.conn:
        db.conn.execute(
            "INSERT INTO articles (info_code, code, title, published_at) VALUES (?, ?, ?, ?)",
            [archived, archived[2:], "标题", "2026-11-24 08:00:00"],
        )
    db.close()
    stage = DedupePipeline.from_crawler(crawler)
    stage.open_spider()
    try:
        # Without the flag the database is asked: archived, dropped.
        with pytest.raises(DropItem, match="already archived"):
            asyncio.run(stage.process_item(_article(archived)))
        # With it (the spider's list lookup found it absent), no lookup: passed on.
        item = asyncio.run(stage.process_item(_article(archived, absent_at_list=True)))
        assert item.info_code == archived
        # The in-run check still holds for a second copy.
        with pytest.raises(DropItem, match="in this run"):
            asyncio.run(stage.process_item(_article(archived, absent_at_list=True)))
    finally:
        stage.close_spider()


def test_archive_log_file_writes_the_archive_log(tmp_path: Path) -> None:
    from scrapy.utils.log import _uninstall_scrapy_root_handler, install_scrapy_root_handler

    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    root.handlers = []
    root.setLevel(logging.NOTSET)
    try:
        settings = {**BASE, "FINEWS_ARCHIVE_DIR": str(tmp_path), "LOG_LEVEL": "WARNING"}
        crawler = get_crawler(settings_dict=settings)
        ArchiveLogFile.from_crawler(crawler)
        # As a crawl does: Scrapy installs its root handler after building the extensions.
        install_scrapy_root_handler(crawler.settings)
        logging.getLogger("finews.test").info("kept in the file")
        for handler in root.handlers:
            handler.flush()
        assert "kept in the file" in (tmp_path / "logs" / "finews.log").read_text()
    finally:
        _uninstall_scrapy_root_handler()
        for handler in root.handlers:
            if handler not in saved_handlers:
                handler.close()
        root.handlers = saved_handlers
        root.setLevel(saved_level)


def test_spider_marks_only_articles_its_list_lookup_found_absent(tmp_path: Path) -> None:
    from crawler.items import ListEntry

    crawler = get_crawler(
        ColumnsSpider,
        {**BASE, "FINEWS_ARCHIVE_DIR": str(tmp_path / "archive"), "FINEWS_RENDER": "never"},
    )
    spider = ColumnsSpider.from_crawler(crawler)
    crawler.spider = spider
    try:
        new = ListEntry("202611240000000001", "新", "2026-11-24 08:00:00", "新华社")
        other = ListEntry("202611240000000002", "旧", "2026-11-24 07:00:00", "新华社")
        archived = {other.info_code: [350]}  # archived in another column
        request = spider.route_entry(new, 345, archived, [])
        assert request is not None and request.meta["article"].absent_at_list
        again = spider.route_entry(other, 345, archived, [])  # a new column: a refresh
        assert again is not None
        assert again.meta["article"].refresh and not again.meta["article"].absent_at_list
    finally:
        spider.closed("finished")
