"""Jekyll posts and category pages: their text and their paths in the archive.

``_posts/YYYY/MM/YYYY-MM-DD-<infoCode>.md``: front matter whose first five keys
reproduce the existing archive's posts (``layout``, ``title`` always
double-quoted, ``date`` with ``+0800``, ``categories`` = the media's pinyin slug,
``tags`` = media + 新闻), then finews's keys; the body as Markdown; the
archive's footer (share link, back links). Also ``category/<slug>.html`` for
each media. Pure, except :func:`write_post`, which writes the file (atomically,
only when its bytes change).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from xpinyin import Pinyin

from crawler.files import atomic_write
from crawler.items import Article
from crawler.rotation import posts_dir_for
from crawler.transform.frontmatter import DoubleQuoted, dump_front_matter
from crawler.transform.markdown import html_to_markdown

__all__ = [
    "category_slug",
    "front_matter",
    "post_relpath",
    "render_category_page",
    "render_post",
    "write_post",
]

_PINYIN = Pinyin()
# Characters kept in a slug besides letters and digits: the existing archive
# kept "·" (上海证券报·中国证券网 -> shanghaizhengquanbao·zhongguozhengquanwang).
_SLUG_DROP = re.compile(r"[^\w·]", re.UNICODE)
_SLUG_MAX_BYTES = 120


@lru_cache(maxsize=4096)
def category_slug(media: str) -> str:
    """The existing archive's category: xpinyin pinyin of the media, ``-`` removed.

    Spaces, slashes, dots and other punctuation are dropped as well, so the
    slug is one Jekyll category and a safe file name.
    """
    slug = _SLUG_DROP.sub("", _PINYIN.get_pinyin(media).replace("-", ""))
    if len(slug.encode()) > _SLUG_MAX_BYTES:
        # A file name has 255 bytes (with the temp file's affixes): a long name
        # keeps a prefix and a digest, so it stays one distinct category.
        digest = hashlib.sha1(slug.encode()).hexdigest()[:10]
        slug = slug.encode()[: _SLUG_MAX_BYTES - 10].decode("utf-8", "ignore") + digest
    return slug or "unknown"


def post_relpath(info_code: str, published: str, keep_days: int = 0) -> str:
    """``_posts/YYYY/MM/YYYY-MM-DD-<infoCode>.md`` (``old_post/…`` when rotated out)."""
    y, m, d = published[:4], published[5:7], published[8:10]
    return f"{posts_dir_for(published, keep_days)}/{y}/{m}/{y}-{m}-{d}-{info_code}.md"


def front_matter(article: Article) -> dict[str, Any]:
    """The post's front matter: the archive's five keys first, then finews's."""
    slug = category_slug(article.media)
    return {
        "layout": "post",
        "title": DoubleQuoted(article.title),
        "date": f"{article.published} +0800",
        "categories": slug,
        "tags": f"{article.media}新闻",
        "info_code": article.info_code,
        "source": article.media,
        "source_url": article.source_url,
        "share_url": article.share_url,
        "columns": list(article.columns),
        "summary": article.summary,
        "stocks": list(article.stocks),
        # Only with a 7×24 item of the same code (its emnews post).
        **({"emnews_post": article.emnews_post} if article.emnews_post else {}),
        "render_with_liquid": False,
    }


def link_text(text: str) -> str:
    """Link text in the footer: escape what would end or format the link."""
    return re.sub(r"([\\\[\]*_`<>{}|])", r"\\\1", text)


def share_line(share_url: str) -> str:
    """The share link's line: the archive's form, a Markdown autolink, so the
    built site links it (a URL that cannot be one stays bare)."""
    return f"<{share_url}>" if share_url and not re.search(r"[\s<>]", share_url) else share_url


def render_post(article: Article, site_url: str) -> str:
    """The whole post file. ``article.body_markdown`` must be set."""
    slug = category_slug(article.media)
    footer = (
        f"[返回{link_text(article.media)}新闻]({site_url}/category/{slug}.html)"
        f"｜[返回首页]({site_url}/)"
    )
    head = dump_front_matter(front_matter(article))
    return f"---\n{head}{body_section(article.body_markdown, article.share_url)}{footer}\n"


def body_section(body_markdown: str, share_url: str) -> str:
    """What a post holds between its front matter and its footer: the closing
    ``---``, the body and the share line (check-archive looks for exactly this)."""
    body = body_markdown.strip("\n")
    return f"---\n{body}\n\n{share_line(share_url)}\n\n"


def render_category_page(media: str) -> str:
    """``category/<slug>.html``: front matter only (the layout lists the posts)."""
    data = {"layout": "category", "title": f"{media}新闻", "category": category_slug(media)}
    return f"---\n{dump_front_matter(data)}---\n"


def write_post(path: Path, article: Article, site_url: str) -> tuple[str, bool]:
    """Render the article's post (its Markdown from ``clean_html``) and write it;
    returns (body_markdown, whether the file changed). Runs in a worker process
    (crawler.workers) when FINEWS_WORKERS > 0."""
    article.body_markdown = html_to_markdown(article.clean_html)
    text = render_post(article, site_url)
    return article.body_markdown, atomic_write(path, text.encode("utf-8"), durable=False)
