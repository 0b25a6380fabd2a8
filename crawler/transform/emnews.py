"""The ``emnews`` post: the shape of the existing archive's rolling-news posts.

``_posts/YYYY/MM/YYYY-MM-DD-<code>.md`` (the code without ``NW``, as the
archive named them; :func:`emnews_post_relpath`, also used for posts imported
from the old archive). Front matter beginning as the archive's::

    layout: post
    title: "<title>"
    date: <showTime> +0800
    categories: emnews
    tags: 东财滚动新闻

then finews's keys (``info_code``, ``source_url``, ``stocks``, ``fast_columns``,
``important`` when ``titleColor`` > 0, ``summary``, ``images`` when any,
``article_post`` when the code is also an archived column article,
``render_with_liquid: false``). Body: the digest; when the article page or the
Choice text had a body, the digest as a quote and the article's text below it
(as the archive's later emnews posts were); the article link as an autolink;
the archive's footer. Pure.
"""

from __future__ import annotations

import html
from typing import Any

from crawler.eastmoney.urls import article_url, fast_column_name
from crawler.items import Flash
from crawler.rotation import posts_dir_for
from crawler.transform.frontmatter import DoubleQuoted, dump_front_matter
from crawler.transform.markdown import html_to_markdown

__all__ = [
    "EMNEWS_CATEGORY",
    "EMNEWS_TAG",
    "digest_markdown",
    "emnews_front_matter",
    "emnews_post_relpath",
    "render_emnews_category_page",
    "render_emnews_post",
]

EMNEWS_CATEGORY = "emnews"
EMNEWS_TAG = "东财滚动新闻"
EMNEWS_CATEGORY_PAGE = "category/emnews.html"


def emnews_post_relpath(code: str, show_time: str, keep_days: int = 0) -> str:
    """``_posts/YYYY/MM/YYYY-MM-DD-<code>.md`` for a 7×24 item (``old_post/…`` when
    rotated out under FINEWS_POSTS_KEEP_DAYS). ``code`` is the bare article code
    (a leading ``NW`` is dropped); ``show_time`` ``YYYY-MM-DD[ HH:MM:SS]``."""
    code = code[2:] if code.startswith("NW") else code
    y, m, d = show_time[:4], show_time[5:7], show_time[8:10]
    return f"{posts_dir_for(show_time, keep_days)}/{y}/{m}/{y}-{m}-{d}-{code}.md"


def emnews_front_matter(flash: Flash) -> dict[str, Any]:
    """The archive's five keys first, then finews's."""
    entry = flash.entry
    data: dict[str, Any] = {
        "layout": "post",
        "title": DoubleQuoted(entry.title),
        "date": f"{entry.show_time} +0800",
        "categories": EMNEWS_CATEGORY,
        "tags": EMNEWS_TAG,
        "info_code": entry.info_code,
        "source_url": article_url(entry.code),
        "stocks": list(entry.stocks),
        "fast_columns": [fast_column_name(c) for c in sorted(set(flash.column_ids))],
    }
    if entry.title_color > 0:
        data["important"] = True
    data["summary"] = entry.summary
    if entry.images:
        data["images"] = list(entry.images)
    if flash.article_post:
        data["article_post"] = flash.article_post
    data["render_with_liquid"] = False
    return data


def digest_markdown(digest: str) -> str:
    """The digest as Markdown that kramdown and Liquid read literally: each line a
    paragraph, through the same converter as the article bodies."""
    paragraphs = [line.strip() for line in digest.splitlines() if line.strip()]
    return html_to_markdown("".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs))


def _quoted(markdown: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in markdown.split("\n"))


def render_emnews_post(flash: Flash, site_url: str) -> str:
    """The whole post file; ``flash.body_markdown`` is the article's text ("" for none)."""
    digest = digest_markdown(flash.entry.digest).strip("\n")
    body = flash.body_markdown.strip("\n")
    top = f"{_quoted(digest)}\n\n{body}" if body else digest
    link = f"<{article_url(flash.entry.code)}>"
    footer = f"[返回{EMNEWS_TAG}]({site_url}/{EMNEWS_CATEGORY_PAGE})｜[返回首页]({site_url}/)"
    front = dump_front_matter(emnews_front_matter(flash))
    return f"---\n{front}---\n{top}\n\n{link}\n\n{footer}\n"


def render_emnews_category_page() -> str:
    """``category/emnews.html``: front matter only (the layout lists the posts)."""
    data = {"layout": "category", "title": EMNEWS_TAG, "category": EMNEWS_CATEGORY}
    return f"---\n{dump_front_matter(data)}---\n"
