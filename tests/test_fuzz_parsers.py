"""Fuzzing the Eastmoney parsers with mutated REAL replica answers (hypothesis).

The seeds are answers of the replica over HTTP: list pages (JSON and JSONP, with the
malformed entries of the ``bad_items`` fault), article pages of both templates (one
GBK-encoded), Choice texts (with and without a body). Each is mutated at the byte level
(flips, inserts, deletes, truncation), at the JSON level (any value replaced by a value
of any type: wrong types, huge numbers, lone surrogates, other scripts' digits, path
tricks) or cut short, and handed to the parsers of ``crawler/eastmoney/``.

Invariants: no exception escapes a parser; an unusable answer comes back as a reason
(``ListPage.error``, ``rejected`` entries, ``(None, reason)``); whatever comes back as
data is well-formed (ASCII 17/18-digit codes, real dates, titles) and encodes as UTF-8;
and in the spider, every bad input becomes a recorded :class:`~crawler.items.Failure`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.request import urlopen

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scrapy import Request
from scrapy.utils.test import get_crawler

import crawler.settings as project_settings
from crawler.eastmoney import choice, ids, lists, pages
from crawler.items import Failure, ListProgress
from crawler.spiders.columns import ColumnsSpider
from tests.replica.faults import Faults, legacy_gbk_article
from tests.replica.server import Replica

# Fixed seeds and a modest count in the suite; `make chaos` sets FINEWS_EXAMPLES
# (more examples, random seeds) to explore further.
EXAMPLES = int(os.environ.get("FINEWS_EXAMPLES", "300"))
DERANDOMIZE = "FINEWS_EXAMPLES" not in os.environ
LIST = (
    "/comm/web/getNewsByColumns?client=web&biz=web_news_col&column={column}&order=1"
    "&needInteractData=0&page_index={page}&page_size=20&req_trace=1{callback}"
)


@pytest.fixture(scope="module")
def seeds() -> dict[str, list[tuple[bytes, str]]]:
    """Real replica answers by kind: ``(body bytes, charset)``."""
    out: dict[str, list[tuple[bytes, str]]] = {"list": [], "page": [], "choice": []}
    with Replica(faults=Faults(gbk=True, bad_items=True)) as r:

        def get(path: str) -> tuple[bytes, str]:
            with urlopen(r.url + path, timeout=10) as resp:
                charset = resp.headers.get_content_charset() or "utf-8"
                return resp.read(), charset

        for column, page, callback in ((350, 1, ""), (350, 2, "&callback=cb"), (345, 1, "")):
            out["list"].append(get(LIST.format(column=column, page=page, callback=callback)))
        codes = ["202611233592418806", "202611203590872215", "202611233592436152"]
        codes.append(legacy_gbk_article()["code"])
        for code in codes:
            out["page"].append(get(f"/a/{code}.html"))
            out["choice"].append(get(f"/NewsData/GetNewsText.do?id=NW{code}"))
    assert any(charset == "gbk" for _, charset in out["page"])
    return out


# ----------------------------------------------------------------- mutations

WEIRD_STRINGS = [
    "",
    " ",
    "\ud800",
    "\udfff\ud800",
    "²³",
    "٢٠٢٦١١٢٣٣٥٩٢٤١٨٨٠٦",
    "２０２６１１２３３５９２４１８８０６",
    "202611233592418806\n",
    "NW../../etc",
    "../../../../etc/passwd",
    "2099-01-01 00:00:00",
    "2026-02-30 10:00:00",
    "2026-11-20 25:61:61",
    "0" * 18,
    "9" * 400,
    "<script>alert(1)</script>",
    "\x00",
    "1e309",
    "NaN",
]
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WEIRD_STRINGS),
    st.text(max_size=20),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _replace(node: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replace(node[head], rest, value)}
    copy = list(node)
    copy[head] = _replace(copy[head], rest, value)
    return copy


JSONP = re.compile(rb"^([\w$.]+)\((.*)\);?$", re.S)


@st.composite
def json_mutation(draw: st.DrawFn, body: bytes) -> bytes:
    """Replace 1-3 values anywhere in the answer by values of any type."""
    m = JSONP.match(body)
    doc = json.loads(m.group(2) if m else body)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        doc = _replace(doc, path, draw(json_value))
    ascii_only = draw(st.booleans())  # lone surrogates survive only as \\uXXXX escapes
    text = json.dumps(doc, ensure_ascii=ascii_only, allow_nan=True)
    raw = text.encode("utf-8", "surrogatepass")
    return m.group(1) + b"(" + raw + b");" if m else raw


@st.composite
def byte_mutation(draw: st.DrawFn, body: bytes) -> bytes:
    """Flip, insert or delete bytes, or cut the answer short."""
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]))
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[i:]
        else:
            j = draw(st.integers(i, min(len(data), i + 200)))
            data[j:j] = data[i:j]
    return bytes(data)


def mutated(kind: str, json_ok: bool) -> st.SearchStrategy[tuple[str, str]]:
    """(text as the spider sees it, charset) of a mutated seed of ``kind``."""

    @st.composite
    def strategy(draw: st.DrawFn) -> tuple[str, str]:
        body, charset = draw(st.sampled_from(SEEDS[kind]))
        ways = [byte_mutation(body)]
        if json_ok:
            ways.append(json_mutation(body))
        data = draw(st.one_of(ways))
        codec = "gb18030" if charset.lower() in ("gbk", "gb2312", "gb18030") else "utf-8"
        return data.decode(codec, "replace"), charset

    return strategy()


SEEDS: dict[str, list[tuple[bytes, str]]] = {}


@pytest.fixture(autouse=True, scope="module")
def _load_seeds(seeds: dict[str, list[tuple[bytes, str]]]) -> None:
    SEEDS.update(seeds)


# ----------------------------------------------------------------- invariants


def utf8(value: str) -> None:
    value.encode("utf-8")  # raises on a lone surrogate


def check_list(text: str) -> lists.ListPage:
    page = lists.parse_list(text, "https://np-listapi.eastmoney.com/comm/web/getNewsByColumns")
    assert isinstance(page, lists.ListPage)
    if not page.ok:
        assert page.error and not page.entries and not page.rejected
        utf8(page.error)
        return page
    assert page.total is None or page.total >= 0
    for entry in page.entries:
        assert ids.CODE_RE.match(entry.code) and entry.code.isascii()
        assert ids.INFO_CODE_RE.match(entry.info_code)
        assert ids.valid_show_time(entry.show_time) and entry.show_time < "2100"
        assert entry.title.strip()
        for value in (entry.title, entry.media, entry.summary, entry.url, entry.unique_url):
            utf8(value)
    for raw, reason in page.rejected:
        assert reason
        utf8(raw)
        utf8(reason)
    return page


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=mutated("list", json_ok=True))
def test_list_parser_on_mutated_answers(case: tuple[str, str]) -> None:
    check_list(case[0])


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=mutated("page", json_ok=False))
def test_article_parser_on_mutated_pages(case: tuple[str, str]) -> None:
    page, reason = pages.parse_article_page(case[0], "https://finance.eastmoney.com/a/1.html")
    if page is None:
        assert reason
        utf8(reason)
    else:
        assert reason == "" and page.template in ("current", "old")
        assert not page.published or ids.valid_show_time(page.published)
        for value in (page.title, page.media, page.summary, page.body_html):
            utf8(value)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=mutated("choice", json_ok=True))
def test_choice_parser_on_mutated_answers(case: tuple[str, str]) -> None:
    text, reason = choice.parse_choice_text(case[0], "http://choicewzp1.eastmoney.com/x")
    if text is None:
        assert reason
        utf8(reason)
    else:
        assert reason == "" and text.text.strip()
        assert not text.published or ids.valid_show_time(text.published)
        for value in (text.text, text.content, text.title, text.media):
            utf8(value)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE)
@given(value=st.one_of(st.sampled_from(WEIRD_STRINGS), st.text(max_size=60)))
def test_code_from_id_never_raises(value: str) -> None:
    code = ids.code_from_id(value)
    assert code is None or (ids.CODE_RE.match(code) and code.isascii())


@pytest.fixture(scope="module")
def spider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ColumnsSpider]:
    base = {k: getattr(project_settings, k) for k in dir(project_settings) if k.isupper()}
    archive = tmp_path_factory.mktemp("fuzz") / "archive"
    # FINEWS_RENDER=never: an unusable answer is recorded, not handed to the browser route.
    crawler = get_crawler(
        ColumnsSpider, {**base, "FINEWS_ARCHIVE_DIR": str(archive), "FINEWS_RENDER": "never"}
    )
    spider = ColumnsSpider.from_crawler(crawler)
    crawler.spider = spider
    yield spider
    spider.closed("finished")


@settings(
    max_examples=EXAMPLES // 3,
    deadline=None,
    derandomize=DERANDOMIZE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=mutated("list", json_ok=True))
def test_spider_records_every_bad_list_answer(spider: ColumnsSpider, case: tuple[str, str]) -> None:
    """Through ``ColumnsSpider.parse_list``: bad input is a Failure item, never lost."""
    from scrapy.http import TextResponse

    url = "https://np-listapi.eastmoney.com/comm/web/getNewsByColumns?column=350&page_index=1"
    request = Request(url, meta={"column": 350, "page": 1})
    body = case[0].encode("utf-8", "surrogatepass")
    headers = {"Content-Type": "application/json;charset=UTF-8"}
    response = TextResponse(url, body=body, headers=headers, request=request)
    page = check_list(response.text)
    out = list(spider.parse_list(response))
    failures = [o for o in out if isinstance(o, Failure)]
    assert all(isinstance(o, (Failure, Request, ListProgress)) for o in out)
    if not page.ok:
        assert len(failures) == 1 and failures[0].stage == "list" and failures[0].reason
    else:
        assert len(failures) == len(page.rejected)
        assert all(f.reason.startswith("bad list entry: ") for f in failures)
    for failure in failures:
        utf8(failure.reason)
        utf8(failure.detail)
        assert failure.responses and failure.responses[0].body == body


def test_seeds_are_real_replica_answers(seeds: dict[str, list[tuple[bytes, str]]]) -> None:
    assert check_list(seeds["list"][0][0].decode()).rejected  # the bad_items fault is on
    for body, charset in seeds["page"]:
        page, _ = pages.parse_article_page(body.decode("gb18030" if charset == "gbk" else "utf-8"))
        assert page is not None and page.body_html
