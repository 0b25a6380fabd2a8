"""Build the archive's Jekyll site (archive/) with the real Jekyll and check
the generated HTML: layouts, escaping, Liquid not run on posts, feed, 404,
excluded files. No mocks: if jekyll is missing, these tests fail."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from lxml import etree
from parsel import Selector

from tests.sitebuild import ARCHIVE_DIR, build_site, copy_skeleton, jekyll_available

CST = dt.timezone(dt.timedelta(hours=8))
SITE_TITLE = yaml.safe_load((ARCHIVE_DIR / "_config.yml").read_text("utf-8"))["title"]

ZG = "zhongguojingjiwang"
SH = "shanghaizhengquanbao·zhongguozhengquanwang"
XH = "xinhuashe"
CATEGORY_TITLES = {
    ZG: "中国经济网新闻",
    SH: "上海证券报·中国证券网新闻",
    XH: "新华社新闻",
}

HOSTILE_TITLE = "他说\"涨停\": <script>alert(1)</script> & 'A&B' 公司"
HOSTILE_SUMMARY = '<b>加粗</b> & "引号" <img src=x onerror=alert(2)>'
LIQUID_TITLE = "关于{{ site.title }}与{% include evil.html %}的说明"
EVIL_MARKER = "EVIL-INCLUDED-0xDEAD"

# The hostile post, exactly as the crawler writes it (PyYAML double quotes).
# Stock ids must be YAML strings: an unquoted 0.000001 is the float 1.0e-06
# (1.600519 only survives by luck); PyYAML quotes such strings itself.
HOSTILE_POST = r"""---
layout: post
title: "他说\"涨停\": <script>alert(1)</script> & 'A&B' 公司"
date: 2022-06-15 08:00:00 +0800
categories: zhongguojingjiwang
tags: 中国经济网新闻
info_code: NW202206152411662100
source: 中国经济网
source_url: https://finance.eastmoney.com/a/202206152411662100.html
share_url: http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW202206152411662100
columns:
- 国内经济
- 财经导读
summary: "<b>加粗</b> & \"引号\" <img src=x onerror=alert(2)>"
stocks:
- 1.600519
- '0.000001'
render_with_liquid: false
---
<p style="display:none;height:1px;overflow:hidden;"><br /></p>

第一段，模板文本 {{ site.title }} 不应被渲染。

第二段 {% include evil.html %} 也不应被渲染。

<p class="em_media">（文章来源：中国经济网）</p>

<http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW202206152411662100>

[返回中国经济网新闻](/category/zhongguojingjiwang.html)｜[返回首页](/)
"""


def post_text(
    *,
    code: str,
    title: str,
    date: str,
    slug: str,
    media: str,
    columns: list[str],
    stocks: list[str],
    summary: str = "摘要……",
    body: str = "第一段。\n\n第二段。",
) -> str:
    """A post in the crawler's format, title double-quoted like the example."""
    title_q = '"' + title.replace("\\", "\\\\").replace('"', '\\"') + '"'
    lines = [
        "---",
        "layout: post",
        f"title: {title_q}",
        f"date: {date} +0800",
        f"categories: {slug}",
        f"tags: {media}新闻",
        f"info_code: NW{code}",
        f"source: {media}",
        f"source_url: https://finance.eastmoney.com/a/{code}.html",
        f"share_url: http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW{code}",
        "columns:",
        *[f"- {c}" for c in columns],
        f"summary: {summary}",
        "stocks:",
        *[f"- {s}" for s in stocks],
        "render_with_liquid: false",
        "---",
        body,
        "",
        f"（文章来源：{media}）",
        "",
        f"<http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW{code}>",
        "",
        f"[返回{media}新闻](/category/{slug}.html)｜[返回首页](/)",
        "",
    ]
    return "\n".join(lines)


def pyyaml_post_text(*, code: str, title: str, date: str, slug: str, media: str) -> str:
    """The same format with the front matter dumped by PyYAML (single quotes,
    folded long lines), as the crawler may produce it."""
    front = {
        "layout": "post",
        "title": title,
        "date": f"{date} +0800",
        "categories": slug,
        "tags": f"{media}新闻",
        "info_code": f"NW{code}",
        "source": media,
        "source_url": f"https://finance.eastmoney.com/a/{code}.html",
        "share_url": f"http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW{code}",
        "columns": ["证券聚焦"],
        "summary": "很长的摘要，" * 30,
        "stocks": ["116.00700", "105.AAPL"],
        "render_with_liquid": False,
    }
    dumped = yaml.safe_dump(front, allow_unicode=True, sort_keys=False)
    body = f"正文。\n\n（文章来源：{media}）\n\n[返回{media}新闻](/category/{slug}.html)｜[返回首页](/)\n"
    return f"---\n{dumped}---\n{body}"


# code -> (slug, date, title); what the fixture writes.
POSTS: dict[str, tuple[str, str, str]] = {
    "202206142411662087": (ZG, "2022-06-14 10:45:40", "共绘绿色低碳发展新篇章"),
    "202206152411662100": (ZG, "2022-06-15 08:00:00", HOSTILE_TITLE),
    "202206132411662001": (ZG, "2022-06-13 23:59:59", LIQUID_TITLE),
    "202206162411662200": (SH, "2022-06-16 09:30:00", "沪指“收复”3300点：成交额破万亿"),
}
XH_POSTS = {
    f"20220610241166230{i}": (XH, f"2022-06-10 0{i}:00:00", f"新华社快讯第{i}条")
    for i in range(1, 8)
}
FUTURE_CODE = "209901012411660000"


def post_path(out: Path, slug: str, date: str, code: str) -> Path:
    y, m, d = date[:10].split("-")
    return out / slug / y / m / d / f"NW{code}.html"


def post_url(slug: str, date: str, code: str) -> str:
    y, m, d = date[:10].split("-")
    return f"/{quote(slug)}/{y}/{m}/{d}/NW{code}.html"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_posts(src: Path) -> str:
    """Write all test posts and category pages; returns the future post's date."""
    posts = src / "_posts"
    medias = {ZG: "中国经济网", SH: "上海证券报·中国证券网", XH: "新华社"}
    for code, (slug, date, title) in {**POSTS, **XH_POSTS}.items():
        if code == "202206152411662100":
            text = HOSTILE_POST
        elif code == "202206162411662200":
            text = pyyaml_post_text(
                code=code, title=title, date=date, slug=slug, media=medias[slug]
            )
        else:
            body = "第一段。\n\n第二段。"
            if title == LIQUID_TITLE:
                body = (
                    "{% raw %}原样{% endraw %} {{ page.title }} {%- comment -%}x{%- endcomment -%}"
                )
            text = post_text(
                code=code,
                title=title,
                date=date,
                slug=slug,
                media=medias[slug],
                columns=["国内经济"],
                stocks=["1.600519"],
                body=body,
            )
        write(posts / date[:4] / date[5:7] / f"{date[:10]}-NW{code}.md", text)

    # A post dated after the build machine's clock must be published as well.
    future = (dt.datetime.now(CST) + dt.timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S")
    text = post_text(
        code=FUTURE_CODE,
        title="未来时间的新闻",
        date=future,
        slug=SH,
        media=medias[SH],
        columns=["沪深公司"],
        stocks=[],
    )
    write(posts / future[:4] / future[5:7] / f"{future[:10]}-NW{FUTURE_CODE}.md", text)

    for slug, title in CATEGORY_TITLES.items():
        write(
            src / "category" / f"{slug}.html",
            f"---\nlayout: category\ntitle: {title}\ncategory: {slug}\n---\n",
        )

    # If Liquid ever ran on a post, this include would show up in the output.
    write(src / "_includes" / "evil.html", EVIL_MARKER)

    # Non-site content of archive/ that must not be copied to the output.
    write(src / "raw" / "2022" / "x.warc.gz", "not a warc")
    write(src / "logs" / "crawl.log", "log")
    write(src / "finews.db", "db")
    write(src / "finews.db-wal", "wal")
    write(src / "finews.db-shm", "shm")
    write(src / "status.json", "{}")
    write(src / "metadata.yml", "x: 1\n")
    write(src / ".lock", "")
    write(
        src / "old_post" / "2022-01-01-NW202201012411660001.md",
        post_text(
            code="202201012411660001",
            title="旧文章",
            date="2022-01-01 00:00:00",
            slug=ZG,
            media="中国经济网",
            columns=[],
            stocks=[],
        ),
    )
    return future


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not jekyll_available():
        pytest.fail(
            "jekyll is not installed or does not run: these tests need the real "
            "Jekyll (Debian: apt-get install jekyll ruby-jekyll-feed)",
            pytrace=False,
        )
    base = tmp_path_factory.mktemp("site")
    src = copy_skeleton(base / "src")
    future = write_posts(src)
    out = base / "out"
    start = time.monotonic()
    result = build_site(src, out)
    elapsed = time.monotonic() - start
    print(f"jekyll build of the test site: {elapsed:.2f}s")
    return {
        "src": src,
        "out": out,
        "result": result,
        "future": future,
        "elapsed": elapsed,
    }


def page(out: Path, rel: str | Path) -> Selector:
    path = out / rel
    assert path.is_file(), f"{rel} was not generated"
    return Selector(text=path.read_text("utf-8"))


def text_of(sel: Selector) -> str:
    return "".join(sel.xpath(".//text()").getall()).strip()


def test_jekyll_is_installed():
    assert jekyll_available(), (
        "jekyll is not installed or does not run (Debian: apt-get install jekyll ruby-jekyll-feed)"
    )


def test_build_is_clean(site):
    assert site["result"].returncode == 0
    assert site["result"].stderr.strip() == "", site["result"].stderr
    assert site["elapsed"] < 120


def test_post_page(site):
    out = site["out"]
    code = "202206152411662100"
    slug, date, title = POSTS[code]
    path = post_path(out, slug, date, code)
    assert path == out / ZG / "2022" / "06" / "15" / f"NW{code}.html"
    html = path.read_text("utf-8")
    doc = Selector(text=html)

    assert text_of(doc.css(".post-date")) == "(GMT+8, Asia/Shanghai, CST) 2022-06-15 08:00:00"
    assert doc.css(".post-date time::attr(datetime)").get() == "2022-06-15T08:00:00+08:00"
    assert text_of(doc.css("h1.post-title")) == title
    assert doc.css("title::text").get() == f"{title} - {SITE_TITLE}"
    assert doc.css("html::attr(lang)").get() == "zh-CN"
    assert doc.css('meta[name="description"]::attr(content)').get() == HOSTILE_SUMMARY
    assert text_of(doc.css(".post-summary")) == HOSTILE_SUMMARY

    # Nothing from the title or summary became markup.
    assert not doc.xpath("//script")
    assert not doc.xpath("//img[@onerror]")
    assert not doc.css(".post-summary b")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    # Liquid did not run on the body.
    body = text_of(doc.css(".post-body"))
    assert "{{ site.title }}" in body
    assert "{% include evil.html %}" in body
    assert EVIL_MARKER not in html
    assert "第一段，模板文本" in body
    assert "（文章来源：中国经济网）" in body
    assert doc.css(".post-body a[href='/category/zhongguojingjiwang.html']::text").get() == (
        "返回中国经济网新闻"
    )

    assert doc.css(".post-tags .tag::text").getall() == ["中国经济网新闻"]
    assert doc.css(".post-columns .column::text").getall() == ["国内经济", "财经导读"]
    assert doc.css(".post-stocks a::attr(href)").getall() == [
        "http://quote.eastmoney.com/unify/r/1.600519",
        "http://quote.eastmoney.com/unify/r/0.000001",
    ]
    assert doc.css(".post-stocks a::text").getall() == ["1.600519", "0.000001"]
    source = doc.css(".post-source a")
    assert source.css("::text").get() == "中国经济网"
    assert source.attrib["href"] == f"https://finance.eastmoney.com/a/{code}.html"
    assert doc.css(".post-category a::attr(href)").get() == f"/category/{ZG}.html"
    # Header links home, stylesheet is local, the feed is announced.
    assert doc.css("header.site-header a::attr(href)").get() == "/"
    assert doc.css('link[rel="stylesheet"]::attr(href)').getall() == ["/assets/style.css"]
    assert doc.css('link[type="application/atom+xml"]::attr(href)').get() == "/feed.xml"


def test_liquid_in_front_matter_is_not_rendered(site):
    code = "202206132411662001"
    slug, date, title = POSTS[code]
    assert title == LIQUID_TITLE
    doc = page(site["out"], post_path(site["out"], slug, date, code))
    assert text_of(doc.css("h1.post-title")) == LIQUID_TITLE
    body = text_of(doc.css(".post-body"))
    assert "{% raw %}原样{% endraw %} {{ page.title }}" in body
    assert "{%- comment -%}" in body


def test_no_liquid_output_anywhere(site):
    for path in site["out"].rglob("*"):
        if path.is_file() and path.suffix in {".html", ".xml"}:
            assert EVIL_MARKER not in path.read_text("utf-8"), path


def test_pyyaml_front_matter_and_non_ascii_slug(site):
    out = site["out"]
    code = "202206162411662200"
    slug, date, title = POSTS[code]
    path = post_path(out, slug, date, code)
    assert path.is_file()
    doc = page(out, path)
    assert text_of(doc.css("h1.post-title")) == title
    assert text_of(doc.css(".post-date")) == "(GMT+8, Asia/Shanghai, CST) 2022-06-16 09:30:00"
    assert text_of(doc.css(".post-summary")) == "很长的摘要，" * 30
    assert doc.css(".post-stocks a::attr(href)").getall() == [
        "http://quote.eastmoney.com/unify/r/116.00700",
        "http://quote.eastmoney.com/unify/r/105.AAPL",
    ]
    assert doc.css(".post-category a::attr(href)").get() == (
        "/category/shanghaizhengquanbao%C2%B7zhongguozhengquanwang.html"
    )


def test_future_post_is_published(site):
    future = site["future"]
    path = post_path(site["out"], SH, future, FUTURE_CODE)
    assert path.is_file(), "posts dated after the build time must be published (future: true)"
    doc = page(site["out"], path)
    assert text_of(doc.css(".post-date")) == f"(GMT+8, Asia/Shanghai, CST) {future}"
    assert not doc.css(".post-stocks")


def home_media(out: Path) -> list[tuple[str, str, str]]:
    doc = page(out, "index.html")
    return [
        ((a.xpath("text()").get() or "").strip(), a.attrib["href"], text_of(a.css(".count")))
        for a in doc.css("nav.media-nav a.media")
    ]


def test_home_lists_media_by_newest_post(site):
    assert home_media(site["out"]) == [
        (
            CATEGORY_TITLES[SH],
            "/category/shanghaizhengquanbao%C2%B7zhongguozhengquanwang.html",
            "2",
        ),
        (CATEGORY_TITLES[ZG], f"/category/{ZG}.html", "3"),
        (CATEGORY_TITLES[XH], f"/category/{XH}.html", "7"),
    ]


def test_home_lists_the_newest_posts_of_all_media(site):
    out = site["out"]
    doc = page(out, "index.html")
    items = doc.css("ul.post-list li")
    newest = sorted({**POSTS, **XH_POSTS}.items(), key=lambda kv: kv[1][1], reverse=True)
    expected = [("未来时间的新闻", None)] + [
        (t, post_url(slug, d, c)) for c, (slug, d, t) in newest
    ]
    assert [text_of(li.css("a")) for li in items] == [t for t, _ in expected]
    assert [li.css("a::attr(href)").get() for li in items][1:] == [u for _, u in expected[1:]]
    assert text_of(items[2].css(".post-media")) == "中国经济网"
    assert not doc.css("nav.pager")  # 13 posts: one page
    assert doc.css("p.home-count a::attr(href)").get() == "/day/"
    html = (out / "index.html").read_text("utf-8")
    assert "<script" not in html
    assert EVIL_MARKER not in html
    assert (
        Selector(text=html).css('link[type="application/atom+xml"]::attr(href)').get()
        == "/feed.xml"
    )


def test_day_pages_and_previous_next(site):
    out = site["out"]
    day = page(out, "day/2022-06-10.html")
    assert [text_of(a) for a in day.css("ul.post-list li a")] == [
        f"新华社快讯第{i}条" for i in range(7, 0, -1)
    ]
    assert day.css("a.prev::attr(href)").get() == "/day/2022-06-13.html"
    assert day.css("a.next::attr(href)").get() is None
    hostile = page(out, "day/2022-06-15.html")
    assert [text_of(a) for a in hostile.css("ul.post-list li a")] == [HOSTILE_TITLE]
    assert "<script>alert(1)" not in (out / "day/2022-06-15.html").read_text("utf-8")
    days = page(out, "day/index.html")
    assert days.css("ul.day-list a::text").getall()[1:] == [
        "2022-06-16",
        "2022-06-15",
        "2022-06-14",
        "2022-06-13",
        "2022-06-10",
    ]
    slug, date, _ = POSTS["202206142411662087"]
    post = page(out, post_path(out, slug, date, "202206142411662087").relative_to(out))
    assert post.css("nav.post-nav a.prev::attr(href)").get() == post_url(
        *POSTS["202206132411662001"][:2], "202206132411662001"
    )
    assert text_of(post.css("nav.post-nav a.next")) == f"下一篇：{HOSTILE_TITLE} →"
    assert post.css("nav.post-nav a.day-link::attr(href)").get() == "/day/2022-06-14.html"


def test_category_page_lists_posts_newest_first(site):
    doc = page(site["out"], f"category/{ZG}.html")
    assert text_of(doc.css("h1.category-title")) == CATEGORY_TITLES[ZG]
    items = doc.css("ul.post-list li")
    codes = ("202206152411662100", "202206142411662087", "202206132411662001")
    assert [li.css("a::attr(href)").get() for li in items] == [
        post_url(*POSTS[c][:2], c) for c in codes
    ]
    assert [text_of(li.css("a")) for li in items] == [POSTS[c][2] for c in codes]
    dates = [li.css("time::text").get() for li in items]
    assert dates == ["2022-06-15 08:00", "2022-06-14 10:45", "2022-06-13 23:59"]
    assert not doc.xpath("//script")

    xh = page(site["out"], f"category/{XH}.html")
    assert len(xh.css("ul.post-list li")) == 7
    sh = page(site["out"], f"category/{SH}.html")
    assert text_of(sh.css("h1.category-title")) == CATEGORY_TITLES[SH]
    assert len(sh.css("ul.post-list li")) == 2


def test_feed_is_valid_atom(site):
    path = site["out"] / "feed.xml"
    assert path.is_file()
    root = etree.fromstring(path.read_bytes())
    atom = "{http://www.w3.org/2005/Atom}"
    assert root.tag == f"{atom}feed"
    assert root.findtext(f"{atom}title") == SITE_TITLE
    entries = root.findall(f"{atom}entry")
    assert len(entries) == len(POSTS) + len(XH_POSTS) + 1
    links = [e.find(f"{atom}link").get("href") for e in entries]
    slug, date, _ = POSTS["202206152411662100"]
    assert post_url(slug, date, "202206152411662100") in links
    content = "".join(e.findtext(f"{atom}content") or "" for e in entries)
    assert "{{ site.title }}" in content
    assert EVIL_MARKER not in content


def test_404_page(site):
    doc = page(site["out"], "404.html")
    assert "页面未找到" in text_of(doc.css("main"))
    assert doc.css("header.site-header a::attr(href)").get() == "/"


def test_assets_copied_and_local(site):
    css = site["out"] / "assets" / "style.css"
    assert css.is_file()
    text = css.read_text("utf-8")
    assert "PingFang SC" in text
    assert "http://" not in text and "https://" not in text and "@import" not in text


def test_non_site_files_are_excluded(site):
    out = site["out"]
    for rel in (
        "raw",
        "logs",
        "old_post",
        "finews.db",
        "finews.db-wal",
        "finews.db-shm",
        "status.json",
        "metadata.yml",
        ".lock",
        "_posts",
        "_includes",
        "category/.keep",
    ):
        assert not (out / rel).exists(), f"{rel} was copied to the site"
    assert not list(out.rglob("*.warc.gz"))
    assert not list(out.rglob("*NW202201012411660001*")), "old_post/ was rendered"
    generated = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    expected_posts = {
        post_path(out, slug, date, code).relative_to(out).as_posix()
        for code, (slug, date, _) in {**POSTS, **XH_POSTS}.items()
    }
    expected_posts.add(post_path(out, SH, site["future"], FUTURE_CODE).relative_to(out).as_posix())
    expected = {
        "index.html",
        "404.html",
        "feed.xml",
        "assets/style.css",
        *(f"category/{slug}.html" for slug in CATEGORY_TITLES),
        "day/index.html",
        *(f"day/{d[:10]}.html" for _, d, _ in {**POSTS, **XH_POSTS}.values()),
        f"day/{site['future'][:10]}.html",
        *expected_posts,
    }
    assert generated == expected
