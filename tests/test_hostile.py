"""Hostile content through the REAL pipeline stages, property-based (hypothesis).

Generated titles, summaries, media names and article bodies go through
``ValidatePipeline → DedupePipeline → CleanPipeline → SnapshotPipeline → PostPipeline →
IndexPipeline`` in-process (a crawler from ``get_crawler`` with finews's settings, the
archive in a temporary directory). On what comes out:

- the post's YAML front matter, read back the way Jekyll finds it and parsed with
  PyYAML, gives back the title (quotes, colons, newlines, ``---``, leading ``@ * & !``,
  YAML escapes, Liquid) and the other fields;
- no ``<script>``, ``<style>``, ``<iframe>``, ``<form>`` (or other active element),
  event handler, ``javascript:``/``data:`` URL reaches the clean HTML, the post body or
  the database's HTML-bearing field (``body_markdown``);
- whatever a field holds (ids, dates, media), nothing is written outside the archive;
- a batch of the generated posts builds with real Jekyll, and the built pages hold no
  active content from the articles.

``make chaos`` is the place for more examples (``HYPOTHESIS_PROFILE``-free: raise
``EXAMPLES`` below locally); the suite keeps the count modest.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lxml.html
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scrapy import Spider
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

import crawler.settings as project_settings
from crawler.eastmoney.ids import INFO_CODE_RE, valid_show_time
from crawler.eastmoney.urls import article_url
from crawler.files import UnsafePathError
from crawler.items import Article, Failure
from crawler.transform.posts import link_text
from crawler.workers import Workers
from pipelines.clean import CleanPipeline
from pipelines.dedupe import DedupePipeline
from pipelines.index import IndexPipeline
from pipelines.post import PostPipeline
from pipelines.snapshot import SnapshotPipeline
from pipelines.validate import UNKNOWN_MEDIA, ValidatePipeline
from tests.sitebuild import build_site, copy_skeleton, jekyll_available

# Fixed seeds and a modest count in the suite; `make chaos` sets FINEWS_EXAMPLES
# (more examples, random seeds) to explore further.
EXAMPLES = int(os.environ.get("FINEWS_EXAMPLES", "150"))
DERANDOMIZE = "FINEWS_EXAMPLES" not in os.environ

# ----------------------------------------------------------------- strategies

#: Pieces of text that mean something to YAML, Markdown, kramdown, Liquid or HTML.
SPECIAL = [
    '"',
    "'",
    ":",
    ": ",
    "#",
    " #",
    "---",
    "...",
    "\n",
    "\r\n",
    "\t",
    "@",
    "*",
    "&",
    "!",
    "|",
    ">",
    "%",
    "{",
    "}",
    "[",
    "]",
    ",",
    "?",
    "-",
    "- ",
    "`",
    "\\",
    "~",
    "^",
    "=",
    "{{ site.title }}",
    "{% include x.html %}",
    '{: onclick="alert(1)"}',
    "{::nomarkdown}",
    "<script>alert(1)</script>",
    "javascript:alert(1)",
    "&lt;script&gt;",
    "&amp;",
    "&#0;",
    "\u2028",
    "\u2029",
    "\x85",
    "\ufeff",
    "\u200b",
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\xa0",
    "　",
    "中文标题",
    "《》",
    "【】",
    "“引号”",
    "*ST",
    "1. ",
    "+ ",
    "> ",
    "    ",
    "| a | b |",
    "[x](javascript:alert(1))",
    "![x](data:image/png;base64,AAAA)",
    "<http://x>",
    "\\*",
    "yes",
    "no",
    "null",
    "~",
    "0x1F",
    "1e3",
    "2026-11-20",
    "!!python/object:os.system",
    "&anchor",
    "*alias",
    "<<: *a",
    "%YAML 1.1",
    "--- !",
    "'''",
    '"""',
    "\ud800",
    "\udfff",  # lone surrogates: JSON can carry them ("\\ud800"), UTF-8 cannot
]
text_piece = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(min_size=1, max_size=6),
    st.text(alphabet="中文新闻股票市场经济增长测试", min_size=1, max_size=4),
)
hostile_text = st.lists(text_piece, min_size=0, max_size=10).map("".join)
hostile_title = st.lists(text_piece, min_size=1, max_size=10).map("".join)

SAFE_TAGS = ["p", "div", "span", "a", "strong", "em", "b", "i", "u", "br", "img", "center"]
SAFE_TAGS += ["table", "tr", "td", "th", "ul", "ol", "li", "h2", "h3", "blockquote", "pre"]
SAFE_TAGS += ["code", "sub", "sup", "section", "font"]
ACTIVE_TAGS = [
    "script",
    "style",
    "iframe",
    "form",
    "object",
    "embed",
    "svg",
    "math",
    "input",
    "button",
    "textarea",
    "select",
    "base",
    "meta",
    "link",
    "template",
    "noscript",
    "frameset",
    "frame",
    "applet",
    "audio",
    "video",
    "xmp",
    "title",
    "isindex",
    "marquee",
    "details",
    "dialog",
]
ATTRS = [
    ("onclick", "alert(1)"),
    ("onerror", "alert(1)"),
    ("onload", "alert(1)"),
    ("onmouseover", "x"),
    ("style", "background:url(javascript:alert(1))"),
    ("href", "javascript:alert(1)"),
    ("href", " JaVaScRiPt:alert(1)"),
    ("href", "java\tscript:alert(1)"),
    ("href", "jav&#x09;ascript:alert(1)"),
    ("href", "&#106;avascript:alert(1)"),
    ("href", "data:text/html;base64,PHNjcmlwdD4="),
    ("src", "data:image/svg+xml,<svg onload=alert(1)>"),
    ("href", "vbscript:msgbox(1)"),
    ("src", "javascript:alert(1)"),
    ("action", "javascript:alert(1)"),
    ("formaction", "javascript:alert(1)"),
    ("srcdoc", "<script>alert(1)</script>"),
    ("xlink:href", "javascript:alert(1)"),
    ("href", "http://ok.example/a?b=1&c=2"),
    ("src", "//img.example/x.png"),
    ("href", "/relative/path.html"),
    ("href", "#top"),
    ("href", "mailto:x@example.com"),
    ("class", "em_media"),
    ("id", "Info.600519"),
    ("style", "display:none"),
    ("alt", '" onerror="alert(1)'),
    ("colspan", "2"),
    ("data-code", "1.600519"),
    ("title", "{{ site }}"),
]
#: Known mutation-XSS and parser-confusion payloads, as raw fragments.
PAYLOADS = [
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<img src=x onerror=alert(1)//",
    "<svg><script>alert(1)</script></svg>",
    "<svg/onload=alert(1)>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<style>@import 'http://evil/x.css';</style>",
    "<form action=javascript:alert(1)><button>go</button></form>",
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object><embed src=javascript:alert(1)>',
    '<meta http-equiv=refresh content="0;url=javascript:alert(1)">',
    '<base href="javascript:/"><a href="x">x</a>',
    "<!--<script>alert(1)</script>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<a href="javascript&colon;alert(1)">x</a>',
    '<a href="  java\nscript:alert(1)">x</a>',
    '<p style="display:none;height:1px;overflow:hidden;"><br /></p>',
    '<!-- EM_StockImg_Start --><a href="http://quote.eastmoney.com/unify/r/1.600519"><img src="x.png"></a><!-- EM_StockImg_End -->',
    '<p class="em_media">（文章来源：<script>alert(1)</script>）</p>',
    "<table><tr><td>a<script>alert(1)</script></td></tr></table>",
    "<pre>  </pre><script>alert(1)</script>",
    '<a href="http://x/" onclick="alert(1)">link</a>',
    '<img src="http://x/a.png" alt="&quot; onerror=alert(1)">',
    "<p>{% raw %}{{ x }}{% endraw %}</p>",
    '<p>\n{: onclick="alert(1)"}\n</p>',
    "<p>{::nomarkdown}<script>alert(1)</script>{:/}</p>",
    "<p>[click](javascript:alert(1)) and <http://ok.example></p>",
    "<div><p>" * 40 + "deep" + "</p></div>" * 40,
]


def _attrs(pairs: list[tuple[str, str]]) -> str:
    return "".join(f' {k}="{v}"' for k, v in pairs)


@st.composite
def element(draw: st.DrawFn, children: st.SearchStrategy[str]) -> str:
    tag = draw(st.sampled_from(SAFE_TAGS + ACTIVE_TAGS))
    attrs = draw(st.lists(st.sampled_from(ATTRS), max_size=3))
    inner = "".join(draw(st.lists(children, max_size=4)))
    close = draw(st.sampled_from(["full", "full", "open", "self"]))
    if close == "self":
        return f"<{tag}{_attrs(attrs)} />{inner}"
    end = f"</{tag}>" if close == "full" else ""
    return f"<{tag}{_attrs(attrs)}>{inner}{end}"


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


html_leaf = st.one_of(
    hostile_text.map(_escaped),  # text, as a page would carry it
    hostile_text,  # raw: "<" and "&" as they come
    st.sampled_from(PAYLOADS),
)
hostile_body = st.recursive(html_leaf, element, max_leaves=12).map(
    lambda html: "<p>　　" + html + "</p>"
)
media_names = st.one_of(
    st.sampled_from(["中国经济网", "新华社", "上海证券报·中国证券网", "21世纪经济报道"]),
    hostile_text,
    st.text(min_size=200, max_size=400),  # longer than a file name may be
)


def scrubbed(text: str) -> str:
    """What the validate stage keeps of a text field: lone surrogates become U+FFFD."""
    return re.sub("[\ud800-\udfff]", "\ufffd", text)


# ----------------------------------------------------------------- the stages


class Stages:
    """The real item pipelines of a crawl, in their order, on a temporary archive.

    In-process (FINEWS_WORKERS=0: the heavy calls on the crawl process's
    threads), each item through the stages' coroutines on an event loop."""

    def __init__(self, archive: Path) -> None:
        base = {k: getattr(project_settings, k) for k in dir(project_settings) if k.isupper()}
        self.archive = archive
        self.crawler = get_crawler(
            Spider,
            settings_dict={
                **base,
                "FINEWS_ARCHIVE_DIR": str(archive),
                "FINEWS_DB_BATCH": 1,
                "FINEWS_RENDER": "never",
                "FINEWS_WORKERS": 0,
            },
        )
        self.stages = [
            ValidatePipeline.from_crawler(self.crawler),
            DedupePipeline.from_crawler(self.crawler),
            CleanPipeline.from_crawler(self.crawler),
            SnapshotPipeline.from_crawler(self.crawler),
            PostPipeline.from_crawler(self.crawler),
            IndexPipeline.from_crawler(self.crawler),
        ]
        for stage in self.stages:
            if hasattr(stage, "open_spider"):
                stage.open_spider()
        self.codes = itertools.count(1)

    def close(self) -> None:
        for stage in self.stages:
            if hasattr(stage, "close_spider"):
                done = stage.close_spider()
                if inspect.isawaitable(done):
                    asyncio.run(done)
        for lane in ("", "index"):
            Workers.for_crawler(self.crawler, lane=lane).close()

    def run(self, item: Any) -> Any:
        async def through(item: Any) -> Any:
            for stage in self.stages:
                item = await stage.process_item(item)
            await self.stages[-1].written()  # a batch is one row (FINEWS_DB_BATCH=1)
            return item

        return asyncio.run(through(item))

    def article(self, **fields: Any) -> Article:
        code = f"20261120{next(self.codes):010d}"
        defaults: dict[str, Any] = {
            "info_code": "NW" + code,
            "code": code,
            "title": "标题",
            "published": "2026-11-20 10:00:00",
            "media": "新华社",
            "summary": "",
            "column_ids": [350],
            "columns": ["国内经济"],
            "source_url": article_url(code),
            "share_url": f"http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW{code}",
            "body_html": "<p>正文</p>",
            "body_source": "page",
            "fetched_at": "2026-11-24T00:00:00Z",
        }
        defaults.update(fields)
        return Article(**defaults)

    def row(self, info_code: str) -> dict[str, Any] | None:
        db = sqlite3.connect(self.archive / "finews.db")
        db.row_factory = sqlite3.Row
        try:
            row = db.execute("SELECT * FROM articles WHERE info_code = ?", [info_code]).fetchone()
            return dict(row) if row else None
        finally:
            db.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def stages(workdir: Path) -> Iterator[Stages]:
    s = Stages(workdir / "archive")
    yield s
    s.close()


# ----------------------------------------------------------------- invariants

#: Jekyll's front matter rule (``Jekyll::Document::YAML_FRONT_MATTER_REGEXP``).
FRONT_MATTER = re.compile(r"\A(---\s*\n.*?\n?)^((---|\.\.\.)\s*$\n?)", re.M | re.S)
RAW_TAG = re.compile(r"<\s*(/?)\s*([A-Za-z][^\s/>]*)([^>]*)>?")
RAW_ALLOWED = {
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "p",
    "div",
    "br",
    "a",
    "img",
    "strong",
    "b",
    "em",
    "i",
    "u",
    "sub",
    "sup",
    "code",
    "ul",
    "ol",
    "li",
    "hr",
    "blockquote",
    "pre",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
}
RAW_ATTR = re.compile(r'\s([^\s=]+)="([^"]*)"')
SAFE_URL = re.compile(r"^(https?://|mailto:)", re.I)
MD_LINK = re.compile(r"(?<!\\)\]\(([^)\s]*)")
RAW_SPANS = re.compile(r"<(pre|code|u|table)\b.*?</\1>", re.S)
HTML_ALLOWED = RAW_ALLOWED | {"html", "body"}


def assert_safe_html(html: str) -> None:
    """Sanitized HTML: allowlisted elements, no handlers, only http(s)/mailto URLs."""
    if not html.strip():
        return
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue  # a comment or processing instruction would be a problem too
        assert el.tag in HTML_ALLOWED | {"div"}, el.tag
        for name, value in el.attrib.items():
            assert name in ("href", "src", "alt", "colspan", "rowspan"), name
            if name in ("href", "src"):
                assert SAFE_URL.match(value), value
    assert "<!--" not in html


def assert_safe_markdown(text: str) -> None:
    """Post body / ``body_markdown``: raw HTML only from the allowlist, safe link targets.

    Text ``<`` is always written as ``&lt;``, so every ``<tag`` here is markup kramdown
    passes through; link and image targets must be http(s)/mailto.
    """
    for m in RAW_TAG.finditer(text):
        tag = m.group(2).lower()
        assert tag in RAW_ALLOWED, m.group(0)
        for name, value in RAW_ATTR.findall(m.group(3)):
            assert name in ("href", "src", "alt", "colspan", "rowspan"), m.group(0)
            if name in ("href", "src"):
                assert SAFE_URL.match(value), m.group(0)
        assert not re.search(r"\son\w+\s*=", m.group(3), re.I), m.group(0)
    # Inside raw <pre>, <code>, <u> and raw tables kramdown reads no Markdown (checked
    # with Jekyll): "[x](javascript:…)" there is text, as the site build below shows.
    for target in MD_LINK.findall(RAW_SPANS.sub("", text)):
        assert SAFE_URL.match(target), target
    assert "{::" not in text and not re.search(r"(?m)^\s*\{:", text), "kramdown extension"
    assert "<!--" not in text


def check_post(stages: Stages, item: Article, title: str, summary: str, media: str) -> None:
    archive = stages.archive
    path = (archive / item.post_path).resolve()
    assert archive.resolve() in path.parents
    text = path.read_bytes().decode("utf-8")  # as Jekyll reads it: no newline translation
    m = FRONT_MATTER.match(text)
    assert m, text[:200]
    data = yaml.safe_load(m.group(1)[3:])
    head_lines = m.group(1).splitlines()
    assert head_lines[1] == "layout: post" and head_lines[2].startswith('title: "')
    title, summary, media = scrubbed(title), scrubbed(summary), scrubbed(media)
    want_media = " ".join(media.split()) or UNKNOWN_MEDIA  # a name is one line
    assert data["title"] == " ".join(title.split()) == item.title
    assert data["summary"] == summary
    assert data["source"] == want_media and data["tags"] == f"{want_media}新闻"
    assert data["info_code"] == item.info_code and data["render_with_liquid"] is False
    assert list(data)[:5] == ["layout", "title", "date", "categories", "tags"]
    assert re.fullmatch(r"[\w·]+", data["categories"]), data["categories"]
    body = text[m.end() :]
    markdown = item.body_markdown.strip("\n")
    assert body.startswith(markdown)
    assert_safe_markdown(markdown)
    # The rest is the archive's footer: share link, back links (site-relative). (The
    # front matter's closing "---\s*$" also takes the blank lines after an empty body.)
    assert body[len(markdown) :].lstrip("\n") == (
        f"<{item.share_url}>\n\n[返回{link_text(want_media)}新闻]"
        f"(/category/{data['categories']}.html)｜[返回首页](/)\n"
    )
    assert_safe_html(item.clean_html)
    row = stages.row(item.info_code)
    assert row is not None
    assert row["title"] == item.title and row["summary"] == summary
    assert row["body_text"] == item.body_text and row["body_markdown"] == item.body_markdown
    assert_safe_markdown(row["body_markdown"])


#: Posts written by the property test, built with Jekyll by the last test.
BUILT: list[Path] = []


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(title=hostile_title, summary=hostile_text, media=media_names, body=hostile_body)
def test_hostile_fields_and_bodies(
    stages: Stages, title: str, summary: str, media: str, body: str
) -> None:
    item = stages.run(stages.article(title=title, summary=summary, media=media, body_html=body))
    if isinstance(item, Failure):
        # Refused with a reason (an all-blank title; nothing left after cleaning): no post.
        assert item.reason and item.stage in ("validate", "clean")
        assert not list(stages.archive.glob(f"_posts/**/*{item.info_code or 'none'}.md"))
        if item.stage == "clean":
            assert stages.row(item.info_code) is None
        return
    check_post(stages, item, title, summary, media)
    BUILT.append(stages.archive / item.post_path)


@pytest.mark.parametrize(
    "title",
    [
        'He said "yes": 10% up',
        "--- front matter? ---",
        "@user *ST股份 &anchor !tag",
        "line one\nline two\r\n---\nthree",
        "{{ site.title }} {% include evil.html %}",
        "'single' and \"double\" and \\backslash",
        "? key: value\n- item",
        "\u2028分隔\x85符\ufeff",
        "下一行\x85符号",  # NEL: a line break to YAML 1.1
        "行分隔\u2028符",
        "<script>alert(1)</script>",
        "孤立代理\ud800项",
        "长" * 300,
    ],
)
def test_known_hard_titles_round_trip(stages: Stages, title: str) -> None:
    summary = title  # the summary is written unquoted by PyYAML: it must survive too
    item = stages.run(stages.article(title=title, summary=summary, media=title))
    assert isinstance(item, Article), item
    check_post(stages, item, title, summary, title)
    BUILT.append(stages.archive / item.post_path)


IDS = st.one_of(
    st.sampled_from(
        [
            "NW../../etc",
            "NW202611201234567890/../../x",
            "../../../../tmp/evil",
            "/etc/passwd",
            "NW2026112012345678\n",
            "NW٢٠٢٦١١٢٠١٢٣٤٥٦٧٨٩٠",
            "NW20261120123456789\x00",
            "C:\\Windows\\evil",
            "NW" + "9" * 300,
        ]
    ),
    st.text(max_size=30),
)
DATES = st.one_of(
    st.sampled_from(
        [
            "2026-11-20 10:00:00",
            "../../../../etc/x",
            "2026-13-45 99:99:99",
            "2026-02-30 10:00:00",
            "2026/11/20 10:00:00",
            "２０２６-11-20 10:00:00",
            "2026-11-20 10:00:00\n",
            "",
        ]
    ),
    st.text(max_size=25),
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(info_code=IDS, published=DATES, media=st.one_of(media_names, st.text(max_size=300)))
def test_nothing_is_written_outside_the_archive(
    stages: Stages, workdir: Path, info_code: str, published: str, media: str
) -> None:
    code = info_code[2:] if info_code.startswith("NW") else info_code
    item = stages.article(info_code=info_code, code=code, published=published, media=media)
    try:
        out = stages.run(item)
    except DropItem:
        return  # a valid id seen before in this module: deduplicated
    except UnsafePathError as exc:  # refused by crawler.files.inside: fine, but say so
        pytest.fail(f"a derived path left the archive and was refused: {exc}")
    valid = INFO_CODE_RE.match(info_code) and valid_show_time(published)
    if not valid:
        assert isinstance(out, Failure) and out.stage == "validate"
    else:
        assert isinstance(out, Article)
        assert out.post_path.startswith("_posts/") and ".." not in out.post_path
        assert out.snapshot.startswith("raw/articles/") and ".." not in out.snapshot
    assert sorted(p.name for p in workdir.iterdir()) == ["archive"]
    for path in stages.archive.rglob("*"):
        assert stages.archive.resolve() in path.resolve().parents


def test_jekyll_builds_the_hostile_posts(stages: Stages, workdir: Path) -> None:
    assert jekyll_available(), "jekyll is not installed (apt-get install jekyll)"
    assert len(BUILT) >= 10, "the property tests above run first"
    site = copy_skeleton(workdir / "site")
    for post in BUILT:
        dest = site / post.relative_to(stages.archive)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(post, dest)
    for page in (stages.archive / "category").glob("*.html"):
        shutil.copy(page, site / "category" / page.name)
    out = workdir / "_site"
    build_site(site, out)
    pages = [p for p in out.rglob("NW*.html")]
    assert len(pages) == len({p.name for p in BUILT})
    for page in pages:
        doc = lxml.html.fromstring(page.read_bytes())
        for body in doc.xpath('//div[@class="post-body"]'):
            for el in body.iter():
                if not isinstance(el.tag, str):
                    continue
                assert el.tag in HTML_ALLOWED | {"span"} or el.tag in ("thead", "hr"), (
                    page.name,
                    el.tag,
                )
                for name, value in el.attrib.items():
                    assert not name.lower().startswith("on"), (page.name, name)
                    if name in ("href", "src"):  # the footer's back links are site-relative
                        relative = value.startswith("/") and not value.startswith("//")
                        assert SAFE_URL.match(value) or relative, (page.name, value)
        # Nothing active anywhere on the page but the layout's own markup.
        assert not doc.xpath("//script|//iframe|//form|//object|//embed"), page.name
        assert len(doc.xpath("//style")) == 0, page.name
