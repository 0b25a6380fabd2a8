"""Block pages: answers that are the upstream pushing back, not content.

A block page is HTTP 403, HTML where the list or Choice API should answer
JSON, or a page without the article container that shows a captcha marker
(``滑块验证``, ``验证码``, … and FINEWS_BLOCK_MARKERS). :func:`block_kind` tells
which; :class:`crawler.middlewares.backoff.BackoffMiddleware` acts on it and,
when the retries are used up, fails the request with :class:`Blocked`.
Pure functions of the answer (no Scrapy state), so they are tested alone.

Settings: FINEWS_BLOCK_MARKERS (through the caller's ``markers``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

from crawler.eastmoney import urls
from crawler.eastmoney.answers import loads_answer

#: Text that marks a captcha or block page (matched in HTML pages without a content
#: container such as ``#ContentBody``, so an article *about* 验证码 is not a block page).
BLOCK_MARKERS: tuple[str, ...] = (
    "滑块验证",
    "拖动滑块",
    "安全验证",
    "人机验证",
    "验证码",
    "访问过于频繁",
    "请求过于频繁",
    "captcha",
    "geetest",
    "nc_1_wrapper",
    "slide-verify",
)
# Ids of the containers of Eastmoney's content: the article (#ContentBody), the
# share page's article (#newsContent), a column's list (#newsListContent).
_CONTAINERS = (b"ContentBody", b"newsContent", b"newsListContent")
# Both list API and Choice text API answer JSON (or JSONP).
_JSON_PATHS = (urls.LIST_API_PATH, urls.CHOICE_API_PATH)
_BOM_WS = b"\xef\xbb\xbf \t\r\n"


class Blocked(IgnoreRequest):
    """A block page (captcha, HTML for JSON, 403) met on every allowed try.

    ``response`` is the last block page, so the errback can snapshot it.
    """

    def __init__(self, message: str, response: Response | None = None) -> None:
        super().__init__(message)
        self.response = response


def expects_json(url: str) -> bool:
    """True for the list API and the Choice text API (whatever origin serves them)."""
    return urlsplit(url).path in _JSON_PATHS


def looks_like_json(text: str) -> bool:
    """True when ``text`` parses as JSON or as JSONP around JSON (not when it is
    nested too deep to parse: that answer is unusable, not a failed download)."""
    try:
        loads_answer(text)
    except ValueError:
        return False
    return True


def block_kind(
    url: str, status: int, body: bytes, text: str | None = None, markers: tuple[str, ...] = ()
) -> str:
    """Why this answer is a block page (``captcha``, ``html_for_json``, ``http_403``), or "".

    ``text`` is the decoded body when the caller has it (a ``TextResponse`` knows the
    charset; GBK pages included). ``markers`` adds to :data:`BLOCK_MARKERS`.
    """
    if status == 403:
        return "http_403"
    if status != 200:
        return ""
    head = body[:4096].lstrip(_BOM_WS)
    if expects_json(url):
        # The APIs answer JSON or JSONP, never markup: HTML is someone else talking.
        return "html_for_json" if head.startswith(b"<") else ""
    if not head.startswith(b"<"):
        return ""  # not a page (robots.txt may well list /captcha)
    if any(container in body for container in _CONTAINERS):
        return ""  # an article or a list (which may well be about captchas)
    if text is None:
        text = body[:262144].decode("utf-8", "replace")
    lowered = text[:262144].lower()
    if any(m.lower() in lowered for m in (*BLOCK_MARKERS, *markers)):
        return "captcha"
    return ""
