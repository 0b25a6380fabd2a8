"""The site's index pages that Jekyll cannot make under ``--safe`` with
Debian's plugins (jekyll-paginate pages the home page only): written by
finews before ``jekyll build`` (``make site``), front matter only, the lists
themselves drawn by the layouts from ``site.posts`` / ``site.categories``.

- ``page/<n>.html`` (n >= 2): the home page's later pages (``index.html`` is page 1);
- ``category/<slug>/<n>.html`` (n >= 2): a media's later pages
  (``category/<slug>.html``, written by the post stage, is page 1);
- ``day/<YYYY-MM-DD>.html``: the posts of one day (Beijing time), newest
  first: ``site.posts`` is newest first, so a day is the run of ``count``
  posts after the ``offset`` posts of later days; ``day/index.html`` lists the days;
- ``_finews_site.yml``: ``url`` for absolute feed links (``make site SITE_URL=…``),
  read by ``jekyll build --config _config.yml,_finews_site.yml``.

What the pages count is read from the posts themselves (``_posts/**/*.md``:
the ``date:`` and ``categories:`` lines finews writes), so the pages agree
with what Jekyll publishes. Deterministic; files written atomically and only
when they change; generated pages no longer wanted are removed.
``python -m crawler.sitepages ARCHIVE [--site-url URL]``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from crawler.files import atomic_write, inside
from crawler.transform.frontmatter import dump_front_matter

#: Posts per list page; ``index.html`` and ``category`` pages of the skeleton say the same.
PER_PAGE = 50
SITE_CONFIG = "_finews_site.yml"
_DATE = re.compile(r"^date: *['\"]?(\d{4}-\d{2}-\d{2})", re.M)
_CATEGORY = re.compile(r"^categories: *['\"]?([^'\"\n]+?)['\"]? *$", re.M)
_GENERATED_DIRS = ("page", "day")


def read_post(path: Path) -> tuple[str, str] | None:
    """``(YYYY-MM-DD, category slug)`` from a post's front matter, None if it has neither date."""
    with path.open("rb") as fh:
        head = fh.read(4096).decode("utf-8", "replace")
    if not head.startswith("---"):
        return None
    end = head.find("\n---", 3)
    front = head[: end if end > 0 else len(head)]
    date = _DATE.search(front)
    if date is None:
        return None
    category = _CATEGORY.search(front)
    return date.group(1), category.group(1).strip() if category else ""


def site_posts(root: Path) -> list[tuple[str, str]]:
    """``(day, category)`` of every post Jekyll publishes (``_posts/``)."""
    found = (read_post(p) for p in sorted((root / "_posts").rglob("*.md")))
    return [p for p in found if p is not None]


def pages(posts: list[tuple[str, str]], titles: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Relative path -> front matter of every generated page. Pure.

    ``titles``: category slug -> its page title (from ``category/<slug>.html``).
    """
    out: dict[str, dict[str, Any]] = {}
    total = -(-len(posts) // PER_PAGE)
    for n in range(2, total + 1):
        out[f"page/{n}.html"] = {"layout": "home", "title": f"最新文章 第{n}页", "page_number": n}
    by_category = Counter(c for _, c in posts if c)
    for slug, count in sorted(by_category.items()):
        title = titles.get(slug, slug)
        for n in range(2, -(-count // PER_PAGE) + 1):
            out[f"category/{slug}/{n}.html"] = {
                "layout": "category",
                "title": title,
                "category": slug,
                "page_number": n,
            }
    by_day = Counter(d for d, _ in posts)
    days = sorted(by_day, reverse=True)
    offset = 0
    for i, day in enumerate(days):
        out[f"day/{day}.html"] = {
            "layout": "day",
            "title": f"{day} 的新闻",
            "day": day,
            "offset": offset,
            "count": by_day[day],
            "newer": days[i - 1] if i > 0 else "",
            "older": days[i + 1] if i + 1 < len(days) else "",
        }
        offset += by_day[day]
    if days:
        out["day/index.html"] = {"layout": "days", "title": "按日期浏览"}
    return out


def category_titles(root: Path) -> dict[str, str]:
    titles: dict[str, str] = {}
    for path in sorted((root / "category").glob("*.html")):
        try:
            data = yaml.safe_load(path.read_text("utf-8").split("---", 2)[1])
        except (OSError, IndexError, yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and data.get("category") and data.get("title"):
            titles[str(data["category"])] = str(data["title"])
    return titles


def _generated(root: Path) -> set[str]:
    """The generated pages now on disk (to remove those no longer wanted)."""
    found = {
        p.relative_to(root).as_posix() for d in _GENERATED_DIRS for p in (root / d).rglob("*.html")
    }
    category = root / "category"
    found.update(p.relative_to(root).as_posix() for p in category.glob("*/*.html"))
    return found


def check_site_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if url and not re.fullmatch(r"https?://[^\s/\"'<>]+(/[^\s\"'<>]*)?", url):
        raise ValueError(
            f"SITE_URL must be an http(s) URL like https://news.example.org, got {url!r}"
        )
    return url


def write_pages(root: Path, site_url: str = "") -> tuple[int, int]:
    """Write the generated pages and ``_finews_site.yml``; returns (written, removed)."""
    wanted = pages(site_posts(root), category_titles(root))
    written = removed = 0
    for rel, data in wanted.items():
        text = f"---\n{dump_front_matter(data)}---\n"
        written += atomic_write(inside(root, rel), text.encode("utf-8"), durable=False)
    for rel in sorted(_generated(root) - set(wanted)):
        inside(root, rel).unlink()
        removed += 1
    config = dump_front_matter({"url": check_site_url(site_url)})
    atomic_write(inside(root, SITE_CONFIG), config.encode("utf-8"), durable=False)
    return written, removed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m crawler.sitepages", description=__doc__.split("\n")[0]
    )
    ap.add_argument("archive", type=Path)
    ap.add_argument("--site-url", default="", help="the site's URL, for absolute feed links")
    args = ap.parse_args(argv)
    try:
        written, removed = write_pages(args.archive, args.site_url)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"site pages: {written} written, {removed} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
