"""Tests for crawler.transform.html (and crawler.eastmoney.markup): body cleaning, stock ids, sanitizing, body_text.

Golden strings below were written out and checked by eye against the fixture
files in tests/fixtures/bodies/ and the rules in /work/shared/upstream.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.eastmoney.markup import PROMO_PATTERNS
from crawler.transform.html.clean import CleanResult, clean_body
from crawler.transform.text import body_text

BODIES = Path(__file__).parent / "fixtures" / "bodies"
BASE = "https://finance.eastmoney.com/a/202206142411662087.html"
OLD_BASE = "http://finance.eastmoney.com/news/1350,20190102123456789.html"


def fixture(name: str) -> str:
    return (BODIES / name).read_text(encoding="utf-8")


def tags_of(html: str) -> list[str]:
    """The markup of every tag in ``html`` (text content is not markup)."""
    return re.findall(r"<[^>]*>", html)


def assert_safe(html: str) -> None:
    for tag in tags_of(html):
        low = tag.lower()
        assert not re.search(r"\son[a-z]+\s*=", low), tag
        assert "javascript:" not in low and "vbscript:" not in low and "data:" not in low, tag
        assert not re.match(r"</?(script|style|iframe|object|embed|form|svg|math)\b", low), tag
        assert " style=" not in low and " class=" not in low, tag


# --------------------------------------------------------------------------- fixtures

CURRENT_HTML = (
    "<p>中国经济网北京6月14日讯 今日，A股三大指数集体高开。截至发稿，沪指涨0.52%，深成指涨0.89%，创业板指涨1.21%。</p>\n"
    '<p>白酒板块走强，<a href="http://quote.eastmoney.com/r/1.600519">贵州茅台</a>涨2.1%，五粮液涨1.8%。</p>\n'
    '<p>港股方面，<a href="http://quote.eastmoney.com/r/116.00992">联想集团</a>涨超3%。</p>\n'
    '<p><img src="https://dfscdn.dfcfw.com/download/D25618177642896768707.jpg"></p>\n'
    "<p>图为沪指分时走势</p>\n"
    "<p>分析人士认为，<strong>“稳增长”政策</strong>持续发力……</p>\n"
    "<p>（文章来源：中国经济网）</p>"
)
CURRENT_TEXT = (
    "中国经济网北京6月14日讯 今日，A股三大指数集体高开。截至发稿，沪指涨0.52%，深成指涨0.89%，创业板指涨1.21%。\n"
    "白酒板块走强，贵州茅台涨2.1%，五粮液涨1.8%。\n"
    "港股方面，联想集团涨超3%。\n"
    "图为沪指分时走势\n"
    "分析人士认为，“稳增长”政策持续发力……\n"
    "（文章来源：中国经济网）"
)


def test_current_template() -> None:
    result = clean_body(fixture("current_template.html"), BASE)
    assert isinstance(result, CleanResult)
    assert result.html == CURRENT_HTML
    # Span Info.1.600519 (wrapping the link), keytip span, then the chart block.
    assert result.stocks == ["1.600519", "0.000858", "116.00992"]
    assert body_text(result.html) == CURRENT_TEXT


def test_choice_text() -> None:
    result = clean_body(fixture("choice_text.html"), BASE)
    assert result.html == (
        "<p>新华社北京6月14日电 记者从国家统计局获悉，5月份全国规模以上工业增加值同比增长0.7%。</p>\n"
        "<p>宁德时代公告称，拟投资建设新项目。</p>\n"
        "<p>据了解，中国平安同日发布公告。</p>\n"
        "<p>（文章来源：新华社）</p>"
    )
    # The <!--IMG#0--> placeholder carries no id; the spans do.
    assert result.stocks == ["0.300750", "1.601318"]


def test_old_template() -> None:
    result = clean_body(fixture("old_template.html"), OLD_BASE)
    assert result.html == (
        "<p>本报讯 1月2日，两市成交额合计2500亿元。</p>\n"
        '<p><img src="http://finance.eastmoney.com/images/2019/0102/chart.png"></p>\n'
        "<p><b>行业涨跌</b></p>\n"
        '<p>详见<a href="http://finance.eastmoney.com/news/1350,20190102123456788.html">前文</a>'
        "，或返回顶部。<br>第二行</p>\n"
        "<p>（文章来源：上海证券报）</p>"
    )
    assert result.stocks == []
    assert body_text(result.html) == (
        "本报讯 1月2日，两市成交额合计2500亿元。\n行业涨跌\n详见前文，或返回顶部。\n第二行\n"
        "（文章来源：上海证券报）"
    )


def test_hostile() -> None:
    result = clean_body(fixture("hostile.html"), BASE)
    assert result.html == (
        "<p>点击</p>\n"
        "<p>js tab ent sp vb data</p>\n"
        '<p><img src="https://finance.eastmoney.com/a/x"></p>\n'
        "<p>正文继续</p>\n"
        "<p>样式</p>\n"
        '<p><a href="http://ok.example/">安全链接</a></p>\n'
        "<p>注释</p>\n"
        "<p>&lt;script&gt;文本&lt;/script&gt; onload=1 javascript:void(0)</p>"
    )
    assert_safe(result.html)


def test_tables() -> None:
    result = clean_body(fixture("tables.html"), BASE)
    assert result.html == (
        "<p>主要指数表现如下：</p>\n<table>\n<tbody>\n"
        "<tr>\n<td><strong>指数</strong></td>\n<td><strong>收盘</strong></td>\n"
        "<td><strong>涨跌幅</strong></td>\n</tr>\n"
        "<tr>\n<td>上证指数</td>\n<td>3288.91</td>\n<td>+0.52%</td>\n</tr>\n"
        "<tr>\n<td>北证50</td>\n<td>-</td>\n<td>--</td>\n</tr>\n"
        "<tr>\n<td>\n<p>深证|成指</p>\n</td>\n<td>12,345.67</td>\n<td>*0.89%</td>\n</tr>\n"
        "</tbody>\n</table>\n"
        "<table>\n<thead>\n<tr>\n<th>项目</th>\n<th>2022年</th>\n<th>2021年</th>\n</tr>\n</thead>\n"
        "<tbody>\n<tr>\n<td>营收</td>\n<td>1.2亿</td>\n<td>1.0亿</td>\n</tr>\n</tbody>\n</table>\n"
        '<table>\n<tbody>\n<tr>\n<td colspan="2">合并单元格{{x}}</td>\n</tr>\n'
        "<tr>\n<td>A&amp;B</td>\n<td>&lt;C&gt;</td>\n</tr>\n</tbody>\n</table>"
    )
    assert body_text(result.html) == (
        "主要指数表现如下：\n"
        "指数 收盘 涨跌幅\n"
        "上证指数 3288.91 +0.52%\n"
        "北证50 - --\n"
        "深证|成指 12,345.67 *0.89%\n"
        "项目 2022年 2021年\n"
        "营收 1.2亿 1.0亿\n"
        "合并单元格{{x}}\n"
        "A&B <C>"
    )


@pytest.mark.parametrize("name", sorted(p.name for p in BODIES.glob("*.html")))
def test_fixtures_are_safe_deterministic_and_idempotent(name: str) -> None:
    html = fixture(name)
    first = clean_body(html, BASE)
    assert_safe(first.html)
    assert clean_body(html, BASE) == first
    assert clean_body(first.html, BASE).html == first.html


# --------------------------------------------------------------------------- rules


def test_hidden_first_paragraph_and_display_none_variants() -> None:
    html = (
        '<p style="display:none;height:1px;overflow:hidden;"><br /></p>'
        '<p style="DISPLAY : NONE">a</p><div style="color:red; display: none">b</div>'
        '<p hidden>c</p><p style="display:block">正文</p>'
    )
    assert clean_body(html, BASE).html == "<p>正文</p>"


def test_chart_block_linked_image_outside_markers_and_unpaired_marker() -> None:
    html = (
        "<p>甲</p><!-- EM_StockImg_Start -->"
        '<p style="text-align:center;"><a href="http://quote.eastmoney.com/unify/r/0.300059" '
        'data-code="300059|0|5" class="EmImageRemark"><img src="https://webquoteklinepic.'
        'eastmoney.com/GetPic.aspx?nid=0.300059&imageType=k"/></a></p><p>乙</p>'
        '<p><img src="https://webquoteklinepic.eastmoney.com/GetPic.aspx?nid=105.AAPL&t=k"></p>'
    )
    result = clean_body(html, BASE)
    assert result.html == "<p>甲</p>\n<p>乙</p>"
    assert result.stocks == ["0.300059", "105.AAPL"]


def test_chart_block_removes_everything_between_markers() -> None:
    html = (
        "<p>前</p><!-- EM_StockImg_Start --><p>图注</p><!--IMG#0-->"
        '<p><a href="http://quote.eastmoney.com/unify/r/1.601318">K线</a></p>'
        "<!-- EM_StockImg_End --><p>后</p>"
    )
    result = clean_body(html, BASE)
    assert result.html == "<p>前</p>\n<p>后</p>"
    assert result.stocks == ["1.601318"]


@pytest.mark.parametrize(
    ("markup", "stock"),
    [
        (
            '<a href="http://quote.eastmoney.com/r/1.600519" class="em_stock_key_common">X</a>',
            "1.600519",
        ),
        ('<a class="em_stock_key_common" data-code="1,600519">X</a>', "1.600519"),
        ('<span class="keytip" data-code="0,000858">X</span>', "0.000858"),
        ('<span class="keytip" data-code="00700|116|5">X</span>', "116.00700"),
        ('<span id="Info.116.00700">X</span>', "116.00700"),
        ('<span id="Info.600036">X</span>', "1.600036"),
        ('<span id="Info.300750">X</span>', "0.300750"),
        ('<a href="https://quote.eastmoney.com/r/105.TSLA">X</a>', "105.TSLA"),
    ],
)
def test_stock_id_shapes(markup: str, stock: str) -> None:
    result = clean_body(f"<p>前{markup}后</p>", BASE)
    assert result.stocks == [stock]
    assert "X" in body_text(result.html)


def test_stock_ids_unknown_shapes_are_skipped_not_guessed() -> None:
    html = '<p><span id="Info.abc">A</span><span class="keytip" data-code="">B</span></p>'
    result = clean_body(html, BASE)
    assert result.stocks == []
    assert result.html == "<p>AB</p>"


def test_editor_line_cuts_the_rest_and_media_line_stays_last() -> None:
    html = (
        '<p>正文一</p><p class="res-edit">（责任编辑：DF398）</p>'
        '<p>推荐阅读</p><p class="em_media">（文章来源：证券时报）</p><p>更多</p>'
    )
    assert clean_body(html, BASE).html == "<p>正文一</p>\n<p>（文章来源：证券时报）</p>"
    # Editor line without class, nested inside a wrapper.
    html = "<div><p>正文</p><p>（责任编辑：王某）</p><p>广告</p></div><p>尾巴</p>"
    assert clean_body(html, BASE).html == "<p>正文</p>"
    # Media line before more text is moved to the end.
    html = '<p class="em_media">（文章来源：财联社）</p><p>正文</p>'
    assert clean_body(html, BASE).html == "<p>正文</p>\n<p>（文章来源：财联社）</p>"


def test_old_template_comment_cut() -> None:
    html = "<!--文章主体--><p>正文</p><!--责任编辑--><p>（责任编辑：DF078）</p><div>分享到：</div>"
    assert clean_body(html, BASE).html == "<p>正文</p>"


def test_promo_lines_dropped_but_article_mentions_kept() -> None:
    html = (
        "<p>下载东方财富APP，查看更多行情</p>"
        "<p>东方财富APP下载：https://a.eastmoney.com</p>"
        "<p>扫码关注东方财富网官方微信</p>"
        "<p>长按识别下方二维码</p>"
        "<p>欢迎关注东方财富网官方微博</p>"
        "<p>央行：规范扫码支付业务。</p>"
        "<p>东方财富APP月活跃用户数达到1500万。</p>"
        "<p>据东方财富Choice数据统计，两市成交额增加。</p>"
    )
    assert clean_body(html, BASE).html == (
        "<p>央行：规范扫码支付业务。</p>\n"
        "<p>东方财富APP月活跃用户数达到1500万。</p>\n"
        "<p>据东方财富Choice数据统计，两市成交额增加。</p>"
    )
    assert len(PROMO_PATTERNS) >= 4
    # A long paragraph mentioning the app is article text.
    long = "<p>" + "公司业绩增长。" * 30 + "用户可下载东方财富APP查看。</p>"
    assert clean_body(long, BASE).html == long


def test_ads_and_scripts() -> None:
    html = (
        "<p>正文</p>"
        '<div id="adZW_1"><a href="https://ad.example/">买</a></div>'
        '<div class="bottom-ad">广告</div><div class="newsAd">广告</div>'
        "<ins class=\"adsbygoogle\"></ins><script>var a='<p>x</p>';</script>"
        "<style>.a{}</style><noscript>请开启JS</noscript>"
        '<div class="header">页眉不是广告</div><div class="download">也不是</div>'
    )
    assert clean_body(html, BASE).html == ("<p>正文</p>\n<p>页眉不是广告</p>\n<p>也不是</p>")


def test_leading_spaces_and_empty_paragraphs() -> None:
    html = (
        "<p>　　中文缩进</p><p>&nbsp;&nbsp; &emsp;实体空格</p><p>\u200b\ufeff零宽</p>"
        "<p>　　</p><p><br></p><p>&nbsp;</p><p><strong>　</strong></p>"
        "<p>　　<strong>　　加粗开头</strong>结尾　　</p>"
        '<p>　　<img src="/i.png"></p><p>中间　的空格保留</p>'
    )
    assert clean_body(html, BASE).html == (
        "<p>中文缩进</p>\n<p>实体空格</p>\n<p>零宽</p>\n"
        "<p><strong>加粗开头</strong>结尾</p>\n"
        '<p><img src="https://finance.eastmoney.com/i.png"></p>\n'
        "<p>中间　的空格保留</p>"
    )


def test_url_absolutizing() -> None:
    html = (
        '<p><a href="/a/1.html">根</a><a href="2.html">相对</a><a href="//x.com/p">协议</a>'
        '<a href="HTTPS://Y.com/q?a=1&amp;b=2">绝对</a><a href="mailto:a@b.c">邮件</a>'
        '<a href="#top">锚</a><a href="">空</a><a>无</a><a href="ftp://f/x">ftp</a>'
        '<a href="http://[::1">坏</a></p>'
        '<p><img src="/p/a b.png" alt=" 图 "><img data-src="//img.x.com/lazy.jpg"><img></p>'
    )
    assert clean_body(html, BASE).html == (
        '<p><a href="https://finance.eastmoney.com/a/1.html">根</a>'
        '<a href="https://finance.eastmoney.com/a/2.html">相对</a>'
        '<a href="https://x.com/p">协议</a>'
        '<a href="https://Y.com/q?a=1&amp;b=2">绝对</a>'  # urljoin lowercases the scheme
        '<a href="mailto:a@b.c">邮件</a>锚空无ftp坏</p>\n'
        '<p><img src="https://finance.eastmoney.com/p/a%20b.png" alt=" 图 ">'
        '<img src="https://img.x.com/lazy.jpg"></p>'
    )


def test_center_becomes_paragraph_or_div_and_wrappers_flatten() -> None:
    html = (
        '<center><img src="https://x.com/a.png"></center><center>图注</center>'
        "<center><p>段一</p><p>段二</p></center>"
        "<div><div>内层</div>外层文字<p>段落</p>尾</div>"
        "<section><h3>小标题</h3></section>"
    )
    assert clean_body(html, BASE).html == (
        '<p><img src="https://x.com/a.png"></p>\n<p>图注</p>\n<p>段一</p>\n<p>段二</p>\n'
        "<p>内层</p>\n<p>外层文字</p>\n<p>段落</p>\n<p>尾</p>\n<h3>小标题</h3>"
    )


def test_allowlist_keeps_structure_drops_attributes() -> None:
    html = (
        '<h2 id="t" class="c">标题</h2><p align="center"><font color="red">红</font>'
        "<u>下划</u><i>斜</i><em>强调</em><sub>下</sub><sup>上</sup><code>c</code>"
        "<s>删</s><del>除</del></p>"
        "<ul><li>一</li></ul><ol><li>二</li></ol><blockquote>引</blockquote>"
        '<pre>  x = 1\n  y</pre><hr class="x"><table><caption>表题</caption>'
        '<tr><th rowspan="2" width="9">头</th><td colspan="1">格</td></tr></table>'
    )
    assert clean_body(html, BASE).html == (
        "<h2>标题</h2>\n<p>红<u>下划</u><i>斜</i><em>强调</em><sub>下</sub><sup>上</sup>"
        "<code>c</code>删除</p>\n"
        "<ul>\n<li>一</li>\n</ul>\n<ol>\n<li>二</li>\n</ol>\n<blockquote>\n<p>引</p>\n</blockquote>\n"
        "<pre>  x = 1\n  y</pre>\n<hr>\n<p>表题</p>\n"
        '<table>\n<tbody>\n<tr>\n<th rowspan="2">头</th>\n<td>格</td>\n</tr>\n</tbody>\n</table>'
    )


def test_entity_and_case_tricks_never_give_script_urls() -> None:
    vectors = [
        '<a href="JAVASCRIPT:alert(1)">a</a>',
        '<a href="&#x6A;avascript&#x3A;alert(1)">a</a>',
        '<a href="&#0000106&#0000097vascript:alert(1)">a</a>',
        '<a href="java&#13;script:alert(1)">a</a>',
        '<a href="\x01javascript:alert(1)">a</a>',
        '<a href="javascript&colon;alert(1)">a</a>',
        '<a href="  vbscript:x">a</a>',
        '<a href="data:text/html,<script>alert(1)</script>">a</a>',
        '<img src="jav\tascript:alert(1)">',
        "<IMG SRC=JaVaScRiPt:alert(1)>",
        '<img src="x" ONERROR="alert(1)">',
        "<p oNcLiCk=alert(1)>a</p>",
        "<sCrIpT>alert(1)</ScRiPt>",
        "<scr<script>ipt>alert(1)</script>",
        '<a href="javascript:alert(1)"><img src="https://x.com/a.png"></a>',
    ]
    for vector in vectors:
        out = clean_body(f"<p>t</p>{vector}", BASE).html
        assert_safe(out)
        assert "alert" not in "".join(tags_of(out)).lower(), (vector, out)


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        # Nesting libxml2 accepts but an HTML5 parser (nh3) would rebuild.
        ("<strong><p>段</p></strong>", "<p>段</p>"),
        ('<a href="https://a.example/"><em><a href="https://b.example/">内</a></em>外</a>',
         '<p><a href="https://a.example/"><em>内</em>外</a></p>'),
        ("<table>散字<p>段</p><tr><td>格</td><p>又</p></tr></table>",
         "<p>段</p>\n<p>又</p>\n<table>\n<tbody>\n<tr>\n<td>格</td>\n</tr>\n</tbody>\n</table>"),
        ("<td>孤格</td><tr><td>孤行</td></tr>", "<p>孤格孤行</p>"),
        ("<ul><li>一<center><li>二</li></center></li></ul>", "<ul>\n<li>一二</li>\n</ul>"),
        # A heading wrapping blocks loses its heading-ness, not its text.
        ("<h2>标题<div>段</div></h2>", "<p>标题</p>\n<p>段</p>"),
    ],
)  # fmt: skip
def test_nesting_is_repaired(html: str, expected: str) -> None:
    result = clean_body(html, BASE)
    assert result.html == expected
    assert clean_body(result.html, BASE).html == expected


def test_script_and_style_text_is_removed_not_kept() -> None:
    html = "<p>a<script>var x=1;</script>b<style>p{}</style>c</p><script>evil()</script>"
    result = clean_body(html, BASE)
    assert result.html == "<p>abc</p>"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "\x00\x01\x02",
        "<",
        "<!--",
        "<p",
        "</p></div></table>",
        "<table><tr><td>",
        "\ud800\udfff",
        "\ufffe\uffff",
        b"\xff\xfe\x00binary\x9c".decode("latin-1"),
        "<p>" * 5000 + "深",
        "<div>" * 3000 + "深" + "</div>" * 3000,
        "<b><i>" * 2000,
        "<?xml version='1.0' encoding='utf-8'?><p>x</p>",
        "<html><head><title>t</title></head><body><p>x</p></body></html>",
    ],
)
def test_garbage_never_raises(garbage: str) -> None:
    result = clean_body(garbage, BASE)
    assert isinstance(result.html, str)
    assert isinstance(result.stocks, list)
    assert_safe(result.html)
    assert isinstance(body_text(result.html), str)


def test_non_str_inputs() -> None:
    assert clean_body(None, BASE) == CleanResult("", [])  # type: ignore[arg-type]
    assert clean_body(b"<p>a</p>", BASE).html == "<p>a</p>"  # type: ignore[arg-type]
    assert clean_body('<a href="/x">a</a>', None).html == "<p>a</p>"  # type: ignore[arg-type]
    assert body_text(None) == ""  # type: ignore[arg-type]


def test_body_text_blocks() -> None:
    html = (
        "<h2>标题</h2><p>一<br>二 <strong>三</strong>\n  四</p><ul><li>甲</li><li>乙</li></ul>"
        '<table><tr><td>a</td><td></td><td>c <br>d</td></tr></table><p><img src="https://x/y" alt="图"></p>'
        "<pre>l1\n\nl2</pre><p>　全角保留内部　空格　</p>"
    )
    assert body_text(html) == "标题\n一\n二 三 四\n甲\n乙\na  c d\nl1\nl2\n全角保留内部　空格"


# --------------------------------------------------------------------------- properties

HOSTILE_PIECES = [
    "<p>", "</p>", "<a href='javascript:x'>", "<a href=\"JaVa\tScRiPt:y\">", "</a>",
    "<img src=x onerror=y>", "<script>", "</script>", "<div style='display:none'>", "</div>",
    "<center>", "<br>", "<!--", "-->", "<!-- EM_StockImg_Start -->", "<!-- EM_StockImg_End -->",
    "<p class='res-edit'>", "<!--责任编辑-->", "<p class='em_media'>", "&#106;", "&nbsp;", "　",
    "<table><tr><td>", "</td></tr></table>", "<strong>", "</strong>", "<span id='Info.1.600519'>",
    "<a class='em_stock_key_common' href='http://quote.eastmoney.com/r/1.600519'>", "<svg>",
    "<math>", "<style>", "<embed>", "<ul><li>", "<pre>", "<em>", "<h2>", "下载东方财富APP",
    "<iframe>", "<noscript>", "<xmp>", "<textarea>", "<title>", "<P ONCLICK=1>", "<a href='//x/'>",
    "<svg onload=alert(1)>", "<object data=x>", "<form action=javascript:1>", "<base href=x>",
    "<p style='background:url(javascript:1)'>", "&lt;script&gt;", "onload=", "javascript:",
    "<td>", "</td>", "<tr>", "<th>", "<tbody>", "<li>", "<h3>", "<blockquote>", "<caption>",
    "<font>", "<section>", "<a href='https://a.example/'>",
]  # fmt: skip
hostile_html = st.lists(
    st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=6)), max_size=40
).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), hostile_html))
def test_property_never_raises_and_output_is_safe(html: str) -> None:
    result = clean_body(html, BASE)
    assert_safe(result.html)
    assert "<script" not in result.html.lower()
    # Text may say "javascript:" or "onload=" (escaped, harmless); tags never do.
    tags = "".join(tags_of(result.html)).lower()
    assert "javascript:" not in tags
    assert not re.search(r"on\w+=", tags)
    assert all(re.fullmatch(r"\d{1,3}\.[0-9A-Za-z_]+", s) for s in result.stocks)
    assert len(set(result.stocks)) == len(result.stocks)
    # Deterministic and idempotent.
    assert clean_body(html, BASE) == result
    assert clean_body(result.html, BASE).html == result.html


def test_edge_characters_are_the_whitespace_class() -> None:
    """``EDGE_CHARS`` (for str.strip) holds exactly what ``[EDGE_WS]`` matches."""
    import re

    from crawler.transform.html.whitespace import EDGE_CHARS, EDGE_WS

    matched = "".join(chr(c) for c in range(0x110000) if re.fullmatch(f"[{EDGE_WS}]", chr(c)))
    assert matched == EDGE_CHARS


def test_promo_patterns_combined_match_as_each() -> None:
    """The one combined promo regex (a plain alternation of the patterns)
    matches exactly where one of PROMO_PATTERNS does."""
    import random

    from crawler.eastmoney.markup import PROMO_PATTERNS, PROMO_RE

    rnd = random.Random(3)
    pieces = [
        "下载",
        "东方财富",
        "APP",
        "app",
        "客户端",
        "扫码",
        "关注",
        "公众号",
        "长按",
        "二维码",
        "，",
        "文本",
        "天天基金",
        "查看",
        "识别",
        "戳",
        "Choice",
        "终端",
        " ",
    ]
    for _ in range(20000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(1, 8)))
        expected = any(p.search(text) for p in PROMO_PATTERNS)
        assert (PROMO_RE.search(text) is not None) == expected, text


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=" \t\r\n\f\v\u3000\xa0ab央", max_size=40))
def test_collapse_fast_path_is_the_regex(text: str) -> None:
    """Text nodes with nothing to collapse skip the regex; the result is the same."""
    from crawler.transform.html.whitespace import ASCII_WS_RUN_RE, collapse_ascii_ws

    assert collapse_ascii_ws(text) == ASCII_WS_RUN_RE.sub(" ", text)
