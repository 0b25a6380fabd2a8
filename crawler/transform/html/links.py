"""Links and images: absolute URLs with an allowed scheme, or nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

from lxml import etree
from lxml.html import HtmlElement

from crawler.transform.html.fragment import elements
from crawler.transform.html.vocabulary import IMG_SCHEMES, LINK_SCHEMES

__all__ = ["absolute_url", "fix_urls"]

_URL_STRIP_RE = re.compile(r"[\t\r\n]")
_URL_QUOTE_RE = re.compile(r"[\s\"<>\\^`{|}]")


def absolute_url(url: str, base_url: str, schemes: frozenset[str]) -> str | None:
    """Resolve ``url`` against ``base_url``; ``None`` unless the result is a usable
    absolute URL with one of ``schemes``.

    Tabs/newlines are removed first (browsers ignore them, so ``java\\tscript:``
    is ``javascript:``); ``//host/x`` becomes ``https://host/x``.
    """
    url = _URL_STRIP_RE.sub("", url).strip()
    if not url or url.startswith("#"):
        return None
    try:
        if url.startswith("//"):
            url = "https:" + url
        elif base_url:
            url = urljoin(base_url.strip(), url)
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        return None
    if scheme in ("http", "https") and not parts.netloc:
        return None
    return _URL_QUOTE_RE.sub(lambda m: f"%{ord(m.group()):02X}", url)


#: Per tag: the attribute holding its URL, the schemes allowed there, and what
#: becomes of the element without a usable URL (a link keeps its text, an image goes).
_URL_ATTRS: dict[str, tuple[str, frozenset[str], Callable[[HtmlElement], None]]] = {
    "a": ("href", LINK_SCHEMES, HtmlElement.drop_tag),
    "img": ("src", IMG_SCHEMES, HtmlElement.drop_tree),
}


def fix_urls(root: etree._Element, base_url: str) -> None:
    """Absolutize ``a[href]`` and ``img[src]``; unwrap/drop what has no usable URL."""
    for el in elements(root):
        rule = _URL_ATTRS.get(el.tag)
        if rule is None:
            continue
        attr, schemes, drop = rule
        url = absolute_url(el.get(attr) or "", base_url, schemes)
        if url is None:
            drop(el)
        else:
            el.set(attr, url)
