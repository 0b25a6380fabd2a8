"""The site's index pages (crawler/sitepages.py) and their layouts, built by
the real Jekyll from 121 posts: home and media pages paginated, a page per
day, absolute feed links with a site URL, stale pages removed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from lxml import etree
from parsel import Selector

from crawler.sitepages import PER_PAGE, check_site_url, pages, read_post, write_pages
from tests.sitebuild import ARCHIVE_DIR, build_site, copy_skeleton, jekyll_available
from tests.test_site import post_text, post_url

A, B = "zhongguojingjiwang", "xinhuashe"
MEDIA = {A: "中国经济网", B: "新华社"}
HOSTILE = '<script>alert(1)</script> & "引号" {{ site.title }}'


def _posts() -> list[tuple[str, str, str, str]]:
    """(code, slug, date, title): 121 posts over three days (50, 50, 21), 2 media; newest first."""
    out = []
    for i in range(121):
        day = "2026-11-23" if i < 50 else "2026-11-22" if i < 100 else "2026-11-21"
        date = f"{day} 12:{59 - i % 50:02d}:00"
        slug = A if i % 3 else B
        title = HOSTILE if i == 0 else f"第{i}条新闻"
        out.append((f"20261120{i:010d}", slug, date, title))
    return sorted(out, key=lambda p: p[2], reverse=True)


POSTS = _posts()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    assert jekyll_available(), "jekyll is not installed (apt-get install jekyll ruby-jekyll-feed)"
    src = copy_skeleton(tmp_path_factory.mktemp("pages") / "src")
    for code, slug, date, title in POSTS:
        path = src / "_posts" / date[:4] / date[5:7] / f"{date[:10]}-NW{code}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = post_text(
            code=code, title=title, date=date, slug=slug, media=MEDIA[slug], columns=[], stocks=[]
        )
        path.write_text(text, encoding="utf-8")
    for slug, media in MEDIA.items():
        (src / "category" / f"{slug}.html").write_text(
            f"---\nlayout: category\ntitle: {media}新闻\ncategory: {slug}\n---\n", encoding="utf-8"
        )
    # A stale page of an earlier build (more posts then): removed.
    (src / "page").mkdir()
    (src / "page" / "9.html").write_text("---\nlayout: home\npage_number: 9\n---\n")
    out = src.parent / "out"
    build_site(src, out, site_url="https://news.example.org/")
    return src, out


def _titles(doc: Selector) -> list[str]:
    return ["".join(a.xpath(".//text()").getall()) for a in doc.css("ul.post-list li a")]


def _doc(out: Path, rel: str) -> Selector:
    return Selector(text=(out / rel).read_text("utf-8"))


def test_the_layouts_page_as_finews_counts() -> None:
    for layout in ("home.html", "category.html"):
        text = (ARCHIVE_DIR / "_layouts" / layout).read_text("utf-8")
        assert f"{{%- assign per = {PER_PAGE} -%}}" in text
    assert yaml.safe_load((ARCHIVE_DIR / "index.html").read_text("utf-8").split("---")[1]) == {
        "layout": "home"
    }


def test_pages_are_pure_and_deterministic() -> None:
    posts = [("2026-11-23", A)] * 51 + [("2026-11-22", B)]
    made = pages(posts, {A: "中国经济网新闻"})
    assert sorted(made) == [
        "category/zhongguojingjiwang/2.html",
        "day/2026-11-22.html",
        "day/2026-11-23.html",
        "day/index.html",
        "page/2.html",
    ]
    assert made["day/2026-11-22.html"]["offset"] == 51
    assert made["day/2026-11-23.html"] | {} == {
        "layout": "day",
        "title": "2026-11-23 的新闻",
        "day": "2026-11-23",
        "offset": 0,
        "count": 51,
        "newer": "",
        "older": "2026-11-22",
    }
    assert made["category/zhongguojingjiwang/2.html"]["title"] == "中国经济网新闻"
    assert pages(posts, {A: "中国经济网新闻"}) == made


def test_read_post_reads_quoted_and_plain_front_matter(tmp_path: Path) -> None:
    p = tmp_path / "x.md"
    p.write_text("---\ntitle: x\ndate: '2026-11-23 10:00:00 +0800'\ncategories: \"abc\"\n---\nbody")
    assert read_post(p) == ("2026-11-23", "abc")
    p.write_text("no front matter")
    assert read_post(p) is None


@pytest.mark.parametrize(
    "bad", ["news.example.org", "javascript:alert(1)", "https://a b", "ftp://x"]
)
def test_site_url_is_checked(bad: str) -> None:
    with pytest.raises(ValueError, match="SITE_URL"):
        check_site_url(bad)


def test_home_is_paginated_newest_first(built: tuple[Path, Path]) -> None:
    _, out = built
    titles = [t for _, _, _, t in POSTS]
    first, second, third = (_doc(out, p) for p in ("index.html", "page/2.html", "page/3.html"))
    assert _titles(first) == titles[:50]
    assert _titles(second) == titles[50:100]
    assert _titles(third) == titles[100:]
    assert first.css("nav.pager a.next::attr(href)").get() == "/page/2.html"
    assert first.css("nav.pager a.prev").get() is None
    assert second.css("nav.pager a.prev::attr(href)").get() == "/"
    assert third.css("nav.pager a.prev::attr(href)").get() == "/page/2.html"
    assert third.css("nav.pager a.next").get() is None
    assert "第 3 / 3 页" in "".join(third.css("nav.pager ::text").getall())
    assert not (out / "page" / "9.html").exists(), "a stale page was published"
    html = (out / "index.html").read_text("utf-8")
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_media_pages_are_paginated(built: tuple[Path, Path]) -> None:
    _, out = built
    mine = [t for _, slug, _, t in POSTS if slug == A]
    assert len(mine) == 80
    one, two = _doc(out, f"category/{A}.html"), _doc(out, f"category/{A}/2.html")
    assert _titles(one) == mine[:50] and _titles(two) == mine[50:]
    assert one.css("h1.category-title::text").get() == "中国经济网新闻"
    assert two.css("h1.category-title::text").get() == "中国经济网新闻"
    assert one.css("nav.pager a.next::attr(href)").get() == f"/category/{A}/2.html"
    assert two.css("nav.pager a.prev::attr(href)").get() == f"/category/{A}.html"
    assert not (out / "category" / B).exists()  # 41 posts: one page


def test_a_page_per_day(built: tuple[Path, Path]) -> None:
    _, out = built
    for day in ("2026-11-23", "2026-11-22", "2026-11-21"):
        doc = _doc(out, f"day/{day}.html")
        assert _titles(doc) == [t for _, _, d, t in POSTS if d.startswith(day)]
    days = _doc(out, "day/index.html")
    assert days.css("ul.day-list a::text").getall() == ["2026-11-23", "2026-11-22", "2026-11-21"]


def test_feed_links_are_absolute_with_a_site_url(built: tuple[Path, Path]) -> None:
    _, out = built
    root = etree.fromstring((out / "feed.xml").read_bytes())
    atom = "{http://www.w3.org/2005/Atom}"
    links = [e.find(f"{atom}link").get("href") for e in root.findall(f"{atom}entry")]
    code, slug, date, _ = POSTS[0]
    assert links[0] == "https://news.example.org" + post_url(slug, date, code)
    assert all(link.startswith("https://news.example.org/") for link in links)


def test_pages_follow_the_posts(built: tuple[Path, Path], tmp_path: Path) -> None:
    src, _ = built
    copy = tmp_path / "src"
    shutil.copytree(src, copy)
    for p in sorted((copy / "_posts").rglob("*.md"))[:-10]:
        p.unlink()  # 10 posts left: one home page, one day
    _, removed = write_pages(copy)
    assert removed == 5  # page/2, page/3, category/<A>/2, two days
    assert not list((copy / "page").glob("*.html"))
    assert sorted(p.name for p in (copy / "day").glob("*.html")) == [
        "2026-11-23.html",
        "index.html",
    ]
    assert (copy / "_finews_site.yml").read_text() == "url: ''\n"
