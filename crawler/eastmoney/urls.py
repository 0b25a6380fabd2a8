"""Every Eastmoney host, path and URL template finews uses, and the column catalog.

Nothing else in finews spells an Eastmoney URL: spiders, the browser route, the
middlewares and the settings' defaults take them from here (see
/work/shared/upstream.md for what is known of each endpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from crawler.eastmoney.ids import CODE_RE, INFO_CODE_RE

#: The politeness domain: every ``*.eastmoney.com`` host is one site.
DOMAIN = "eastmoney.com"

# The list API (JSON/JSONP): one page of one or more columns.
LIST_API_ORIGIN = "https://np-listapi.eastmoney.com"
LIST_API_PATH = "/comm/web/getNewsByColumns"
LIST_API = LIST_API_ORIGIN + LIST_API_PATH
LIST_FIELDS = "code,showTime,title,mediaName,summary,image,url,uniqueUrl,Np_dst"

# The article page, e.g. https://finance.eastmoney.com/a/202206142411662087.html
ARTICLE_URL = "https://finance.eastmoney.com/a/{code}.html"

# Choice: the share page (a script fills it from GetNewsText.do) and that API.
CHOICE_ORIGIN = "http://choicewzp1.eastmoney.com"
CHOICE_API_PREFIX = "/NewsData/"
CHOICE_API_PATH = "/NewsData/GetNewsText.do"
CHOICE_TEXT_API = CHOICE_ORIGIN + CHOICE_API_PATH + "?id={info_code}"
SHARE_PAGE = CHOICE_ORIGIN + "/html_News/NewsShare.html?infoCode={info_code}"

#: URL path prefix of an API a rendered page loads -> the Eastmoney origin serving it.
API_ORIGINS: dict[str, str] = {
    LIST_API_PATH: LIST_API_ORIGIN,
    CHOICE_API_PREFIX: CHOICE_ORIGIN,
}

#: Sent as the Referer of every request (what a reader's browser sends).
REFERER = "https://finance.eastmoney.com/"


@dataclass(frozen=True)
class Column:
    """One column (category) of the list API and its script-filled list page."""

    id: int
    name: str  # goes into posts and the database
    host: str  # of the list page
    slug: str  # https://<host>/a/<slug>.html, page n > 1: <slug>_<n>.html


COLUMNS: dict[int, Column] = {
    c.id: c
    for c in (
        Column(344, "财经导读", "finance.eastmoney.com", "ccjdd"),
        Column(345, "资讯精华", "finance.eastmoney.com", "cywjh"),
        Column(349, "沪深公司", "finance.eastmoney.com", "cssgs"),
        Column(350, "国内经济", "finance.eastmoney.com", "cgnjj"),
        Column(351, "国际经济", "finance.eastmoney.com", "cgjjj"),
        Column(352, "宏观研究", "finance.eastmoney.com", "chgyj"),
        Column(353, "证券聚焦", "finance.eastmoney.com", "czqyw"),
        Column(355, "产经资讯", "finance.eastmoney.com", "ccjxw"),
        Column(1207, "财经早餐", "stock.eastmoney.com", "czpnc"),
    )
}


def column_name(column_id: int) -> str:
    """The column's name, or its id as text for a column finews does not know."""
    column = COLUMNS.get(column_id)
    return column.name if column else str(column_id)


def list_url(columns: list[int] | int, page_index: int, page_size: int, req_trace: str) -> str:
    """The list API URL for one page of one column (or a comma list)."""
    if isinstance(columns, int):
        columns = [columns]
    query = {
        "client": "web",
        "biz": "web_news_col",
        "column": ",".join(str(c) for c in columns),
        "order": "1",
        "needInteractData": "0",
        "page_index": str(page_index),
        "page_size": str(page_size),
        "req_trace": req_trace,
        "fields": LIST_FIELDS,
        "types": "1,20",
    }
    return f"{LIST_API}?{urlencode(query, safe=',')}"


def article_url(code: str) -> str:
    return ARTICLE_URL.format(code=code)


def choice_text_url(info_code: str) -> str:
    return CHOICE_TEXT_API.format(info_code=info_code)


def column_page_url(column_id: int, page: int = 1) -> str:
    """The column's (script-filled) list page; page n > 1 is ``<slug>_<n>.html``."""
    if column_id not in COLUMNS:
        raise ValueError(f"no list page known for column {column_id}")
    if page < 1:
        raise ValueError(f"page must be >= 1, got {page}")
    column = COLUMNS[column_id]
    name = column.slug if page == 1 else f"{column.slug}_{page}"
    return f"https://{column.host}/a/{name}.html"


def is_eastmoney(host: str) -> bool:
    """``eastmoney.com`` or one of its subdomains (a host name, no port)."""
    host = host.lower()
    return host == DOMAIN or host.endswith("." + DOMAIN)


def share_page_url(info_code: str) -> str:
    """The Choice share page of an article (``NW<code>``; a bare code is accepted)."""
    info_code = info_code.strip()
    if CODE_RE.match(info_code):
        info_code = "NW" + info_code
    if not INFO_CODE_RE.match(info_code):
        raise ValueError(f"not an infoCode: {info_code!r}")
    return SHARE_PAGE.format(info_code=info_code)


# --- 7×24 快讯 (fast news): getFastNewsList on two hosts answering the same ---
# np-weblist first (what the site's 7×24 page calls), np-listapi as fallback.
FAST_NEWS_ORIGINS = ("https://np-weblist.eastmoney.com", "https://np-listapi.eastmoney.com")
FAST_NEWS_PATH = "/comm/web/getFastNewsList"
#: Sent as the Referer of feed requests (the 7×24 page's callers do).
FAST_NEWS_REFERER = "https://kuaixun.eastmoney.com/"
#: The feed column the archive's ``emnews`` posts came from, and the ids the API knows.
FAST_DEFAULT_COLUMN = 102
FAST_COLUMN_IDS = range(100, 132)
# Approximate labels (upstream.md): 103-131 are groups of companies, markets,
# regions, central banks and economic data.
FAST_COLUMN_NAMES = {100: "焦点", 101: "要闻", 102: "7×24 全球直播"}


def fast_column_name(column_id: int) -> str:
    """A feed column's label, or ``fast<id>`` for one without a known label."""
    return FAST_COLUMN_NAMES.get(column_id, f"fast{column_id}")


def fast_news_url(host: int, column: int, sort_end: str, page_size: int, req_trace: str) -> str:
    """One feed page: ``host`` indexes :data:`FAST_NEWS_ORIGINS`; ``sort_end``
    is the cursor ("" for the newest page)."""
    query = {
        "client": "web",
        "biz": "web_724",
        "fastColumn": str(column),
        "sortEnd": sort_end,
        "pageSize": str(page_size),
        "req_trace": req_trace,
    }
    return f"{FAST_NEWS_ORIGINS[host]}{FAST_NEWS_PATH}?{urlencode(query)}"


#: Hosts of the pictures in article bodies (np-newspic.dfcfw.com, …): fetched
#: and archived (FINEWS_IMAGES=archive), sent to FINEWS_UPSTREAM like Eastmoney's.
IMAGE_DOMAINS = ("dfcfw.com", DOMAIN)


def is_image_host(host: str) -> bool:
    """A host whose pictures finews archives: ``*.dfcfw.com`` or ``*.eastmoney.com``."""
    host = host.lower()
    return any(host == d or host.endswith("." + d) for d in IMAGE_DOMAINS)


#: On Eastmoney's own hosts a picture has a picture's name: ``<img src="x">``
#: absolutized to ``https://finance.eastmoney.com/a/x`` is not fetched.
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")


def is_picture_url(host: str, path: str) -> bool:
    """A picture finews archives: any path on ``*.dfcfw.com`` (np-newspic), a
    picture file name on ``*.eastmoney.com``."""
    if not is_image_host(host):
        return False
    return not is_eastmoney(host) or path.lower().endswith(PICTURE_SUFFIXES)


def is_mirrored(host: str) -> bool:
    """A host that FINEWS_UPSTREAM stands in for: Eastmoney's and its picture hosts."""
    return is_eastmoney(host) or is_image_host(host)
