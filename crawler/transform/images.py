"""Archived pictures: which ones an article shows, whether a download is a
picture, where its copy and its WARC go, and the body pointed at the copy.

Pure functions, except :func:`write_image` and :func:`restore_images`, which
write files (atomically, only when their bytes change). A picture is
content-addressed: ``assets/img/<sha256>.<ext>`` (the site and Datasette serve
``/assets/img/…``), its response kept in ``raw/images/<sha256[:2]>/<sha256>.warc.gz``.
The same bytes under two URLs are one file and two rows of ``images``.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from crawler.eastmoney.urls import is_picture_url
from crawler.files import atomic_write, inside
from crawler.items import Fetched
from crawler.transform.warc import SnapshotRecord, read_warc, warc_bytes

__all__ = [
    "ImageCopy",
    "asset_relpath",
    "check_image",
    "image_urls",
    "localize",
    "restore_images",
    "write_image",
]

#: The kinds kept, by their first bytes (what the file is, whatever the
#: server says) and the Content-Type the server must have sent.
_KINDS: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "jpg", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"GIF87a", "gif", "image/gif"),
    (b"GIF89a", "gif", "image/gif"),
)
_TYPES = {"image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/gif", "image/webp"}

# clean_html is the cleaner's serialization: every attribute double-quoted,
# "&" and '"' escaped, so a regular expression reads img[src] exactly.
_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]*)(")')

#: Where the site (and Datasette's static mount) serves the copies.
ASSET_PREFIX = "/assets/img/"


@dataclass(frozen=True)
class ImageCopy:
    """One archived picture: the row of ``images`` (crawler.store.images)."""

    url: str
    sha256: str
    ext: str
    content_type: str
    bytes: int
    path: str  # assets/img/<sha256>.<ext>
    snapshot: str  # raw/images/<sha256[:2]>/<sha256>.warc.gz
    fetched_at: str

    @property
    def local_url(self) -> str:
        return "/" + self.path


def image_urls(clean_html: str) -> list[str]:
    """The picture URLs of a clean body that finews archives
    (``urls.is_picture_url``), in order, each once. Others stay links."""
    found: dict[str, None] = {}
    for match in _IMG_SRC.finditer(clean_html):
        url = html.unescape(match.group(2))
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and is_picture_url(parts.hostname or "", parts.path):
            found[url] = None
    return list(found)


def localize(clean_html: str, local: dict[str, str]) -> str:
    """``clean_html`` with each ``img[src]`` found in ``local`` (URL -> the
    copy's site path, ``/assets/img/…``) pointing at the copy."""
    if not local:
        return clean_html

    def repl(match: re.Match[str]) -> str:
        target = local.get(html.unescape(match.group(2)))
        if target is None:
            return match.group(0)
        return match.group(1) + html.escape(target, quote=True) + match.group(3)

    return _IMG_SRC.sub(repl, clean_html)


def _content_type(headers: list[tuple[str, str]]) -> str:
    for name, value in headers:
        if name.lower() == "content-type":
            return value.split(";", 1)[0].strip().lower()
    return ""


def check_image(
    status: int, headers: list[tuple[str, str]], body: bytes, max_bytes: int
) -> tuple[str, str]:
    """``(ext, "")`` for a picture to keep, ``("", reason)`` otherwise: the
    status must be 200, the Content-Type a picture's, the size within
    ``max_bytes`` and the first bytes those of a JPEG, PNG, GIF or WebP."""
    if status != 200:
        return "", f"image HTTP {status}"
    ctype = _content_type(headers)
    if ctype not in _TYPES:
        return "", f"not an image: Content-Type {ctype or 'missing'}"
    if not body:
        return "", "empty image"
    if len(body) > max_bytes:
        return "", f"image too large: {len(body)} bytes > {max_bytes}"
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "webp", ""
    for magic, ext, _ in _KINDS:
        if body.startswith(magic):
            return ext, ""
    return "", f"not an image: {ctype} body is not JPEG, PNG, GIF or WebP"


def asset_relpath(sha256: str, ext: str) -> str:
    return f"assets/img/{sha256}.{ext}"


def snapshot_relpath(sha256: str) -> str:
    return f"raw/images/{sha256[:2]}/{sha256}.warc.gz"


def image_copy(resp: Fetched, ext: str) -> ImageCopy:
    sha = hashlib.sha256(resp.body).hexdigest()
    return ImageCopy(
        url=resp.url,
        sha256=sha,
        ext=ext,
        content_type=_content_type(resp.headers),
        bytes=len(resp.body),
        path=asset_relpath(sha, ext),
        snapshot=snapshot_relpath(sha),
        fetched_at=resp.fetched_at,
    )


def write_image(root: Path, resp: Fetched, ext: str) -> ImageCopy:
    """Write a checked picture's copy and its WARC; runs in a worker
    (crawler.workers). The WARC is written once per content: a second URL of
    the same bytes adds nothing (its row in ``images`` names the same files)."""
    copy = image_copy(resp, ext)
    atomic_write(inside(root, copy.path), resp.body, durable=False)
    warc = inside(root, copy.snapshot)
    if not warc.exists():
        atomic_write(warc, warc_bytes([resp]), durable=False)
    return copy


def _records(root: Path) -> Iterator[tuple[str, SnapshotRecord]]:
    for path in sorted((root / "raw" / "images").rglob("*.warc.gz")):
        for record in read_warc(path):
            if record.type == "response":
                yield path.relative_to(root).as_posix(), record


def restore_images(root: Path, max_bytes: int) -> tuple[list[ImageCopy], list[str]]:
    """``make rebuild``: every picture in ``raw/images/`` written back under
    ``assets/img/``; returns the copies (rows of ``images``) and what could not
    be read (a reason per file)."""
    copies: list[ImageCopy] = []
    problems: list[str] = []
    try:
        records = list(_records(root))
    except Exception as exc:  # a damaged file: reported, the rest restored
        return copies, [f"unreadable image snapshots: {exc}"]
    for relpath, record in records:
        resp = Fetched(record.url, record.status, record.headers, record.body, record.date)
        ext, reason = check_image(
            resp.status, resp.headers, resp.body, max(max_bytes, len(resp.body))
        )
        if reason:
            problems.append(f"{relpath}: {reason}")
            continue
        copy = image_copy(resp, ext)
        atomic_write(inside(root, copy.path), resp.body, durable=False)
        copies.append(copy)
    return copies, problems
