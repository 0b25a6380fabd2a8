"""crawler.eastmoney.markup: Eastmoney's body markers and stock ids, on their own."""

from __future__ import annotations

import lxml.html
import pytest

from crawler.eastmoney import markup
from crawler.transform.html.fragment import parse_fragment


def el(html: str) -> lxml.html.HtmlElement:
    return parse_fragment(html)[0]


@pytest.mark.parametrize(
    ("html", "stock"),
    [
        ('<a href="http://quote.eastmoney.com/unify/r/1.600519">茅台</a>', "1.600519"),
        ('<a href="https://quote.eastmoney.com/r/116.00992">联想</a>', "116.00992"),
        (
            '<img src="https://webquoteklinepic.eastmoney.com/GetPic.aspx?nid=116.00992">',
            "116.00992",
        ),
        ('<span class="keytip" data-code="1,600519">x</span>', "1.600519"),
        ('<span class="keytip" data-code="00992|116|5">x</span>', "116.00992"),
        ('<span id="Info.0.000001">x</span>', "0.000001"),
        ('<span data-code="600519">x</span>', "1.600519"),
        ('<span data-code="300750">x</span>', "0.300750"),
        ('<span data-code="AAPL">x</span>', None),
        ('<a href="https://finance.eastmoney.com/a/1.html">x</a>', None),
    ],
)
def test_stock_id_of(html: str, stock: str | None) -> None:
    assert markup.stock_id_of(el(html)) == stock


def test_parse_data_code_shapes() -> None:
    assert markup.parse_data_code("105.AAPL") == "105.AAPL"
    assert markup.parse_data_code("AAPL,105") == "105.AAPL"  # market and code swapped
    assert markup.parse_data_code("") is None
    assert markup.parse_data_code("1.x-y") is None


def test_stock_mentions_and_charts() -> None:
    assert markup.is_stock_mention(el('<a class="em_stock_key_common" href="x">a</a>'))
    assert markup.is_stock_mention(el('<span class="keytip" data-code="1,600519">a</span>'))
    assert not markup.is_stock_mention(el('<span class="keytip">a</span>'))
    assert markup.is_chart(el('<a class="EmImageRemark" href="x">a</a>'))
    assert markup.is_chart(el('<img src="http://x/GetPic.aspx?nid=1.600519">'))
    assert not markup.is_chart(el('<img src="http://x/photo.png">'))
    root = parse_fragment(
        "<p>a</p><!-- EM_StockImg_Start --><p>chart</p><div>c</div>"
        "<!-- EM_StockImg_End --><p>b</p><!-- EM_StockImg_Start --><p>unpaired</p>"
    )
    assert [e.text for e in markup.chart_range_members(root)] in (["chart", "c"], ["c", "chart"])


def test_ads_and_lines() -> None:
    for html in ('<div class="zwinfos_ad">', '<div id="adZW">', '<div class="gg-box">'):
        assert markup.is_ad(el(html + "x</div>")), html
    for html in ('<div class="head">', '<div class="loading">', '<div id="badge">', "<div>"):
        assert not markup.is_ad(el(html + "x</div>")), html
    assert markup.is_media_line(el('<p class="em_media">文章来源：新华社</p>'))
    assert markup.is_editor_line(el('<p class="res-edit">x</p>'))
    assert markup.is_editor_paragraph(el("<p>（责任编辑：张三）</p>"))
    assert not markup.is_editor_paragraph(el("<p>据责任编辑说</p>"))
    comment = parse_fragment("<!--责任编辑：李四--><p>x</p>")[0]
    assert markup.is_editor_comment(comment)


def test_promo_regex_is_the_patterns() -> None:
    assert markup.PROMO_RE.pattern == "|".join(f"(?:{p.pattern})" for p in markup.PROMO_PATTERNS)
    assert markup.PROMO_RE.search("下载东方财富APP，查看更多")
    assert markup.PROMO_RE.search("扫码关注")
    assert not markup.PROMO_RE.search("扫码支付")
    assert not markup.PROMO_RE.search("据东方财富Choice数据")
