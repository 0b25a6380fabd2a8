"""Pure parser functions on saved pages and answers, against golden values checked by eye."""

from __future__ import annotations

import json
from pathlib import Path

from crawler.eastmoney import choice, ids, lists, pages, urls

PAGES = Path(__file__).parent / "fixtures" / "pages"


def list_answer(code: object = 1, items: list | None = None) -> str:
    return json.dumps(
        {
            "req_trace": "1",
            "code": code,
            "message": "success",
            "data": {"page_index": 1, "page_size": 20, "totle_hits": 2440, "list": items or []},
        },
        ensure_ascii=False,
    )


ITEM = {
    "code": "202206142411662087",
    "np_dst": "CMS",
    "showTime": "2022-06-14 10:45:40",
    "title": "共绘绿色低碳发展新篇章",
    "mediaName": "中国经济网",
    "summary": "摘要",
    "image": "",
    "url": "http://finance.eastmoney.com/news/1350,202206142411662087.html",
    "uniqueUrl": "http://finance.eastmoney.com/a/202206142411662087.html",
}


def test_list_url_carries_every_required_parameter() -> None:
    url = urls.list_url(350, 2, 50, "1700000000000")
    assert url.startswith("https://np-listapi.eastmoney.com/comm/web/getNewsByColumns?")
    for part in (
        "client=web",
        "biz=web_news_col",
        "column=350",
        "order=1",
        "needInteractData=0",
        "page_index=2",
        "page_size=50",
        "req_trace=1700000000000",
        "fields=code,showTime,title,mediaName,summary,image,url,uniqueUrl,Np_dst",
        "types=1,20",
    ):
        assert part in url


def test_parse_list_reads_entries_with_int_or_string_code() -> None:
    for code in (1, "1"):
        page = lists.parse_list(list_answer(code, [ITEM]))
        assert page.ok and page.total == 2440
        (entry,) = page.entries
        assert entry.info_code == "NW202206142411662087"
        assert entry.show_time == "2022-06-14 10:45:40"
        assert entry.media == "中国经济网"
        assert entry.np_dst == "CMS"


def test_parse_list_jsonp_and_errors() -> None:
    assert (
        lists.parse_list(f"jQuery123_456({list_answer(1, [ITEM])});").entries[0].code
        == ITEM["code"]
    )
    err = lists.parse_list(
        '{"code":0,"message":"Required String parameter \'req_trace\' is not present"}'
    )
    assert not err.ok and "req_trace" in err.error
    assert not lists.parse_list("<html>滑块验证</html>").ok
    assert not lists.parse_list('{"code":1,"data":null}').ok
    assert not lists.parse_list("[1,2]").ok


def test_parse_list_rejects_bad_items_with_reasons_and_keeps_good_ones() -> None:
    bad = [
        {**ITEM, "code": "../../etc"},
        {**ITEM, "code": 12},
        {**ITEM, "showTime": "tomorrow"},
        {**ITEM, "title": ""},
        "not an object",
    ]
    page = lists.parse_list(list_answer(1, [ITEM, *bad]))
    assert [e.code for e in page.entries] == [ITEM["code"]]
    reasons = [r for _, r in page.rejected]
    assert reasons == [
        "bad code '../../etc'",
        "bad code '12'",
        "bad showTime 'tomorrow'",
        "missing title",
        "not an object",
    ]


def test_unknown_fields_are_ignored_and_missing_optional_ones_tolerated() -> None:
    item = {k: v for k, v in ITEM.items() if k not in ("summary", "image", "uniqueUrl")}
    item["brandNewField"] = {"x": 1}
    (entry,) = lists.parse_list(list_answer(1, [item])).entries
    assert entry.summary == "" and entry.unique_url == ""


def test_code_from_id_forms() -> None:
    code = "202206142411662087"
    for value in (
        "NW" + code,
        code,
        f"https://finance.eastmoney.com/a/{code}.html",
        f"http://finance.eastmoney.com/news/1350,{code}.html",
        f"https://wap.eastmoney.com/a/{code}.html",
    ):
        assert ids.code_from_id(value) == code, value
    for value in ("NW12", "NW../../etc", "https://example.com/", "", "2022-06-14"):
        assert ids.code_from_id(value) is None, value


def test_current_template_page() -> None:
    page, reason = pages.parse_article_page((PAGES / "current_template.html").read_text())
    assert reason == ""
    assert page.template == "current"
    assert page.title == "央行：保持流动性合理充裕"
    assert page.published == "2026-11-20 09:31:00"
    assert page.media == "证券时报"
    assert page.summary == "央行表示将保持流动性合理充裕。"
    assert "人民银行11月20日开展了逆回购操作" in page.body_html
    # Raw body: the editor line and the ad are still there; cleaning removes them.
    assert "res-edit" in page.body_html
    assert "推荐阅读" not in page.body_html


def test_old_template_page() -> None:
    page, _ = pages.parse_article_page((PAGES / "old_template.html").read_text())
    assert page.template == "old"
    assert page.title == "旧版模板：A股三大指数收涨"
    assert page.published == "2019-03-01 09:30:00"
    assert page.media == "新华社"
    assert page.summary == "三大指数收涨。"
    assert "3月1日" in page.body_html


def test_bare_media_item_and_author_item() -> None:
    page, _ = pages.parse_article_page((PAGES / "bare_media_item.html").read_text())
    assert page.media == "界面新闻"
    assert page.published == "2026-08-19 17:46:00"


def test_page_without_body_is_a_reason_not_an_exception() -> None:
    for html in ("", "<html><body>滑块验证</body></html>", "\x00\xff garbage <<<"):
        page, reason = pages.parse_article_page(html)
        assert page is None and reason


def test_choice_text() -> None:
    answer = json.dumps(
        {"text": "<p>正文</p>", "content": "　　正文", "showTime": "2022-06-14 10:45:40"}
    )
    text, reason = choice.parse_choice_text(answer)
    assert reason == "" and text.text == "<p>正文</p>" and text.published == "2022-06-14 10:45:40"
    assert choice.parse_choice_text('{"text":"","content":""}') == (None, "empty Choice text")
    assert choice.parse_choice_text("oops")[0] is None


def test_split_ids_keeps_legacy_urls_whole() -> None:
    legacy = "http://finance.eastmoney.com/news/1350,202206142411662087.html"
    assert ids.split_ids(f"NW202206142411662087, {legacy},202206142411662088,,") == [
        "NW202206142411662087",
        legacy,
        "202206142411662088",
    ]


def test_impossible_times_give_no_date() -> None:
    """A Choice answer or a page showing a time that does not exist (month 31,
    found by the chaos run's fuzzing) gives no date, never a wrong one: the
    list's showTime is used, or validation records the article as failed."""
    answer = (
        '{"id":"NW202611233592418806","title":"标题","showTime":"2026-31-23 09:12:00",'
        '"mediaName":"中国经济网","text":"<p>正文</p>"}'
    )
    text, reason = choice.parse_choice_text(answer, "")
    assert reason == "" and text is not None and text.published == ""
    ok = answer.replace("2026-31-23", "2026-11-23")
    assert choice.parse_choice_text(ok, "")[0].published == "2026-11-23 09:12:00"
    assert pages.page_time("2026年31月23日 09:12") == ""
    assert pages.page_time("2026年02月30日 09:12") == ""
    assert pages.page_time("2026年11月23日 09:12") == "2026-11-23 09:12:00"


def test_current_template_fields_on_nested_pages() -> None:
    """The current template's fields on pages with nested, repeated and oddly
    spaced classes, against what parsel's CSS engine finds for the selectors
    the template documents (``div.contentwrap div.title``, falling back to
    ``div.title``; ``div.tipbox div.infos div.item``; ``div.abstract div.txt``):
    descendants at any depth, each text node once, classes split on whitespace."""
    import random
    import re

    from parsel import Selector

    classes = ["title", "contentwrap", "tipbox", "infos", "item", "abstract", "txt", "x"]
    classes += ["title x", " title\t", "TITLE", "title\xa0y", "infos item", "tipbox infos"]
    texts = ["标题", " ", "来源：新华社", "\n", "2026年11月23日 09:12", "作者：赵六", "界面新闻"]
    rnd = random.Random(11)

    def page(depth: int = 0) -> str:
        parts = []
        for _ in range(rnd.randrange(1, 4)):
            if depth > 5 or rnd.random() < 0.3:
                parts.append(rnd.choice(texts))
            else:
                parts.append(f'<div class="{rnd.choice(classes)}">{page(depth + 1)}</div>')
        return "".join(parts)

    def joined(values: list[str]) -> str:
        return " ".join(t.strip() for t in values if t.strip())

    def media_of(items: list[str]) -> str:
        for text in items:
            if m := re.search(r"来源\s*[：:]\s*(.+)", text):
                return m.group(1).strip()
        for text in items:
            if (
                text
                and not pages.page_time(text)
                and not re.match(r"^(作者|编辑|责任编辑)\s*[：:]", text)
            ):
                return text.strip()
        return ""

    seen = {"title": 0, "fallback title": 0, "published": 0, "media": 0, "summary": 0}
    for _ in range(300):
        html = f'<html><body>{page()}<div id="ContentBody"><p>正文</p></div></body></html>'
        sel = Selector(text=html)
        title = joined(sel.css("div.contentwrap div.title ::text").getall())
        if not title:
            title = joined(sel.css("div.title ::text").getall())
            seen["fallback title"] += bool(title)
        items = [joined(s.css("::text").getall()) for s in sel.css("div.tipbox div.infos div.item")]
        published = next((pages.page_time(t) for t in items if pages.page_time(t)), "")
        summary = joined(sel.css("div.abstract div.txt ::text").getall())
        got, reason = pages.parse_article_page(html)
        assert reason == "" and got is not None and got.template == "current", html
        assert got.body_html == "<p>正文</p>"
        assert got.title == title, html
        assert got.published == published, html
        assert got.media == media_of(items), html
        assert got.summary == summary, html
        seen["title"] += bool(title)
        seen["published"] += bool(published)
        seen["media"] += bool(got.media)
        seen["summary"] += bool(summary)
    # The generated pages exercise every field, the fallback title included.
    assert all(count >= 10 for count in seen.values()), seen
