"""Tests for crawler.transform.markdown.

Golden Markdown strings were written out and checked by eye. The round-trip
tests are the real proof of the escaping: they render our Markdown with
Jekyll's own kramdown converter (Jekyll's default options: GFM input, smart
quotes, typographic symbols) in one long-lived Ruby process and compare the
visible text with the input. They are skipped when Ruby/kramdown is missing.
"""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import lxml.html
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.transform.html.clean import clean_body
from crawler.transform.markdown import html_to_markdown
from crawler.transform.markdown.escape import escape_url
from crawler.transform.text import body_text

BODIES = Path(__file__).parent / "fixtures" / "bodies"
BASE = "https://finance.eastmoney.com/a/202206142411662087.html"


def md_of(name: str, base: str = BASE) -> str:
    return html_to_markdown(clean_body((BODIES / name).read_text(encoding="utf-8"), base).html)


# --------------------------------------------------------------------------- kramdown

# Renders one JSON string per input line, answers one JSON string per line.
# Prefers Jekyll's converter (exactly what the site build uses); falls back to
# kramdown + kramdown-parser-gfm with Jekyll's default options.
RUBY_RENDERER = r"""
require "json"
begin
  require "jekyll"
  conf = Marshal.load(Marshal.dump(Jekyll::Configuration::DEFAULTS))
  conv = Jekyll::Converters::Markdown.new(conf)
  conv.setup
  render = ->(s) { conv.convert(s) }
  engine = "jekyll #{Jekyll::VERSION} kramdown #{Kramdown::VERSION}"
rescue LoadError
  require "kramdown"
  require "kramdown-parser-gfm"
  opts = { input: "GFM", hard_wrap: false, auto_ids: true, entity_output: :as_char,
           smart_quotes: %w[lsquo rsquo ldquo rdquo], show_warnings: false }
  render = ->(s) { Kramdown::Document.new(s, opts).to_html }
  engine = "kramdown #{Kramdown::VERSION}"
end
STDOUT.sync = true
STDOUT.puts JSON.generate(engine)
STDIN.each_line { |line| STDOUT.puts JSON.generate(render.(JSON.parse(line))) }
"""


class Kramdown:
    """A Ruby subprocess rendering Markdown to HTML, one request per line."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["ruby", "-e", RUBY_RENDERER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        first = self.stdout.readline()
        if not first:
            self.close()
            raise RuntimeError("kramdown renderer did not start")
        self.engine: str = json.loads(first)

    def render(self, markdown: str) -> str:
        self.stdin.write(json.dumps(markdown) + "\n")
        self.stdin.flush()
        return json.loads(self.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def kramdown() -> Iterator[Kramdown]:
    # Ruby and kramdown come with Debian's jekyll, which `make test` installs:
    # without them the round-trip proof would silently not run, so fail instead.
    assert shutil.which("ruby"), "ruby is not installed (apt-get install jekyll)"
    try:
        renderer = Kramdown()
    except (OSError, RuntimeError) as exc:
        pytest.fail(f"kramdown is not available: {exc}")
    yield renderer
    renderer.close()


def norm(text: str) -> str:
    """What a browser shows: ASCII whitespace runs collapse (U+3000/U+00A0 do not).

    The edges are stripped of all whitespace: the converter, like the cleaner,
    trims U+3000 indents at the start and end of a block.
    """
    return re.sub(r"[ \t\r\n\f]+", " ", text).strip()


def visible(html: str) -> str:
    if not html.strip():
        return ""
    root = lxml.html.document_fromstring("<html><body>" + html).find("body")
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")  # a line break shows as (at least) a space
    return norm(root.text_content())


def check_markdown_shape(md: str) -> None:
    assert "{" not in md and "}" not in md  # nothing for Liquid or kramdown's {: / {::
    assert md == md.strip("\n")
    assert all(line == line.rstrip() for line in md.split("\n"))


# --------------------------------------------------------------------------- golden

CURRENT_MD = """\
中国经济网北京6月14日讯 今日，A股三大指数集体高开。截至发稿，沪指涨0.52%，深成指涨0.89%，创业板指涨1.21%。

白酒板块走强，[贵州茅台](http://quote.eastmoney.com/r/1.600519)涨2.1%，五粮液涨1.8%。

港股方面，[联想集团](http://quote.eastmoney.com/r/116.00992)涨超3%。

![](https://dfscdn.dfcfw.com/download/D25618177642896768707.jpg)

图为沪指分时走势

分析人士认为，**“稳增长”政策**持续发力……

（文章来源：中国经济网）"""

OLD_MD = """\
本报讯 1月2日，两市成交额合计2500亿元。

![](http://finance.eastmoney.com/images/2019/0102/chart.png)

**行业涨跌**

详见[前文](http://finance.eastmoney.com/news/1350,20190102123456788.html)，或返回顶部。<br />第二行

（文章来源：上海证券报）"""

TABLES_MD = """\
主要指数表现如下：

| **指数** | **收盘** | **涨跌幅** |
| 上证指数 | 3288.91 | +0.52% |
| 北证50 | - | \\-\\- |
| 深证\\|成指 | 12,345.67 | \\*0.89% |

| 项目 | 2022年 | 2021年 |
| --- | --- | --- |
| 营收 | 1.2亿 | 1.0亿 |

<table>
<tbody>
<tr>
<td colspan="2">合并单元格&#123;&#123;x&#125;&#125;</td>
</tr>
<tr>
<td>A&amp;B</td>
<td>&lt;C&gt;</td>
</tr>
</tbody>
</table>"""

SPECIALS_MD = r"""## 一、\*重点\* 关注\_两类\_ \#机会

1\. 市场回暖；

\- 减持\[计划\]不变

\+ 10%

&gt; 引用？

&#123;&#123; site.title &#125;&#125; &#123;% raw %&#125; &#123;:.class&#125; \$\$x^2\$\$ a\|b \`code\` \\escape \"引号\" \'single\' \-\- \.\.\. &lt;&lt;书名&gt;&gt; &amp;copy; &#126;&#126;删除&#126;&#126;

\: 定义

\===

&#94;

- 第一项
- 第二项
  - 嵌套

1. 步骤一
2. 2\. 步骤二

> 引述一段
>
> 第二段

加粗 **两边空格** 后面，<em>斜体</em><strong>紧接合并</strong>。[链接\[文字\]](https://example.com/a%20b%281%29?q=%7Bx%7D&r=1)，<code>a*b&#123;c&#125;</code>，H<sub>2</sub>O。

* * *

<pre>  代码  *不转义*
第二行 &#123;&#123;x&#125;&#125;</pre>"""


def test_current_template_markdown() -> None:
    assert md_of("current_template.html") == CURRENT_MD


def test_choice_text_markdown() -> None:
    assert md_of("choice_text.html") == (
        "新华社北京6月14日电 记者从国家统计局获悉，5月份全国规模以上工业增加值同比增长0.7%。\n\n"
        "宁德时代公告称，拟投资建设新项目。\n\n"
        "据了解，中国平安同日发布公告。\n\n"
        "（文章来源：新华社）"
    )


def test_old_template_markdown() -> None:
    base = "http://finance.eastmoney.com/news/1350,20190102123456789.html"
    assert md_of("old_template.html", base) == OLD_MD


def test_tables_markdown() -> None:
    # Simple tables become Markdown tables (a header separator only for <th>/<thead>
    # first rows; a "-" cell is safe because the row also holds text); the merged-cell
    # table stays HTML with entities.
    assert md_of("tables.html") == TABLES_MD


def test_specials_markdown() -> None:
    assert md_of("markdown_specials.html") == SPECIALS_MD


def test_hostile_markdown() -> None:
    assert md_of("hostile.html") == (
        "点击\n\njs tab ent sp vb data\n\n![](https://finance.eastmoney.com/a/x)\n\n正文继续\n\n"
        "样式\n\n[安全链接](http://ok.example/)\n\n注释\n\n"
        "&lt;script&gt;文本&lt;/script&gt; onload=1 javascript:void(0)"
    )


@pytest.mark.parametrize("name", sorted(p.name for p in BODIES.glob("*.html")))
def test_fixture_markdown_shape_and_determinism(name: str) -> None:
    md = md_of(name)
    check_markdown_shape(md)
    assert md == md_of(name)
    assert "\n\n\n" not in md


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("", ""),
        ("   ", ""),
        ("<p>　</p>", ""),  # block-edge U+3000 is trimmed, as by the cleaner
        ("<p>a</p><p>b</p>", "a\n\nb"),
        ("<h1>一</h1><h6>六#</h6>", "# 一\n\n###### 六\\#"),
        ("<p>1. a</p><p>10.5%</p><p>2022. 年</p>", "1\\. a\n\n10.5%\n\n2022\\. 年"),
        ("<p>-1%</p><p>+1%</p><p>=x</p><p>:x</p><p>^x</p>", "\\-1%\n\n\\+1%\n\n\\=x\n\n\\:x\n\n&#94;x"),
        ("<p>a - b -- c --- d</p>", "a - b \\-\\- c \\-\\-\\- d"),
        ("<p>1.5 .. ... ....</p>", "1.5 .. \\.\\.\\. \\.\\.\\.\\."),
        ("<p>~x~ ~~y~~</p>", "~x~ &#126;&#126;y&#126;&#126;"),
        ("<p>S&amp;P 500 &amp;amp; &amp;#1; &amp;x</p>", "S&P 500 &amp;amp; &amp;\\#1; &x"),
        ("<p>a<br>b<br><br></p>", "a<br />b"),
        ("<p><strong>a</strong><strong>b</strong> <em>c</em><em>d</em></p>", "**ab** *cd*"),
        ("<p><strong><strong>x</strong></strong><b><strong>y</strong></b></p>", "**xy**"),
        ("<p>x<strong> </strong>y<em></em>z</p>", "x yz"),
        ("<p><a href='https://x.com/'></a><a>t</a></p>", "t"),
        (
            "<p><a href='https://x.com/a_(b)'><img src='https://x.com/i.png' alt='图[1]'></a></p>",
            "[![图\\[1\\]](https://x.com/i.png)](https://x.com/a_%28b%29)",
        ),
        ("<p><code>`x` | {y}</code> <u>下划</u> <u><b>粗</b></u></p>", "<code>&#96;x&#96; &#124; &#123;y&#125;</code> <u>下划</u> **粗**"),
        ("<p>H<sub>2</sub>O<sup>*</sup></p>", "H<sub>2</sub>O<sup>\\*</sup>"),
        ("<hr><blockquote><p># a</p></blockquote>", "* * *\n\n> \\# a"),
        ("<ol><li>a</li><li><p>b</p><p>c</p></li></ol>", "1. a\n\n2. b\n\n   c"),
        ("<pre>  a\n\n b  \n</pre>", "<pre>  a\n\n b</pre>"),
        ("<table><tr><th>a</th><th>b</th></tr><tr><td>-</td><td>:</td></tr></table>", "| a | b |\n| --- | --- |\n| \\- | : |"),
        ("<table><tr><td>=</td></tr></table>", "| \\= |"),
        ("<table><tr><td><ul><li>x</li></ul></td></tr></table>", "<table>\n<tr>\n<td><ul><li>x</li></ul></td>\n</tr>\n</table>"),
    ],
)  # fmt: skip
def test_conversion_units(html: str, expected: str) -> None:
    assert html_to_markdown(html) == expected


def test_no_trailing_newline_or_whitespace() -> None:
    md = html_to_markdown("<p>a  </p>\n\n<ul><li>b </li></ul>\n<p>c\n</p>\n")
    assert md == "a\n\n- b\n\nc"


# --------------------------------------------------------------------------- round trips

SPECIAL_TOKENS = [
    "*", "**", "_", "__", "#", "# ", "[", "]", "](", "![", "<", ">", "<<", ">>", "|", "`", "```",
    "\\", "\\\\", "-", "--", "---", "- ", "+ ", "* ", "1. ", "1) ", "{", "}", "{{", "{%", "%}",
    "{:", "{::", "$", "$$", "^", "~", "~~", "~~~", ":", ": ", "=", "===", "!", "&", "&amp;",
    "&copy;", "&#123;", "&#x41;", '"', "'", "...", ". . .", "(c)", "[^1]", "*[HTML]:",
    "http://x.com/a_b", "<br>", "<!--", "-->", "<div>", "</p>", " ", "  ", "\t", "\n", "　",
    "\u00a0", "\u2028", "\ufeff", "\u200b", "中文", "1", "a",
]  # fmt: skip
paragraph_text = st.lists(
    st.one_of(
        st.sampled_from(SPECIAL_TOKENS),
        st.characters(blacklist_categories=("Cs", "Cc", "Cn")),
    ),
    max_size=25,
).map("".join)


def test_kramdown_engine(kramdown: Kramdown) -> None:
    assert "kramdown" in kramdown.engine
    assert visible(kramdown.render("*a* &#123;")) == "a {"


@pytest.mark.parametrize("name", sorted(p.name for p in BODIES.glob("*.html")))
def test_fixture_round_trip_through_kramdown(kramdown: Kramdown, name: str) -> None:
    base = "http://finance.eastmoney.com/news/1350,20190102123456789.html"
    clean = clean_body((BODIES / name).read_text(encoding="utf-8"), base).html
    rendered = kramdown.render(html_to_markdown(clean))
    assert body_text(rendered) == body_text(clean)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paragraph_text)
def test_property_paragraph_text_survives_kramdown(kramdown: Kramdown, text: str) -> None:
    md = html_to_markdown(f"<p>{htmllib.escape(text)}</p>")
    check_markdown_shape(md)
    assert "\n" not in md  # one block, one line
    assert visible(kramdown.render(md)) == norm(text), md


URLS = [
    "https://example.com/a_b*c",
    "https://example.com/p?q=1&r={x}|y",
    "https://example.com/(paren) space",
    "http://quote.eastmoney.com/r/1.600519",
    "https://example.com/'quote\"",
    "mailto:a@b.c",
]
segment = st.tuples(
    st.sampled_from(["text", "strong", "em", "strong-em", "link", "code", "sub", "u", "br"]),
    paragraph_text,
    st.sampled_from(URLS),
)


def segment_html(kind: str, text: str, url: str) -> str:
    t = htmllib.escape(text)
    return {
        "text": t,
        "strong": f"<strong>{t}</strong>",
        "em": f"<em>{t}</em>",
        "strong-em": f"<b>{t}<i>{t}</i></b>",
        "link": f'<a href="{htmllib.escape(url)}">{t}</a>',
        "code": f"<code>{t}</code>",
        "sub": f"<sub>{t}</sub>",
        "u": f"<u>{t}</u>",
        "br": f"{t}<br>",
    }[kind]


def segment_text(kind: str, text: str) -> str:
    return text * 2 if kind == "strong-em" else text + (" " if kind == "br" else "")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(segment, min_size=1, max_size=6))
def test_property_inline_markup_survives_kramdown(
    kramdown: Kramdown, segments: list[tuple[str, str, str]]
) -> None:
    html = "<p>" + "".join(segment_html(*s) for s in segments) + "</p>"
    md = html_to_markdown(html)
    check_markdown_shape(md)
    rendered = kramdown.render(md)
    expected = norm("".join(segment_text(kind, text) for kind, text, _ in segments))
    assert visible(rendered) == expected, md
    # Each link with visible text became exactly one link to the same URL
    # (percent-encoded where Markdown needs it).
    hrefs = lxml.html.fromstring(f"<div>{rendered}</div>").xpath("//a/@href") if rendered else []
    wanted = [
        escape_url(url)
        for kind, text, url in segments
        if kind == "link" and text.strip(" \t\r\n\f")
    ]
    assert hrefs == wanted, md


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(paragraph_text, min_size=1, max_size=3), min_size=1, max_size=4))
def test_property_table_cells_survive_kramdown(kramdown: Kramdown, rows: list[list[str]]) -> None:
    html = (
        "<table>"
        + "".join(
            "<tr>" + "".join(f"<td>{htmllib.escape(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        + "</table>"
    )
    md = html_to_markdown(html)
    check_markdown_shape(md)
    rendered = kramdown.render(md)
    width = max(len(r) for r in rows)
    # kramdown writes an empty cell as &nbsp;
    cells = [[norm(c).replace("\xa0", "") for c in row] + [""] * (width - len(row)) for row in rows]
    if not any(any(row) for row in cells):
        assert md == ""
        return
    got = [
        [norm(td.text_content()).replace("\xa0", "") for td in tr.xpath("./td|./th")]
        for tr in lxml.html.fromstring(rendered).xpath("//tr")
    ]
    assert got == cells, md


def _wrap(tag: str, inner: str) -> str:
    if tag == "a":
        return f'<a href="https://example.com/x?a=1&amp;b=2">{inner}</a>'
    return f"<{tag}>{inner}</{tag}>"


inline_html = st.recursive(
    paragraph_text.map(htmllib.escape)
    | st.just("<br>")
    | st.just('<img src="https://example.com/i.png" alt="a*b">'),
    lambda children: st.tuples(
        st.sampled_from(["strong", "b", "em", "i", "a", "sub", "sup", "u", "code", "span"]),
        st.lists(children, max_size=3).map("".join),
    ).map(lambda t: _wrap(*t)),
    max_leaves=8,
)
inlines = st.lists(inline_html, min_size=1, max_size=4).map("".join)
cell = st.tuples(st.sampled_from(["td", "th", 'td colspan="2"']), inlines).map(
    lambda t: f"<{t[0]}>{t[1]}</{t[0].split()[0]}>"
)
block_html = st.one_of(
    inlines.map(lambda s: f"<p>　　{s}</p>"),
    st.tuples(st.sampled_from(["h1", "h2", "h3", "h6", "center", "div"]), inlines).map(
        lambda t: _wrap(*t)
    ),
    st.lists(inlines.map(lambda s: f"<li>{s}</li>"), min_size=1, max_size=3).map(
        lambda items: "<ul>" + "".join(items) + "</ul>"
    ),
    st.lists(inlines.map(lambda s: f"<li><p>{s}</p><p>{s}</p></li>"), min_size=1, max_size=2).map(
        lambda items: "<ol>" + "".join(items) + "</ol>"
    ),
    st.lists(inlines.map(lambda s: f"<p>{s}</p>"), min_size=1, max_size=2).map(
        lambda ps: "<blockquote>" + "".join(ps) + "</blockquote>"
    ),
    st.lists(st.lists(cell, min_size=1, max_size=3), min_size=1, max_size=3).map(
        lambda rows: "<table>" + "".join("<tr>" + "".join(r) + "</tr>" for r in rows) + "</table>"
    ),
    paragraph_text.map(lambda s: f"<pre>{htmllib.escape(s)}</pre>"),
    st.just("<hr>"),
)
article_html = st.lists(block_html, min_size=1, max_size=5).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(article_html)
def test_property_cleaned_article_survives_kramdown(kramdown: Kramdown, html: str) -> None:
    """End to end: clean, convert, render with Jekyll's kramdown; same visible text."""
    clean = clean_body(html, BASE).html
    md = html_to_markdown(clean)
    check_markdown_shape(md)
    assert body_text(kramdown.render(md)) == body_text(clean), md
