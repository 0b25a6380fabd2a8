"""A synthetic old Jekyll archive in every shape the real one holds (tests, bench).

``write_old_archive(root, n)`` writes about ``n`` post files under
``root/_posts/`` and ``root/old_post/`` and returns what an import must make of
each article (:class:`Expected`), computed from the generator's own inputs, not
by the importer. The shapes (see docs/import.md and ../shared/seed-archive/):
Choice-HTML NW posts (hidden first paragraph, K-line block, ``<center>`` images
with ``orginial_src``, ``<strong>``, entities, CRLF between paragraphs, the
zning.xyz or choicewzp1 share link, footers to //finews.withounder.com or
//finews.zning.me), emnews flashes (digest only, or ``> digest`` above the
content; the legacy url_w link; six footer forms or none), ``date:`` with and
without ``+0800`` (also late in the evening, when a zone-less date's URL day is
the next one), a blank line before ``---``, no final newline, titles with an
ASCII ``"``, ``_posts/-<code>.md`` with ``title: ""`` and ``date:  +0800``,
posts in both ``_posts/`` and ``old_post/`` (same or different bodies), an NW
post and an emnews post of one code, category slugs with spaces and
parentheses, and files that must fail (not UTF-8, no front matter, a
``-<name>.md`` whose name holds no date).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

FOOTERS = (
    "[返回东财滚动新闻](../emnews/)\n[返回首页](../)",
    "[返回东财滚动新闻](./emnews/)\n[返回首页](./)",
    "[返回东财滚动新闻](//finews.zning.me/emnews/)\n[返回首页](//finews.zning.me/)",
    "[返回东财滚动新闻](//finews.withounder.com/emnews/)\n[返回首页](//finews.withounder.com/)",
    "[返回东财滚动新闻](//finews.withounder.com/emnews/)｜[返回首页](//finews.withounder.com/)",
    "[返回东财滚动新闻](//finews.zning.me/emnews/)｜[返回首页](//finews.zning.me/)",
    "",
)
MEDIA = (
    ("中国经济网", "zhongguojingjiwang"),
    ("21世纪经济报道 21财经APP", "21shijijingjibaodao 21caijingAPP"),
    ("安信国际证券(香港)", "anxinguojizhengquan(xianggang)"),
    ("上海证券报·中国证券网", "shanghaizhengquanbao·zhongguozhengquanwang"),
)
WORDS = [
    "央行",
    "市场",
    "资金",
    "北向",
    "科技",
    "新能源",
    "消费",
    "债券",
    "基金",
    "指数",
    "汇率",
    "美元",
    "利率",
    "投资",
    "政策",
    "企业",
]


@dataclass
class Expected:
    """One article as the import must make it (``fails``: the file's reason)."""

    key: str
    relpath: str  # its current file
    title: str
    published: str  # "YYYY-MM-DD HH:MM:SS" Beijing
    category: str
    text: str  # the body's text (whitespace is not compared)
    files: int = 1
    versions: int = 1
    related: str = ""
    fails: str = ""
    url: str = ""  # the old site's URL path of the post ("" when it had none)


def _sentence(rng: random.Random, n: int = 12) -> str:
    return "".join(rng.choice(WORDS) for _ in range(n)) + "。"


def _url(category: str, published: str, name: str, naive: bool) -> str:
    """Jekyll's URL of the old post: a zone-less date is UTC to YAML (+8 h)."""
    y, mo, d, h = (
        int(published[:4]),
        int(published[5:7]),
        int(published[8:10]),
        int(published[11:13]),
    )
    if naive and h >= 16:
        import datetime as _dt

        day = _dt.date(y, mo, d) + _dt.timedelta(days=1)
        y, mo, d = day.year, day.month, day.day
    cats = "/".join(c.lower() for c in category.split())
    return f"/{cats}/{y:04d}/{mo:02d}/{d:02d}/{name}.html"


def _front(title: str, date: str, category: str, tags: str, blank_first: bool) -> str:
    head = "\n" if blank_first else ""
    return f'{head}---\nlayout: post\ntitle: "{title}"\ndate: {date}\ncategories: {category}\ntags: {tags}\n---\n'


def _nw_body(rng: random.Random, code: str, media: str, crlf: bool) -> tuple[str, str]:
    paras = [_sentence(rng) for _ in range(rng.randint(2, 6))]
    sep = "\r\n " if crlf else " "
    kline = (
        '<!-- EM_StockImg_Start --><p style="text-align:center;"><a href="http://quote.eastmoney.com/unify/r/1.600519" '
        'class="EmImageRemark"><img src="https://webquoteklinepic.eastmoney.com/GetPic.aspx?nid=1.600519&amp;imageType=k" '
        'alt="K图 600519_0" /></a></p><!-- EM_StockImg_End -->'
    )
    img = f'<center><img src="https://np-newspic.dfcfw.com/{code}.jpg" orginial_src="https://np-newspic.dfcfw.com/o{code}.jpg" /></center>'
    html_paras = [f"<p>{p}</p>" for p in paras]
    html_paras[0] = f"<p><strong>{paras[0]}</strong></p>"
    html_paras.append("<p>A&amp;B 报道&nbsp;称&quot;稳&quot;</p>")
    html = (
        '<p style="display:none;height:1px;overflow:hidden;"><br /></p>'
        + kline
        + sep.join([*html_paras[:1], img, *html_paras[1:]])
        + f'<p class="em_media">（文章来源：{media}）</p>'
    )
    text = "".join(paras) + 'A&B 报道 称"稳"' + f"（文章来源：{media}）"
    return html, text


def write_old_archive(root: Path, n: int, seed: int = 0) -> list[Expected]:
    """Write about ``n`` files; returns the articles (and the failing files)."""
    rng = random.Random(seed)
    out: list[Expected] = []
    files = 0
    i = 0

    def put(relpath: str, data: str | bytes, final_newline: bool = True) -> None:
        nonlocal files
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = data if isinstance(data, bytes) else data.encode("utf-8")
        if not final_newline:
            raw = raw.rstrip(b"\n")
        path.write_bytes(raw)
        os.utime(path, (1_640_000_000 + files, 1_640_000_000 + files))
        files += 1

    while files < n:
        i += 1
        day = 1 + i % 28
        hour, minute = (23 if i % 11 == 0 else 8 + i % 8), i % 60
        published = f"2022-03-{day:02d} {hour:02d}:{minute:02d}:{i % 60:02d}"
        code = f"202203{day:02d}{i:010d}"
        shape = i % 10
        quote = '"' if i % 13 == 0 else ""
        title = f"{rng.choice(WORDS)}{quote}{rng.choice(WORDS)}{quote}{i}"
        naive = i % 3 == 0
        date = published if naive else published + " +0800"
        newline = i % 7 != 0
        blank = i % 9 == 0
        if shape in (0, 1, 2):  # an NW Choice-HTML post
            media, slug = MEDIA[i % len(MEDIA)]
            html, text = _nw_body(rng, code, media, crlf=i % 2 == 0)
            site = "//finews.withounder.com" if i % 2 else "//finews.zning.me"
            share = (
                f"<http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW{code}>"
                if i % 4
                else f"<http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW{code}>"
            )
            footer = f"[返回{media}新闻]({site}/category/{slug}.html)｜[返回首页]({site}/)"
            name = f"NW{code}"
            rel = f"_posts/{published[:10]}-{name}.md"
            put(
                rel,
                _front(title, date, slug, f"{media}新闻", blank)
                + f"{html}\n\n{share}\n\n{footer}\n",
                newline,
            )
            out.append(
                Expected(
                    f"NW{code}",
                    rel,
                    title,
                    published,
                    slug,
                    text,
                    url=_url(slug, published, name, naive),
                )
            )
            if shape == 2:  # the same code as an emnews flash too
                digest = _sentence(rng)
                rel2 = f"_posts/{published[:10]}-{code}.md"
                put(
                    rel2,
                    _front(title, date, "emnews", "东财滚动新闻", False)
                    + f"\n{digest}\n\n<http://finance.eastmoney.com/news/1345,{code}.html>\n\n{FOOTERS[4]}\n",
                )
                out[-1].related = f"EM{code}"
                out.append(
                    Expected(
                        f"EM{code}",
                        rel2,
                        title,
                        published,
                        "emnews",
                        digest,
                        related=f"NW{code}",
                        url=_url("emnews", published, code, naive),
                    )
                )
        elif shape in (3, 4, 5, 6):  # an emnews flash
            digest = _sentence(rng)
            text = digest
            body = digest
            if shape == 4:  # > digest above the Choice content
                content = [_sentence(rng) for _ in range(3)]
                body = f"> {digest}\n\n" + "\n\n".join("　　" + c for c in content)
                text = digest + "".join(content)
            footer = FOOTERS[i % len(FOOTERS)]
            host = ("finance", "stock", "hk", "futures")[i % 4]
            tail = f"\n\n<http://{host}.eastmoney.com/news/11{i % 100},{code}.html>" + (
                f"\n\n{footer}" if footer else ""
            )
            rel = f"_posts/{published[:10]}-{code}.md"
            put(
                rel,
                _front(title, date, "emnews", "东财滚动新闻", blank) + f"\n{body}{tail}\n",
                newline,
            )
            exp = Expected(
                f"EM{code}",
                rel,
                title,
                published,
                "emnews",
                text,
                url=_url("emnews", published, code, naive),
            )
            if shape == 5:  # also in old_post/, the same body (or another one)
                other = digest if i % 2 else _sentence(rng)
                rel2 = f"old_post/{published[:10]}-{code}.md"
                put(
                    rel2,
                    _front(title, published + " +0800", "emnews", "东财滚动新闻", False)
                    + f"\n{other}\n",
                    False,
                )
                exp = Expected(
                    exp.key,
                    rel2,
                    title,
                    published,
                    "emnews",
                    other,
                    files=2,
                    versions=1 if other == digest else 2,
                    url=exp.url,
                )
            out.append(exp)
        elif shape == 7:  # _posts/-<code>.md: no title, no date
            digest = _sentence(rng)
            rel = f"_posts/-{code}.md"
            put(
                rel,
                f'---\nlayout: post\ntitle: ""\ndate:  +0800\ncategories: emnews\ntags: 东财滚动新闻\n---\n\n{digest}\n',
            )
            out.append(
                Expected(f"EM{code}", rel, digest, f"{published[:10]} 00:00:00", "emnews", digest)
            )
        elif shape == 8:  # a page of the site (like 2021-12-01-init.md)
            rel = f"old_post/{published[:10]}-page{i}.md"
            put(rel, _front(title, date, "sitenews", "站长消息", blank) + "\n祝贺开站\n", newline)
            out.append(Expected(f"OPpage{i}", rel, title, published, "sitenews", "祝贺开站"))
        else:  # files that must fail, one reason each
            kind = (i // 10) % 3
            if kind == 0:
                rel = f"_posts/{published[:10]}-{code}.md"
                put(
                    rel,
                    _front(title, date, "emnews", "东财滚动新闻", False).encode()
                    + b"\n\xff\xfe bad\n",
                )
                out.append(Expected(f"EM{code}", rel, "", "", "", "", fails="not UTF-8"))
            elif kind == 1:
                rel = f"_posts/{published[:10]}-{code}.md"
                put(rel, "just text, no front matter\n")
                out.append(Expected(f"EM{code}", rel, "", "", "", "", fails="no front matter"))
            else:
                rel = f"_posts/-note{i}.md"
                put(
                    rel,
                    '---\nlayout: post\ntitle: ""\ndate:  +0800\ncategories: emnews\ntags: x\n---\n\nx\n',
                )
                out.append(Expected(f"OPnote{i}", rel, "", "", "", "", fails="no date"))
    return out
