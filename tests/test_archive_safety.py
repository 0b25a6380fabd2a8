"""The archive is never lost (issue 19), the parts that need no crawl: what a
damaged snapshot file is, append-only snapshot writes, outcomes that tell the
truth, small log lines, answers nested too deep."""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

import pytest
from scrapy.utils.log import logformatter_adapter

from crawler.eastmoney.lists import parse_list
from crawler.items import Article, Fetched
from crawler.logformat import FinewsLogFormatter
from crawler.middlewares.blockpages import looks_like_json
from crawler.outcome import outcome
from crawler.spiders.rebuild import versions_in
from crawler.transform.snapshots import write_article_snapshot
from crawler.transform.warc import warc_bytes, warc_damage

DEEP = "[" * 100_000 + "]" * 100_000


def fetched(body: bytes, at: str = "2026-11-24T02:16:58Z") -> Fetched:
    return Fetched(
        url="https://finance.eastmoney.com/a/202611243592400001.html",
        status=200,
        headers=[("Content-Type", "text/html; charset=utf-8")],
        body=body,
        fetched_at=at,
    )


def meta(at: str = "2026-11-24T02:16:58Z", refresh: bool = False) -> dict:
    return {"info_code": "NW202611243592400001", "fetched_at": at, "refresh": refresh}


def members(data: bytes) -> list[bytes]:
    """The gzip members of a WARC file, as bytes."""
    out = []
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        d.decompress(data)
        size = len(data) - len(d.unused_data)
        out.append(data[:size])
        data = data[size:]
    return out


BODY = (
    "<div id='ContentBody'><p>正文第一段。</p><p>（文章来源：中国经济网）</p></div>".encode() * 20
)
WHOLE = warc_bytes([fetched(BODY)], meta())


def test_a_whole_file_reads_whole() -> None:
    assert warc_damage(WHOLE) == ""
    assert warc_damage(warc_bytes([fetched(BODY)]), article=False) == ""
    two = WHOLE + warc_bytes([fetched(BODY + b"!", "2026-11-25T00:00:00Z")], meta(refresh=True))
    assert warc_damage(two) == ""


@pytest.mark.parametrize(
    "cut, found",
    [
        (lambda d: d[: len(d) - 40], "cut inside the gzip member"),  # mid-response
        (lambda d: d[:30], "cut inside the gzip member"),  # inside the metadata record
        (lambda d: members(d)[0], "has no response after it"),  # the response missing
        (lambda d: members(d)[1], "does not start with a metadata record"),
        (lambda d: d[:20] + bytes(b ^ 0xFF for b in d[20:40]) + d[40:], "corrupt"),
        (lambda d: b"", "empty file"),
        (lambda d: d + b"garbage", "gzip member at byte"),
    ],
)
def test_damage_is_found_and_named(cut, found: str, tmp_path: Path) -> None:
    damaged = cut(WHOLE)
    assert found in warc_damage(damaged)
    if found == "cut inside the gzip member" and len(damaged) > 100:
        # warcio itself reads the file cut mid-response without a word, and
        # gives a short body: the reason for the check.
        probe = tmp_path / "cut.warc.gz"
        probe.write_bytes(damaged)
        ((_, responses),) = list(versions_in(probe))
        assert BODY.startswith(responses[0].body) and len(responses[0].body) < len(BODY)


def test_a_list_snapshot_without_a_response_is_damaged() -> None:
    assert warc_damage(members(WHOLE)[0], article=False) == "no response record"


def test_snapshots_are_appended_never_rewritten(tmp_path: Path) -> None:
    root = tmp_path
    path = root / "raw" / "articles" / "2026" / "11" / "NW202611243592400001.warc.gz"
    path.parent.mkdir(parents=True)
    size, damage = write_article_snapshot(path, [fetched(BODY)], meta(), root)
    first = path.read_bytes()
    assert size == len(first) and damage == ""
    # A fetch that is not a refresh (the database was lost): appended, not rewritten.
    later = meta("2026-11-25T00:00:00Z")
    size, damage = write_article_snapshot(path, [fetched(BODY, later["fetched_at"])], later, root)
    assert damage == "" and path.read_bytes().startswith(first)
    assert len(list(versions_in(path))) == 2
    # The same fetch again (a worker's call redone) adds nothing.
    assert write_article_snapshot(path, [fetched(BODY, later["fetched_at"])], later, root)[0] == 0


def test_a_damaged_snapshot_is_moved_aside_and_a_new_one_started(tmp_path: Path) -> None:
    root = tmp_path
    path = root / "raw" / "articles" / "2026" / "11" / "NW202611243592400001.warc.gz"
    path.parent.mkdir(parents=True)
    cut = WHOLE[: len(WHOLE) - 40]
    path.write_bytes(cut)
    later = meta("2026-11-25T00:00:00Z", refresh=True)
    _, damage = write_article_snapshot(path, [fetched(BODY, later["fetched_at"])], later, root)
    assert "cut inside the gzip member" in damage and "raw/damaged/articles/2026/11/" in damage
    (kept,) = [p for p in (root / "raw" / "damaged").rglob("*") if p.is_file()]
    assert kept.read_bytes() == cut  # kept byte for byte, never deleted
    assert warc_damage(path.read_bytes()) == ""
    assert len(list(versions_in(path))) == 1  # the new file holds the new fetch


def test_deep_json_is_an_unusable_answer_not_a_crash() -> None:
    assert looks_like_json(DEEP) is False
    assert looks_like_json(f"cb({DEEP});") is False
    result = parse_list(DEEP)
    assert not result.ok and "too deep" in result.error


def stats(**extra: int) -> dict:
    base = {
        "finews/list/pages": 2,
        "finews/article/requested": 10,
        "finews/validate/ok": 10,
        "finews/index/archived": 10,
        "downloader/request_count": 12,
    }
    return {**base, **extra}


def test_outcomes_tell_the_truth() -> None:
    assert outcome(stats(), "finished", 0.9, 0.5).status == "ok"
    raised = outcome(
        stats(**{"spider_exceptions/count": 3, "spider_exceptions/DatabaseError": 3}),
        "finished",
        0.9,
        0.5,
    )
    assert raised.status == "failed" and "DatabaseError 3" in raised.reasons[0]
    assert outcome(stats(**{"finews/index/errors": 1}), "finished", 0.9, 0.5).status == "failed"
    fatal = outcome({**stats(), "finews/fatal": "run row not written: disk full"}, "x", 0.9, 0.5)
    assert fatal.reasons == ("run row not written: disk full",)
    # Nothing left after cleaning: recorded and counted, not a lost row.
    empty = stats(**{"finews/index/archived": 9, "finews/clean/empty": 1})
    assert outcome(empty, "finished", 0.5, 0.5).status == "ok"
    assert outcome(stats(**{"finews/index/archived": 9}), "finished", 0.5, 0.5).status == "failed"


def test_a_failing_item_is_one_small_line(caplog: pytest.LogCaptureFixture) -> None:
    article = Article(info_code="NW202611243592400001", code="202611243592400001")
    article.body_html = "x" * 50_000
    formatter = FinewsLogFormatter()
    try:
        raise OSError(28, "No space left on device")
    except OSError as exc:
        error = exc
    entry = formatter.item_error(article, error, None, None)
    logger = logging.getLogger("scrapy.core.scraper")
    with caplog.at_level(logging.ERROR, logger="scrapy.core.scraper"):
        try:
            raise error
        except OSError:
            logger.log(*logformatter_adapter(entry), extra={"item": article}, exc_info=True)
    (record,) = caplog.records
    text = caplog.text
    assert "NW202611243592400001" in text and "No space left on device" in text
    assert "xxxx" not in text and "Traceback" not in text and len(text) < 500
    assert record.exc_info is None
