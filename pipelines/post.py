"""Markdown posts with Jekyll front matter, the continuation of the existing archive.

``_posts/YYYY/MM/YYYY-MM-DD-<infoCode>.md``: front matter whose first five keys
reproduce the existing archive's posts (``layout``, ``title`` always
double-quoted, ``date`` with ``+0800``, ``categories`` = the media's pinyin slug,
``tags`` = media + 新闻), then finews's keys; the body as Markdown; the
archive's footer (share link, back links). Also ``category/<slug>.html`` for
each media. YAML is emitted by PyYAML; files are written atomically and only
when their bytes change.

Settings: FINEWS_ARCHIVE_DIR, FINEWS_SITE_URL, FINEWS_POSTS_KEEP_DAYS. Stats: ``finews/post/written``,
``finews/post/unchanged``, ``finews/post/categories``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from itemadapter import ItemAdapter
from xpinyin import Pinyin

from crawler.config import FinewsConfig
from crawler.files import atomic_write, inside
from crawler.items import Article
from crawler.rotation import posts_dir_for
from crawler.skeleton import ensure_skeleton
from crawler.workers import Workers
from pipelines.markdown import html_to_markdown

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

_PINYIN = Pinyin()
# Characters kept in a slug besides letters and digits: the existing archive
# kept "·" (上海证券报·中国证券网 -> shanghaizhengquanbao·zhongguozhengquanwang).
_SLUG_DROP = re.compile(r"[^\w·]", re.UNICODE)
_SLUG_MAX_BYTES = 120


class DoubleQuoted(str):
    """A string PyYAML must emit in double quotes (the archive's titles)."""


class PostDumper(yaml.SafeDumper):
    pass


def _double_quoted(dumper: yaml.SafeDumper, value: DoubleQuoted) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style='"')


PostDumper.add_representer(DoubleQuoted, _double_quoted)

# YAML 1.1 reads NEL, LS and PS as line breaks, yet PyYAML writes them raw in
# plain and single-quoted scalars, where they fold into a space: a summary with
# one would not read back. Double quotes escape them (\N, \L, \P).
_YAML_BREAKS = frozenset("\x85\u2028\u2029")


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if _YAML_BREAKS.intersection(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


PostDumper.add_representer(str, _str)


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
        "render_with_liquid": False,
    }


# libyaml's emitter (~5x faster than PyYAML's pure-Python one) writes the same
# bytes except for what it escapes differently: characters outside the BMP
# ("\U0001F600"), C1 controls, NEL, LS, PS and BOM. Front matter holding any
# of those goes through the Python emitter, so every post's bytes stay the same
# whichever is installed (tests/test_post.py compares both on hostile text).
_C_EMITTER_DIFFERS = re.compile("[\U00010000-\U0010ffff\x80-\x9f\u2028\u2029\ufeff]")

if getattr(yaml, "__with_libyaml__", False):

    class CPostDumper(yaml.CSafeDumper):
        pass

    CPostDumper.add_representer(DoubleQuoted, _double_quoted)
    _FAST_DUMPER: type | None = CPostDumper
else:  # pragma: no cover - PyYAML built without libyaml
    _FAST_DUMPER = None


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)


def dump_front_matter(data: dict[str, Any], fast: bool = True) -> str:
    """YAML of the front matter; ``fast=False`` forces the Python emitter."""
    dumper: type = PostDumper
    if (
        fast
        and _FAST_DUMPER is not None
        and not any(_C_EMITTER_DIFFERS.search(t) for t in _texts(data))
    ):
        dumper = _FAST_DUMPER
    return yaml.dump(
        data,
        Dumper=dumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=1_000_000,
    )


def _link_text(text: str) -> str:
    # Link text in the footer: escape what would end or format the link.
    return re.sub(r"([\\\[\]*_`<>{}|])", r"\\\1", text)


def render_post(article: Article, site_url: str) -> str:
    """The whole post file. ``article.body_markdown`` must be set."""
    slug = category_slug(article.media)
    footer = (
        f"[返回{_link_text(article.media)}新闻]({site_url}/category/{slug}.html)"
        f"｜[返回首页]({site_url}/)"
    )
    body = article.body_markdown.strip("\n")
    return f"---\n{dump_front_matter(front_matter(article))}---\n{body}\n\n{article.share_url}\n\n{footer}\n"


def render_category_page(media: str) -> str:
    data = {"layout": "category", "title": f"{media}新闻", "category": category_slug(media)}
    return f"---\n{dump_front_matter(data)}---\n"


def write_post(path: Path, article: Article, site_url: str) -> tuple[str, bool]:
    """Render the article's post (its Markdown from ``clean_html``) and write it;
    returns (body_markdown, whether the file changed). Runs in a worker process
    (crawler.offload) when FINEWS_WORKERS > 0."""
    article.body_markdown = html_to_markdown(article.clean_html)
    text = render_post(article, site_url)
    return article.body_markdown, atomic_write(path, text.encode("utf-8"), durable=False)


class PostPipeline:
    """Sets ``body_markdown`` and ``post_path``; writes the post (in a worker,
    crawler.workers) and the category page (here, once per media).

    Settings: FINEWS_ARCHIVE_DIR, FINEWS_SITE_URL, FINEWS_POSTS_KEEP_DAYS,
    FINEWS_WORKERS. Stats: ``finews/post/written``, ``finews/post/unchanged``,
    ``finews/post/categories``.
    """

    def __init__(self, crawler: Crawler, cfg: FinewsConfig) -> None:
        self.stats = crawler.stats
        self.root = cfg.archive_dir
        self.site_url = cfg.site_url
        self.keep_days = cfg.posts_keep_days
        self.categories_done: set[str] = set()
        self.workers = Workers.for_crawler(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PostPipeline:
        return cls(crawler, FinewsConfig.from_settings(crawler.settings))

    def open_spider(self) -> None:
        # A new archive directory gets the site skeleton (config, layouts).
        ensure_skeleton(self.root)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Article):
            return item
        adapter = ItemAdapter(item)
        post_path = post_relpath(adapter["info_code"], adapter["published"], self.keep_days)
        adapter["post_path"] = post_path
        self.write_category(adapter["media"])
        # What the post needs: not the responses or the text (the worker would copy them).
        slim = dataclasses.replace(
            item, body_html="", body_text="", list_responses=[], body_responses=[]
        )
        markdown, changed = await self.workers.run(
            write_post, inside(self.root, post_path), slim, self.site_url
        )
        adapter["body_markdown"] = markdown
        self.stats.inc_value("finews/post/written" if changed else "finews/post/unchanged")
        return item

    def write_category(self, media: str) -> None:
        slug = category_slug(media)
        if slug in self.categories_done:
            return
        page = inside(self.root, f"category/{slug}.html")
        if atomic_write(page, render_category_page(media).encode("utf-8"), durable=False):
            self.stats.inc_value("finews/post/categories")
        self.categories_done.add(slug)
