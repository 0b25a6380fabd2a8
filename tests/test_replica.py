"""Tests of the local upstream replica (real HTTP over loopback with urllib)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPRedirectHandler, Request, build_opener

import lxml.html
import pytest
from parsel import Selector

from tests.replica.fixtures import FILLER_COUNT, load_articles
from tests.replica.server import Replica

ROOT = Path(__file__).resolve().parents[1]
LIST_PATH = "/comm/web/getNewsByColumns"
BASIC = "202611233592418806"  # current_basic
OLD = "202611203590872215"  # old_template
CFH = "202611223591811406"  # cfh_post
PAGE404 = "202611213591688540"  # page404_choice_ok
NO_BODY = "202611203591011784"  # no_body
CHOICE_EMPTY = "202611233592390018"  # choice_empty_page_ok
TWO_COLUMNS = "202611223591699102"  # two_columns


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = build_opener(_NoRedirect)


def fetch(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, Any, str]:
    """GET (no redirects followed) → (status, headers, body text)."""
    request = Request(url, headers=headers or {}, method=method)
    try:
        with _OPENER.open(request, timeout=10) as resp:
            return resp.status, resp.headers, resp.read().decode("utf-8")
    except HTTPError as err:
        return err.code, err.headers, err.read().decode("utf-8")


def list_api(base: str, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    """Call the list API and decode its JSON answer."""
    query = {
        "client": "web",
        "biz": "web_news_col",
        "order": 1,
        "needInteractData": 0,
        "req_trace": "1",
    }
    query.update(params)
    query = {k: v for k, v in query.items() if v is not None}
    status, hdrs, body = fetch(f"{base}{LIST_PATH}?{urlencode(query)}", headers)
    assert status == 200
    return json.loads(body)


@pytest.fixture(scope="module")
def replica() -> Iterator[Replica]:
    with Replica() as r:
        yield r


@pytest.fixture()
def refusing() -> Iterator[Replica]:
    with Replica(refuse_json=True) as r:
        yield r


# -- fixtures -----------------------------------------------------------


def reference_text(body_html: str) -> str:
    """The documented expected_text rule, as a small independent implementation."""
    html = re.sub(
        r"<!-- EM_StockImg_Start -->.*?<!-- EM_StockImg_End -->", "", body_html, flags=re.S
    )
    if not html.strip():
        return ""
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    hidden = "//script|//style|//iframe|//*[contains(translate(@style, ' ', ''), 'display:none')]"
    for el in root.xpath(hidden):
        el.drop_tree()

    def norm(text: str) -> str:
        return re.sub(r"[ \t\r\n]+", " ", text).strip()

    lines = []
    for el in root.iter("p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr"):
        if el.tag == "tr":
            text = " ".join(norm(cell.text_content()) for cell in el.xpath("./td|./th"))
        else:
            text = norm(el.text_content())
        if text:
            lines.append(text)
    return "\n".join(lines)


def reference_stocks(body_html: str) -> list[str]:
    """Stock ids ``<market>.<code>`` from quote links, in order, without repeats."""
    found = re.findall(r"quote\.eastmoney\.com/(?:unify/)?r/(\d+\.\w+)", body_html)
    return list(dict.fromkeys(found))


def test_fixtures_are_complete() -> None:
    articles = load_articles()
    hand = [a for a in articles if not a["name"].startswith("filler_")]
    assert len(hand) >= 16
    assert len(articles) == len(hand) + FILLER_COUNT
    assert sum(350 in a["columns"] for a in articles) >= 30
    assert {a["page"] for a in hand} == {"ok", "404", "old"}
    assert any(len(a["columns"]) > 1 for a in hand)
    assert any(a["np_dst"] == "CFH" for a in hand)
    for art in articles:
        assert art["code"][:8] == art["showTime"][:10].replace("-", "")


@pytest.mark.parametrize("art", load_articles(), ids=lambda a: a["name"])
def test_expected_text_follows_body(art: dict[str, Any]) -> None:
    assert reference_text(art["body_html"]) == art["expected_text"]
    assert reference_stocks(art["body_html"]) == art["expected_stocks"]
    if art["body_html"]:
        assert art["expected_text"].endswith(f"（文章来源：{art['mediaName']}）")


def test_load_articles_rejects_bad_fixture(tmp_path: Path) -> None:
    good = json.loads(
        (ROOT / "tests/replica/articles/current_basic.json").read_text(encoding="utf-8")
    )
    (tmp_path / "bad.json").write_text(
        json.dumps({**good, "code": "202501010000000001"}), encoding="utf-8"
    )
    with pytest.raises(ValueError):
        load_articles(tmp_path)


def test_custom_data_dir(tmp_path: Path) -> None:
    shutil.copy(ROOT / "tests/replica/articles/current_basic.json", tmp_path)
    with Replica(tmp_path, fillers=False) as r:
        assert [a["code"] for a in r.articles] == [BASIC]
        answer = list_api(r.url, column=350, page_index=1, page_size=20)
        assert [item["code"] for item in answer["data"]["list"]] == [BASIC]


# -- list API -------------------------------------------------------------


def test_list_requires_req_trace(replica: Replica) -> None:
    answer = list_api(replica.url, column=350, page_index=1, req_trace=None)
    assert answer == {"code": 0, "message": "Required String parameter 'req_trace' is not present"}


@pytest.mark.parametrize(
    "params",
    [{"page_index": 1}, {"column": "", "page_index": 1}, {"column": 350, "page_index": "x"}],
)
def test_list_missing_parameters(replica: Replica, params: dict[str, Any]) -> None:
    assert list_api(replica.url, **params) == {"code": 0, "message": "参数缺失"}


def test_list_paging(replica: Replica) -> None:
    pages = [
        list_api(replica.url, column=350, page_index=n, page_size=20, req_trace="t1")
        for n in (1, 2, 3)
    ]
    first, second, third = (p["data"] for p in pages)
    total = sum(350 in a["columns"] for a in replica.articles)
    assert pages[0]["req_trace"] == "t1" and pages[0]["message"] == "success"
    assert first["totle_hits"] == second["totle_hits"] == total >= 30
    assert (first["page_index"], first["page_size"]) == (1, 20)
    assert len(first["list"]) == 20 and len(second["list"]) == total - 20
    assert third["list"] == []
    items = first["list"] + second["list"]
    assert len({i["code"] for i in items}) == total
    times = [i["showTime"] for i in items]
    assert times == sorted(times, reverse=True)


def test_list_page_size_default_and_cap(replica: Replica) -> None:
    assert list_api(replica.url, column=350, page_index=1)["data"]["page_size"] == 20
    answer = list_api(replica.url, column="344,345,350,351,353", page_index=1, page_size=500)
    assert answer["data"]["page_size"] == 200
    assert len(answer["data"]["list"]) == len(replica.articles)


def test_list_code_int_on_odd_pages_string_on_even(replica: Replica) -> None:
    assert list_api(replica.url, column=350, page_index=1)["code"] == 1
    assert list_api(replica.url, column=350, page_index=2)["code"] == "1"
    assert list_api(replica.url, column=350, page_index=3)["code"] == 1


def test_list_jsonp(replica: Replica) -> None:
    query = urlencode(
        {"column": 351, "page_index": 1, "req_trace": "9", "callback": "jQuery1830_17"}
    )
    status, headers, body = fetch(f"{replica.url}{LIST_PATH}?{query}")
    assert status == 200 and headers["Content-Type"].startswith("application/javascript")
    match = re.fullmatch(r"jQuery1830_17\((.*)\);", body, flags=re.S)
    assert match
    assert json.loads(match.group(1))["data"]["list"]


def test_list_json_content_type(replica: Replica) -> None:
    status, headers, _ = fetch(f"{replica.url}{LIST_PATH}?column=350&page_index=1&req_trace=1")
    assert headers["Content-Type"] == "application/json;charset=UTF-8"


def test_list_item_shapes(replica: Replica) -> None:
    items = {
        i["code"]: i
        for i in list_api(replica.url, column=345, page_index=1, page_size=50)["data"]["list"]
    }
    keys = [
        "code",
        "np_dst",
        "showTime",
        "title",
        "mediaName",
        "summary",
        "image",
        "url",
        "uniqueUrl",
    ]
    cfh = items[CFH]
    assert list(cfh) == keys
    assert cfh["np_dst"] == "CFH"
    assert cfh["url"] == f"http://caifuhao.eastmoney.com/news/{CFH}" and cfh["uniqueUrl"] == ""
    cms = items[TWO_COLUMNS]
    assert cms["np_dst"] == "CMS"
    assert cms["url"] == f"http://finance.eastmoney.com/news/1345,{TWO_COLUMNS}.html"
    assert cms["uniqueUrl"] == f"http://finance.eastmoney.com/a/{TWO_COLUMNS}.html"


def test_article_in_two_columns(replica: Replica) -> None:
    def codes(column: str) -> list[str]:
        answer = list_api(replica.url, column=column, page_index=1, page_size=200)
        return [i["code"] for i in answer["data"]["list"]]

    assert TWO_COLUMNS in codes("350") and TWO_COLUMNS in codes("345")
    assert codes("350,345").count(TWO_COLUMNS) == 1


# -- pages ------------------------------------------------------------------


def test_article_page_current_template(replica: Replica) -> None:
    art = replica.article(BASIC)
    status, headers, body = fetch(f"{replica.url}/a/{BASIC}.html")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    sel = Selector(text=body)
    assert sel.css("meta[charset]") and sel.css("head script")
    wrap = sel.css("div.contentwrap")
    assert wrap.css("div.title::text").get() == art["title"]
    assert wrap.css("div.tipbox div.infos div.item::text").getall() == [
        "2026年11月23日 09:12",
        "来源：中国经济网",
    ]
    zw = wrap.css("div.contentbox div.mainleft div.zwinfos")
    assert zw.css("div.abstract div.txt::text").get() == art["summary"]
    assert zw.css("div.txtinfos#ContentBody")
    assert re.search(r'id="ContentBody">\s*<!--文章主体-->\s*' + re.escape(art["body_html"]), body)
    assert zw.css("#ContentBody p.res-edit::text").re_first(r"（责任编辑：.+）")
    assert zw.css("#ContentBody p.em_promo").get() and zw.css("#ContentBody div script")
    assert wrap.css("div.mainright a")


def test_article_page_without_summary(replica: Replica) -> None:
    status, _, body = fetch(f"{replica.url}/a/202611203590913876.html")
    assert status == 200 and not Selector(text=body).css("div.abstract")


def test_article_page_old_template(replica: Replica) -> None:
    art = replica.article(OLD)
    status, _, body = fetch(f"{replica.url}/a/{OLD}.html")
    sel = Selector(text=body)
    assert status == 200 and not sel.css("div.contentwrap")
    assert sel.css("div.newsContent > h1::text").get() == art["title"]
    assert sel.css("div.Info div.time::text").get() == "2026年11月20日 09:30"
    assert sel.css("div.Info div.source::text").get() == "来源：新华社"
    assert sel.css("div.b-review::text").get() == art["summary"]
    assert sel.css("div#ContentBody.Body")
    assert re.search(
        r"<!--文章主体-->\s*" + re.escape(art["body_html"]) + r"\s*<!--责任编辑-->", body
    )


@pytest.mark.parametrize(
    "path", [f"/a/{PAGE404}.html", f"/a/{NO_BODY}.html", "/a/202611010000000000.html", "/x"]
)
def test_not_found(replica: Replica, path: str) -> None:
    status, headers, body = fetch(replica.url + path)
    assert status == 404 and "404" in body and headers["Content-Type"].startswith("text/html")


def test_legacy_url_redirects(replica: Replica) -> None:
    status, headers, _ = fetch(f"{replica.url}/news/1350,{BASIC}.html")
    assert status == 301
    assert headers["Location"] == f"https://finance.eastmoney.com/a/{BASIC}.html"


@pytest.mark.parametrize(
    "path,column,page", [("/a/cgnjj.html", 350, 1), ("/a/czqyw_3.html", 353, 3)]
)
def test_column_shell(replica: Replica, path: str, column: int, page: int) -> None:
    status, _, body = fetch(replica.url + path)
    sel = Selector(text=body)
    assert status == 200 and sel.css("ul#newsListContent") and not sel.css("ul#newsListContent li")
    script = "".join(sel.css("script::text").getall())
    assert f'column = "{column}"' in script and f"page = {page}" in script
    assert (
        '"/comm/web/getNewsByColumns?' in script
        and "X-Requested-With" in script
        and "req_trace=" in script
    )


# -- Choice -------------------------------------------------------------------


def choice(base: str, info_code: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    status, hdrs, body = fetch(f"{base}/NewsData/GetNewsText.do?id={info_code}", headers)
    assert status == 200 and hdrs["Content-Type"].startswith("application/json")
    return json.loads(body)


def test_choice_text(replica: Replica) -> None:
    art = replica.article(PAGE404)
    answer = choice(replica.url, "NW" + PAGE404)
    assert answer["id"] == "NW" + PAGE404 and answer["title"] == art["title"]
    assert answer["showTime"] == art["showTime"] and answer["mediaName"] == art["mediaName"]
    assert answer["text"] == art["body_html"]
    paragraphs = answer["content"].split("\r\n")
    assert all(p.startswith("\u3000\u3000") for p in paragraphs)
    assert [p[2:] for p in paragraphs] == art["expected_text"].split("\n")


@pytest.mark.parametrize(
    "info_code", ["NW202611010000000000", "NW" + NO_BODY, "NW" + CHOICE_EMPTY, "", "XX1"]
)
def test_choice_empty(replica: Replica, info_code: str) -> None:
    answer = choice(replica.url, info_code)
    assert set(answer) == {"id", "title", "showTime", "mediaName", "text", "content"}
    assert answer["text"] == "" and answer["content"] == ""


def test_share_page(replica: Replica) -> None:
    status, _, body = fetch(f"{replica.url}/html_News/NewsShare.html?infoCode=NW{BASIC}")
    sel = Selector(text=body)
    assert (
        status == 200
        and sel.css("h1#newsTitle")
        and sel.css("div#newsInfo")
        and sel.css("div#newsContent")
    )
    script = "".join(sel.css("script::text").getall())
    assert (
        "fetch(" in script
        and "/NewsData/GetNewsText.do?id=" in script
        and "X-Requested-With" in script
    )


# -- refuse-json mode -------------------------------------------------------------


def test_refuse_json(refusing: Replica) -> None:
    base = refusing.url
    refused = {"code": 0, "message": "非法请求"}
    xhr = {"X-Requested-With": "XMLHttpRequest"}
    assert list_api(base, column=350, page_index=1) == refused
    assert list_api(base, xhr, column=350, page_index=1) == refused
    foreign = {**xhr, "Referer": "https://finance.eastmoney.com/a/cgnjj.html"}
    assert list_api(base, foreign, column=350, page_index=1) == refused
    assert (
        list_api(base, {**xhr, "Referer": base + ".evil.example/"}, column=350, page_index=1)
        == refused
    )
    own = {**xhr, "Referer": f"{base}/a/cgnjj.html"}
    assert list_api(base, own, column=350, page_index=1)["data"]["list"]
    assert choice(base, "NW" + BASIC) == refused
    share_referer = {**xhr, "Referer": f"{base}/html_News/NewsShare.html?infoCode=NW{BASIC}"}
    assert choice(base, "NW" + BASIC, share_referer)["text"]
    refusing.refuse_json = False
    assert list_api(base, column=350, page_index=1)["data"]["list"]


# -- request log ------------------------------------------------------------------


def test_request_log(replica: Replica) -> None:
    replica.reset_log()
    fetch(f"{replica.url}/a/{BASIC}.html?from=list", {"Referer": "https://finance.eastmoney.com/"})
    fetch(f"{replica.url}{LIST_PATH}?column=350&page_index=1&req_trace=5")
    log = replica.requests()
    assert [(e["method"], e["path"]) for e in log] == [
        ("GET", f"/a/{BASIC}.html"),
        ("GET", LIST_PATH),
    ]
    assert (
        log[0]["query"] == {"from": "list"}
        and log[0]["headers"]["Referer"] == "https://finance.eastmoney.com/"
    )
    assert log[1]["query"] == {"column": "350", "page_index": "1", "req_trace": "5"}
    assert log[0]["time"] <= log[1]["time"]

    status, _, body = fetch(f"{replica.url}/__replica/requests")
    assert status == 200 and [e["path"] for e in json.loads(body)] == [
        f"/a/{BASIC}.html",
        LIST_PATH,
    ]
    status, _, body = fetch(f"{replica.url}/__replica/reset", method="POST")
    assert status == 200 and replica.requests() == []
    replica.reset_log()


# -- command line ------------------------------------------------------------------


def test_command_line() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "tests.replica.server", "--port", "0", "--refuse-json"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.fullmatch(r"READY (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        assert list_api(match.group(1), column=350, page_index=1) == {
            "code": 0,
            "message": "非法请求",
        }
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr and proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_command_line_rejects_public_host() -> None:
    cmd = [sys.executable, "-m", "tests.replica.server", "--host", "0.0.0.0"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "loopback" in result.stderr


# -- the scripts of the shell pages, in a real browser (skipped without one) ----------


def _browser_path() -> str | None:
    return shutil.which("chromium-headless-shell") or shutil.which("chromium")


def test_shell_scripts_in_browser(refusing: Replica) -> None:
    # `make test` installs chromium-headless-shell: a missing browser is a failure.
    assert _browser_path(), "no Chromium (apt-get install chromium-headless-shell)"
    import playwright.sync_api as sync_api

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=_browser_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.goto(refusing.url + "/a/cgnjj_2.html")
            page.wait_for_selector("ul#newsListContent[data-state=loaded]", timeout=15000)
            items = page.query_selector_all("ul#newsListContent li[id^=newsTr]")
            total = sum(350 in a["columns"] for a in refusing.articles)
            assert len(items) == total - 20
            column = sorted(
                (a for a in refusing.articles if 350 in a["columns"]), key=lambda a: a["showTime"]
            )
            first = column[::-1][20]["showTime"]  # newest first; page 2 starts at the 21st
            assert (
                page.inner_text("#newsTr0 p.time")
                == f"{first[5:7]}月{first[8:10]}日 {first[11:16]}"
            )
            assert page.get_attribute("#newsTr0 p.title a", "href").startswith(
                "http://finance.eastmoney.com/a/"
            )

            page.goto(f"{refusing.url}/html_News/NewsShare.html?infoCode=NW{BASIC}")
            page.wait_for_selector("#newsContent[data-state=loaded]", timeout=15000)
            assert page.inner_text("h1#newsTitle") == refusing.article(BASIC)["title"]
            assert "中国经济网" in page.inner_text("#newsInfo")
            assert "（文章来源：中国经济网）" in page.inner_text("#newsContent")
        finally:
            browser.close()
