"""crawler.transform: pure (no Scrapy), and its small pieces on their own."""

from __future__ import annotations

import subprocess
import sys

from crawler.transform.html.fragment import elements, parse_fragment
from crawler.transform.html.links import absolute_url
from crawler.transform.html.vocabulary import IMG_SCHEMES, LINK_SCHEMES
from crawler.transform.html.whitespace import drop_empty, has_content, strip_edges
from crawler.transform.posts import category_slug, link_text, post_relpath
from crawler.transform.snapshots import failure_snapshot_path

MODULES = [
    "crawler.eastmoney.markup",
    "crawler.transform.html.clean",
    "crawler.transform.text",
    "crawler.transform.markdown",
    "crawler.transform.frontmatter",
    "crawler.transform.posts",
    "crawler.transform.warc",
    "crawler.transform.snapshots",
]


def test_no_scrapy_import() -> None:
    code = f"import sys\nfor m in {MODULES!r}: __import__(m)\nprint('scrapy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_parse_fragment_never_raises() -> None:
    for html in ("", "\x00\x01", "\ud800", "<" * 1000, "<div>" * 2000 + "x"):
        assert parse_fragment(html).tag == "body"
    root = parse_fragment("<p>a<!-- c --><b>b</b></p>")
    assert [e.tag for e in elements(root)] == ["p", "b"]


def test_absolute_url() -> None:
    base = "https://finance.eastmoney.com/a/1.html"
    assert absolute_url("/a/2.html", base, LINK_SCHEMES) == "https://finance.eastmoney.com/a/2.html"
    assert absolute_url("//img.x/a b.png", "", IMG_SCHEMES) == "https://img.x/a%20b.png"
    assert absolute_url("java\tscript:alert(1)", base, LINK_SCHEMES) is None
    assert absolute_url("mailto:a@b.c", base, LINK_SCHEMES) == "mailto:a@b.c"
    assert absolute_url("mailto:a@b.c", base, IMG_SCHEMES) is None
    assert absolute_url("#top", base, LINK_SCHEMES) is None
    assert absolute_url("http://[x", base, LINK_SCHEMES) is None


def test_whitespace_helpers() -> None:
    root = parse_fragment("<p>\u3000\u3000<br>text<br> \u200b</p><p><b> </b></p><p><img src=x></p>")
    first, second, third = root
    strip_edges(first)
    assert first.text == "text" and len(first) == 0
    assert not has_content(second) and has_content(third)
    drop_empty(root)
    assert [e.tag for e in root] == ["p", "p"]


def test_post_and_snapshot_paths() -> None:
    assert category_slug("上海证券报·中国证券网") == "shanghaizhengquanbao·zhongguozhengquanwang"
    assert category_slug("") == "unknown"
    assert len(category_slug("媒" * 200).encode()) <= 120
    assert post_relpath("NW1", "2026-11-24 10:00:00") == "_posts/2026/11/2026-11-24-NW1.md"
    assert link_text("a[b]*c") == "a\\[b\\]\\*c"
    from crawler.items import Failure

    assert (
        failure_snapshot_path(Failure(stage="x", reason="y"), "k")
        == "raw/failures/undated/k.warc.gz"
    )
