"""The 7×24 feed's pure parts: the answer parser (golden), the walk's stop rule,
the settings, the emnews post's shape, and the replica's feed as documented."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from scrapy.settings import Settings

from crawler import fastwalk
from crawler.config import ConfigError, FinewsConfig, parse_fast_columns
from crawler.eastmoney.fastnews import digest_of, parse_fast_list, parse_flash
from crawler.eastmoney.urls import fast_news_url
from crawler.items import Flash, FlashEntry
from crawler.settings import FINEWS_FAST_COLUMNS
from crawler.transform.emnews import (
    emnews_post_relpath,
    render_emnews_category_page,
    render_emnews_post,
)
from crawler.walk import Window
from tests.replica import fastnews as feed
from tests.replica.faults import Faults
from tests.replica.server import ReplicaState

FIXTURES = Path(__file__).parent / "fixtures" / "fastnews"
NOW = datetime(2026, 6, 16, 7, 0, tzinfo=UTC)


def test_parser_golden() -> None:
    page = parse_fast_list((FIXTURES / "getFastNewsList_102.jsonp").read_text("utf-8"), NOW)
    got = {
        "ok": page.ok,
        "cursor": page.cursor,
        "items": page.items,
        "entries": [dataclasses.asdict(e) for e in page.entries],
        "rejected": [reason for _, reason in page.rejected],
    }
    expected = json.loads((FIXTURES / "getFastNewsList_102.expected.json").read_text("utf-8"))
    assert got == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"code":"0","message":"参数缺失"}', "code '0': 参数缺失"),
        ('{"code":0,"message":"x"}', "code 0: x"),
        ("<html>滑块验证</html>", "not JSON"),
        ("[1, 2]", "answer is not an object"),
        ('{"code":"1","data":{"fastNewsList":{}}}', "no data.fastNewsList"),
    ],
)
def test_parser_error_answers(text: str, error: str) -> None:
    page = parse_fast_list(text, NOW)
    assert not page.ok
    assert page.error.startswith(error)


def test_parser_success_code_as_number_and_end_of_feed() -> None:
    assert parse_fast_list('{"code":1,"data":{"sortEnd":"","fastNewsList":[]}}').ok
    page = parse_fast_list('{"code":"1","message":"success","data":null}')
    assert page.ok and page.items == 0 and page.cursor == ""


def test_cursor_falls_back_to_last_real_sort() -> None:
    items = [
        {
            "code": "202606163772915624",
            "title": "a",
            "showTime": "2026-06-16 14:09:57",
            "realSort": "9",
        },
        {"code": "bad", "title": "b", "showTime": "2026-06-16 14:09:57", "realSort": "7"},
    ]
    page = parse_fast_list(json.dumps({"code": "1", "data": {"fastNewsList": items}}), NOW)
    assert page.cursor == "7"  # the last item's, readable or not
    assert [r for _, r in page.rejected] == ["bad code 'bad'"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(item, reason) for item, reason in feed.BAD_FLASHES]
    + [({"code": 202606163772915624, "title": "数字代码", "showTime": "2026-06-16 14:00:00"}, "")],
)
def test_bad_items_have_reasons(raw: object, reason: str) -> None:
    entry, why = parse_flash(raw, datetime(2026, 12, 1, tzinfo=UTC))
    if reason:
        assert entry is None and reason in why
    else:  # a code sent as a JSON number still reads as its digits
        assert entry is not None and entry.code == "202606163772915624"


@pytest.mark.parametrize(
    ("title", "summary", "digest"),
    [
        ("标题", "【标题】正文", "正文"),
        ("标题", "  【标题】 正文 ", "正文"),
        ("标题", "正文【不是开头】", "正文【不是开头】"),
        ("标题", "【标题】", "标题"),
        ("标题", "", "标题"),
        ("标题", "【另一个】正文", "正文"),
    ],
)
def test_digest_rule(title: str, summary: str, digest: str) -> None:
    assert digest_of(title, summary) == digest


def test_feed_url() -> None:
    url = fast_news_url(1, 102, "1781590197015624", 50, "1781590201000")
    parts = urlsplit(url)
    assert parts.netloc == "np-listapi.eastmoney.com" and parts.path == "/comm/web/getFastNewsList"
    assert dict(parse_qsl(parts.query, keep_blank_values=True)) == {
        "client": "web",
        "biz": "web_724",
        "fastColumn": "102",
        "sortEnd": "1781590197015624",
        "pageSize": "50",
        "req_trace": "1781590201000",
    }
    assert urlsplit(fast_news_url(0, 102, "", 50, "1")).netloc == "np-weblist.eastmoney.com"


def test_fast_columns_setting() -> None:
    assert FINEWS_FAST_COLUMNS == "102"
    settings = Settings()
    settings.setmodule("crawler.settings")
    assert FinewsConfig.from_settings(settings).fast_columns == (102,)
    settings.set("FINEWS_FAST_COLUMNS", "102, 101,102")
    assert FinewsConfig.from_settings(settings).fast_columns == (102, 101)
    settings.set("FINEWS_FAST_COLUMNS", "99")
    with pytest.raises(ConfigError):
        FinewsConfig.from_settings(settings)
    assert parse_fast_columns("100,131", "-a columns") == [100, 131]
    for bad in ("99", "132", "102,abc", ""):
        with pytest.raises(ConfigError):
            parse_fast_columns(bad, "FINEWS_FAST_COLUMNS")


def _page(**kw: object) -> fastwalk.FeedPageSeen:
    fields = {
        "number": 1,
        "items": 10,
        "sent_cursor": "",
        "cursor": "5",
        "oldest": "2026-11-22 10:00:00",
    }
    fields.update(all_known=False)
    fields.update(kw)
    return fastwalk.FeedPageSeen(**fields)  # type: ignore[arg-type]


def test_walk_stop_rules() -> None:
    walk = fastwalk.FeedWalk()
    assert walk.stop(_page()) == ""
    assert walk.stop(_page(items=0)) == fastwalk.END
    assert walk.stop(_page(cursor="")) == fastwalk.END
    assert walk.stop(_page(sent_cursor="5")) == fastwalk.REPEATED
    assert walk.stop(_page(all_known=True)) == fastwalk.KNOWN
    assert fastwalk.FeedWalk(incremental=False).stop(_page(all_known=True)) == ""
    assert fastwalk.FeedWalk(max_pages=1).stop(_page()) == fastwalk.MAX_PAGES
    backfill = fastwalk.FeedWalk(window=Window.from_dates("2026-11-22", None))
    assert backfill.stop(_page(all_known=True)) == ""  # a backfill never stops at known pages
    assert backfill.stop(_page(oldest="2026-11-21 23:59:59")) == fastwalk.WINDOW


HOSTILE = '他说："涨停" & *a: !t #c --- {{ x }} {% y %}\u2028<script>'


def _flash(**kw: object) -> Flash:
    entry = FlashEntry(
        code="202611233799000007",
        title=HOSTILE,
        show_time="2026-11-23 09:00:00",
        summary=f"【{HOSTILE}】# 不是标题\n- 也不是列表",
        digest=digest_of(HOSTILE, f"【{HOSTILE}】# 不是标题\n- 也不是列表"),
        title_color=2,
        stocks=["1.601068"],
    )
    return Flash(entry=entry, column_ids=[102], **kw)  # type: ignore[arg-type]


def test_emnews_post_shape() -> None:
    text = render_emnews_post(_flash(), "https://finews.example")
    lines = text.split("\n")
    assert lines[0] == "---"
    assert lines[2].startswith('title: "') and lines[2].endswith('"')
    assert lines[1:6][0] == "layout: post"
    assert lines[3:6] == [
        "date: 2026-11-23 09:00:00 +0800",
        "categories: emnews",
        "tags: 东财滚动新闻",
    ]
    front, body = text.split("\n---\n", 1)
    meta = yaml.safe_load(front[4:])
    assert meta["title"] == HOSTILE  # read back exactly
    assert meta["info_code"] == "NW202611233799000007"
    assert meta["source_url"] == "https://finance.eastmoney.com/a/202611233799000007.html"
    assert meta["important"] is True and meta["render_with_liquid"] is False
    assert meta["stocks"] == ["1.601068"] and meta["fast_columns"] == ["7×24 全球直播"]
    assert body.startswith("\\# 不是标题\n\n\\- 也不是列表\n")
    assert body.endswith(
        "\n\n<https://finance.eastmoney.com/a/202611233799000007.html>\n\n"
        "[返回东财滚动新闻](https://finews.example/category/emnews.html)"
        "｜[返回首页](https://finews.example/)\n"
    )


def test_emnews_post_with_article_text() -> None:
    flash = _flash(body_markdown="第一段。\n\n第二段。", article_post="_posts/2026/11/x-NW1.md")
    text = render_emnews_post(flash, "")
    assert "article_post: _posts/2026/11/x-NW1.md\n" in text
    assert "\n---\n> \\# 不是标题\n>\n> \\- 也不是列表\n\n第一段。\n\n第二段。\n\n<https://" in text
    assert "important: true" in text
    plain = dataclasses.replace(_flash(), entry=dataclasses.replace(_flash().entry, title_color=0))
    assert "important" not in render_emnews_post(plain, "")


def test_emnews_paths_and_category_page() -> None:
    assert emnews_post_relpath("202611233799000007", "2026-11-23 09:00:00") == (
        "_posts/2026/11/2026-11-23-202611233799000007.md"
    )
    assert emnews_post_relpath("NW202112082206672930", "2021-12-08 12:00:00", 3).startswith(
        "old_post/2021/12/2021-12-08-202112082206672930"
    )
    assert render_emnews_category_page() == (
        "---\nlayout: category\ntitle: 东财滚动新闻\ncategory: emnews\n---\n"
    )


def test_replica_feed_pages_by_cursor_and_jsonp() -> None:
    state = ReplicaState([], faults=Faults(bad_items=True))
    seen: list[str] = []
    cursor, pages = "", 0
    while True:
        query = {"fastColumn": "102", "sortEnd": cursor, "pageSize": "7", "req_trace": "1"}
        status, _, body = state.fast.answer(query, True)
        doc = json.loads(body)
        assert status == 200 and doc["code"] == "1"  # a string, as upstream sends it
        items = [i for i in doc["data"]["fastNewsList"] if isinstance(i, dict) and "realSort" in i]
        if not items:
            assert doc["data"].get("sortEnd", "") == ""
            break
        pages += 1
        cursor = doc["data"].get("sortEnd") or items[-1]["realSort"]
        seen += [i["code"] for i in items]
    expected = [i for i in feed.FLASHES + feed.filler_flashes() if 102 in i["columns"]]
    assert sorted(seen) == sorted(i["code"] for i in expected) and len(seen) == len(set(seen))
    assert pages == -(-len(expected) // 7)
    status, ctype, body = state.fast.answer(
        {"fastColumn": "102", "req_trace": "1", "callback": "cb"}, True
    )
    assert ctype.startswith("application/javascript") and body.startswith(b"cb({")
    bad = json.loads(state.fast.answer({"fastColumn": "102", "req_trace": "1"}, True)[2])
    assert len(bad["data"]["fastNewsList"]) == len(feed.BAD_FLASHES) + 20
    assert json.loads(state.fast.answer({"fastColumn": "102"}, True)[2])["code"] == "0"
