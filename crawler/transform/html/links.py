"""Links and images: absolute URLs with an allowed scheme, or nothing."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from lxml import etree

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


def fix_urls(root: etree._Element, base_url: str) -> None:
    """Absolutize ``a[href]`` and ``img[src]``; unwrap/drop what has no usable URL."""
    for el in elements(root):
        if el.tag == "a":
            href = absolute_url(el.get("href") or "", base_url, LINK_SCHEMES)
            if href is None:
                el.drop_tag()
            else:
                el.set("href", href)
        elif el.tag == "img":
            src = absolute_url(el.get("src") or "", base_url, IMG_SCHEMES)
            if src is None:
                el.drop_tree()
            else:
                el.set("src", src)
