"""``crawler.eastmoney.rendered`` on saved real renders (``tests/fixtures/rendered/``).

The point: an article archived through the browser route is the same post as
through the fast route. The captured JSON gives identical list entries and the
identical Choice ``text``; the DOM fallback gives a body whose cleaned HTML and
Markdown are identical too (the raw innerHTML is not: see the last tests).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crawler.eastmoney import choice, lists, urls
from crawler.eastmoney.rendered import (
    parse_rendered_list,
    parse_rendered_list_items,
    parse_rendered_share,
    parse_rendered_share_dom,
)
from crawler.items import Article, Fetched
from crawler.transform.html.clean import clean_body
from crawler.transform.markdown import html_to_markdown
from crawler.transform.posts import render_post
from tests.replica.fixtures import load_articles
from tests.replica.server import ReplicaState

HERE = Path(__file__).resolve().parent / "fixtures" / "rendered"
MANIFEST = json.loads((HERE / "MANIFEST.json").read_text(encoding="utf-8"))
PAGES = {p["id"]: p for p in MANIFEST["pages"]}
ARTICLES = {a["name"]: a for a in load_articles()}
BY_CODE = {a["code"]: a for a in ARTICLES.values()}
SHARE_IDS = sorted(p for p in PAGES if p.startswith("share_"))
LIST_COLUMNS = {
    "list_350": (350, 1),
    "list_350_p2": (350, 2),
    "list_345": (345, 1),
    "list_353": (353, 1),
}
SHARE_URL = "http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode={info_code}"


def dom(page_id: str) -> str:
    return (HERE / f"{page_id}.dom.html").read_text(encoding="utf-8")


def captured(page_id: str) -> list[Fetched]:
    raw = json.loads((HERE / f"{page_id}.captured.json").read_text(encoding="utf-8"))
    return [
        Fetched(
            url=c["url"],
            status=c["status"],
            headers=[tuple(h) for h in c["headers"]],
            body=c["body"].encode("utf-8"),
            fetched_at=c["fetched_at"],
            method=c["method"],
        )
        for c in raw
    ]


# The fast route's answers, from the replica's own (pure) routes.
STATE = ReplicaState(load_articles())


def fast_list(column: int, page: int) -> lists.ListPage:
    query = {"req_trace": "1", "column": str(column), "page_index": str(page), "page_size": "20"}
    return lists.parse_list(STATE.list_api(query, {}).body.decode("utf-8"))


def fast_choice(info_code: str) -> choice.ChoiceText | None:
    text, _ = choice.parse_choice_text(
        STATE.choice_text({"id": info_code}, {}).body.decode("utf-8")
    )
    return text


def post(entry_fields: dict[str, Any], body: Any, column: int) -> str:
    """The post file, built the way the spider and pipelines do."""
    code = entry_fields["code"]
    article = Article(
        info_code="NW" + code,
        code=code,
        title=entry_fields["title"],
        published=entry_fields["show_time"],
        media=entry_fields["media"],
        summary=entry_fields["summary"],
        column_ids=[column],
        source_url=urls.article_url(code),
        share_url=SHARE_URL.format(info_code="NW" + code),
    )
    article.title = article.title or body.title
    article.published = article.published or body.published
    article.media = article.media or body.media
    article.body_html = body.text
    article.columns = [urls.column_name(column)]
    cleaned = clean_body(article.body_html, article.source_url)
    article.clean_html, article.stocks = cleaned.html, list(cleaned.stocks)
    article.body_markdown = html_to_markdown(cleaned.html)
    return render_post(article, "")


# --------------------------------------------------------------------------- provenance


def test_fixtures_are_real_renders() -> None:
    assert "chromium" in MANIFEST["chromium"].lower() or "headless" in MANIFEST["chromium"]
    assert MANIFEST["scrapy-playwright"] == "0.0.48"
    for page in MANIFEST["pages"]:
        expected = "state:empty" if page["id"] == "share_choice_empty_page_ok" else "state:loaded"
        assert page["state"] == expected, page
        html = dom(page["id"])
        assert 'data-state="loading"' not in html  # the page's script ran
        doc = captured(page["id"])[0]
        assert doc.url == page["url"] and b'data-state="loading"' in doc.body  # the shell as served


# --------------------------------------------------------------------------- column pages


@pytest.mark.parametrize("page_id", sorted(LIST_COLUMNS))
def test_list_from_captured_json_equals_the_fast_route(page_id: str) -> None:
    column, page_no = LIST_COLUMNS[page_id]
    page = parse_rendered_list(dom(page_id), PAGES[page_id]["url"], captured(page_id), column)
    fast = fast_list(column, page_no)
    assert page.ok and page.source == "json"
    assert page.entries == fast.entries  # every field, showTime to the second, media
    assert page.total == fast.total and page.rejected == []
    api = [c for c in captured(page_id) if "getNewsByColumns" in c.url]
    assert len(api) == 1 and api[0].url.startswith("https://np-listapi.eastmoney.com/")


@pytest.mark.parametrize("page_id", sorted(LIST_COLUMNS))
def test_list_from_the_dom_has_the_same_articles_without_seconds_and_media(page_id: str) -> None:
    column, page_no = LIST_COLUMNS[page_id]
    page = parse_rendered_list(dom(page_id), PAGES[page_id]["url"])  # nothing captured
    fast = fast_list(column, page_no)
    assert page.ok and page.source == "dom" and page.total is None
    assert [(e.code, e.title, e.summary) for e in page.entries] == [
        (e.code, e.title, e.summary) for e in fast.entries
    ]
    assert [e.np_dst == "CFH" for e in page.entries] == [e.np_dst == "CFH" for e in fast.entries]
    assert [e.url for e in page.entries] == [e.unique_url or e.url for e in fast.entries]
    assert all(e.show_time == "" and e.media == "" for e in page.entries)
    # What the DOM does show: month, day, hours and minutes.
    for item, entry in zip(page.dom_items, fast.entries, strict=True):
        t = entry.show_time
        assert item.time_text == f"{t[5:7]}月{t[8:10]}日 {t[11:16]}"


def test_list_falls_back_to_the_dom_when_the_captured_json_is_a_refusal() -> None:
    refused = [
        Fetched(
            url=c.url,
            status=200,
            headers=c.headers,
            body='{"code":0,"message":"非法请求"}'.encode(),
            fetched_at=c.fetched_at,
        )
        if "getNewsByColumns" in c.url
        else c
        for c in captured("list_350")
    ]
    page = parse_rendered_list(dom("list_350"), PAGES["list_350"]["url"], refused, 350)
    assert page.ok and page.source == "dom" and len(page.entries) == 20


def test_list_picks_the_answer_for_its_column() -> None:
    other = captured("list_353")[1]
    mine = captured("list_350")
    page = parse_rendered_list(dom("list_350"), PAGES["list_350"]["url"], [other, *mine], 350)
    assert [e.code for e in page.entries] == [e.code for e in fast_list(350, 1).entries]


def test_list_without_json_or_items_is_an_error() -> None:
    shell = captured("list_350")[0].body.decode()  # the unrendered shell
    page = parse_rendered_list(shell, PAGES["list_350"]["url"])
    assert not page.ok and "no list API answer captured" in page.error
    assert parse_rendered_list_items("", "") == []
    assert (
        parse_rendered_list_items(
            "<li id=newsTr0><p class=title><a href='/x'>t</a></li>", "https://a.b/"
        )[0].code
        == ""
    )
    bad = parse_rendered_list(
        "<ul><li id=newsTr0><div class=text><p class=title><a href='/a/x.html'>t</a></p></div></li></ul>",
        "https://finance.eastmoney.com/a/cgnjj.html",
    )
    assert bad.ok and bad.entries == [] and "no article code" in bad.rejected[0][1]


# --------------------------------------------------------------------------- share pages


@pytest.mark.parametrize("page_id", SHARE_IDS)
def test_share_from_captured_json_is_the_choice_text(page_id: str) -> None:
    art = ARTICLES[page_id.removeprefix("share_")]
    share, reason = parse_rendered_share(dom(page_id), PAGES[page_id]["url"], captured(page_id))
    if art["choice"] == "empty":
        assert share is None and reason == "empty Choice text"
        return
    fast = fast_choice("NW" + art["code"])
    assert share is not None and share.source == "json", reason
    assert share.text == art["body_html"] == fast.text  # byte for byte
    assert (share.title, share.published, share.media, share.content) == (
        fast.title,
        fast.published,
        fast.media,
        fast.content,
    )


@pytest.mark.parametrize("page_id", [p for p in SHARE_IDS if p != "share_choice_empty_page_ok"])
def test_dom_and_json_give_the_same_clean_body(page_id: str) -> None:
    art = ARTICLES[page_id.removeprefix("share_")]
    url = PAGES[page_id]["url"]
    from_json, _ = parse_rendered_share(dom(page_id), url, captured(page_id))
    from_dom, _ = parse_rendered_share(dom(page_id), url)
    assert from_dom is not None and from_dom.source == "dom"
    assert (from_dom.title, from_dom.published, from_dom.media) == (
        from_json.title,
        from_json.published,
        from_json.media,
    )
    base = urls.article_url(art["code"])
    clean_json, clean_dom = clean_body(from_json.text, base), clean_body(from_dom.text, base)
    assert clean_dom.html == clean_json.html
    assert clean_dom.stocks == clean_json.stocks == art["expected_stocks"]
    assert html_to_markdown(clean_dom.html) == html_to_markdown(clean_json.html)


# Where the raw innerHTML differs from the Choice text (the cleaned result does
# not): raw fragment -> what the browser + lxml serialization made of it.
RAW_DIFFERS: dict[str, list[tuple[str, str]]] = {
    "current_basic": [("<br />", "<br>")],
    "hostile_liquid": [("<br />", "<br>")],
    "hostile_xss": [("<img src=x ", '<img src="x" ')],  # quoted attribute
    "image_and_placeholder": [('.jpg" />', '.jpg">')],  # void element, no " /"
    "kline_chart": [("<br />", "<br>"), ('&imageType=k" />', '&amp;imageType=k">')],  # "&" escaped
    "stock_links": [("<br />", "<br>")],
}


@pytest.mark.parametrize("page_id", [p for p in SHARE_IDS if p != "share_choice_empty_page_ok"])
def test_where_the_raw_dom_differs_from_the_choice_text(page_id: str) -> None:
    name = page_id.removeprefix("share_")
    from_dom, _ = parse_rendered_share_dom(dom(page_id), PAGES[page_id]["url"])
    raw = ARTICLES[name]["body_html"]
    expected = raw
    for before, after in RAW_DIFFERS.get(name, []):
        assert before in expected, (name, before)
        expected = expected.replace(before, after)
    assert from_dom.text == expected
    assert (from_dom.text == raw) == (name not in RAW_DIFFERS)


def test_share_falls_back_to_the_dom_when_the_json_is_refused_or_missing() -> None:
    url = PAGES["share_current_basic"]["url"]
    doc, answer = captured("share_current_basic")
    refusal = Fetched(
        answer.url, 200, answer.headers, '{"code":0,"message":"非法请求"}'.encode(), ""
    )
    share, _ = parse_rendered_share(dom("share_current_basic"), url, [doc, refusal])
    assert share is not None and share.source == "dom"
    # A refusal and no body in the page either: both reasons are given.
    share, reason = parse_rendered_share(doc.body.decode(), url, [doc, refusal])
    assert share is None and "without text" in reason and "empty #newsContent" in reason
    share, reason = parse_rendered_share("<html><body>captcha</body></html>", url)
    assert share is None and reason == "no Choice answer captured; no #newsContent in the page"


def test_share_accepts_a_wrapped_answer() -> None:
    url = PAGES["share_table"]["url"]
    doc, answer = captured("share_table")
    wrapped = json.dumps({"data": json.loads(answer.body)}, ensure_ascii=False).encode()
    share, _ = parse_rendered_share("", url, [Fetched(answer.url, 200, [], wrapped, "")])
    assert share is not None and share.source == "json"
    assert share.text == ARTICLES["table"]["body_html"]


# --------------------------------------------------------------------------- whole posts


def _articles_in_saved_lists() -> list[tuple[str, str, int]]:
    out = []
    for list_id, (column, _) in sorted(LIST_COLUMNS.items()):
        for item in parse_rendered_list_items(dom(list_id), PAGES[list_id]["url"]):
            share_id = f"share_{BY_CODE[item.code]['name']}"
            if share_id in PAGES and share_id != "share_choice_empty_page_ok":
                out.append((list_id, share_id, column))
    return out


@pytest.mark.parametrize(("list_id", "share_id", "column"), _articles_in_saved_lists())
def test_the_browser_route_writes_the_same_post_as_the_fast_route(
    list_id: str, share_id: str, column: int
) -> None:
    code = ARTICLES[share_id.removeprefix("share_")]["code"]
    page_no = LIST_COLUMNS[list_id][1]
    fast_entry = next(e for e in fast_list(column, page_no).entries if e.code == code)
    fast = post(vars(fast_entry), fast_choice("NW" + code), column)

    rendered = parse_rendered_list(dom(list_id), PAGES[list_id]["url"], captured(list_id), column)
    entry = next(e for e in rendered.entries if e.code == code)
    share, _ = parse_rendered_share(dom(share_id), PAGES[share_id]["url"], captured(share_id))
    assert post(vars(entry), share, column) == fast

    # DOM only (nothing captured): the list lacks seconds and media, the share
    # page's #newsInfo supplies them; the post is still the same.
    dom_entry = next(
        e
        for e in parse_rendered_list(dom(list_id), PAGES[list_id]["url"]).entries
        if e.code == code
    )
    dom_share, _ = parse_rendered_share(dom(share_id), PAGES[share_id]["url"])
    assert post(vars(dom_entry), dom_share, column) == fast
