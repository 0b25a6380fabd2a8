"""Raw snapshots: every upstream response an article was built from, as WARC.

* list answers: ``raw/lists/YYYY/MM/DD/<sha1>.warc.gz`` (one per list page
  fetch, written once however many articles it lists);
* an article: ``raw/articles/YYYY/MM/<infoCode>.warc.gz`` holding a
  ``metadata`` record (columns, the list snapshots it came from, the fields
  that came from the list) and a ``response`` record per body response (page,
  Choice text, failed attempts too). A refresh appends to the same file, so
  the file is the article's whole history;
* failures: ``raw/failures/YYYY/MM/DD/<sha1>.warc.gz``.

Bodies are kept byte for byte as Scrapy received them (after transfer
decoding: ``Content-Encoding`` is renamed ``X-Archive-Orig-Content-Encoding``).
Record ids and dates derive from the content, so the same input gives the
same bytes. The URLs are Eastmoney's canonical ones, whatever origin served
them. The database stores each article's snapshot path: ``make rebuild`` can
recreate posts and rows from ``raw/`` alone.

Settings: FINEWS_ARCHIVE_DIR. Stats: ``finews/snapshot/articles``, ``finews/snapshot/unchanged``,
``finews/snapshot/lists``, ``finews/snapshot/failures``, ``finews/snapshot/bytes``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.config import FinewsConfig
from crawler.files import atomic_write, inside
from crawler.items import Article, Failure, Fetched
from crawler.workers import Workers

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

_NS = uuid.UUID("6f1d3c1e-8b0e-4c55-9d2a-6e1e3f0a5b7c")
_DROP_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}
METADATA_URI = "urn:finews:article:{info_code}"


def _warc_date(fetched_at: str) -> str:
    return fetched_at if fetched_at.endswith("Z") else fetched_at + "Z"


def _record_id(*parts: str | bytes) -> str:
    h = hashlib.sha1()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\0")
    return f"<urn:uuid:{uuid.uuid5(_NS, h.hexdigest())}>"


def _http_headers(resp: Fetched) -> StatusAndHeaders:
    headers: list[tuple[str, str]] = []
    for name, value in resp.headers:
        if name.lower() == "content-encoding":
            headers.append(("X-Archive-Orig-Content-Encoding", value))
        elif name.lower() not in _DROP_HEADERS:
            headers.append((name, value))
    headers.append(("Content-Length", str(len(resp.body))))
    return StatusAndHeaders(f"{resp.status} -", headers, protocol="HTTP/1.1")


def _b32_sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def _record(headers: list[tuple[str, str]], block: bytes) -> bytes:
    """One WARC record as its own gzip member (level 9, as warcio writes them)."""
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    head += f"Content-Length: {len(block)}\r\n\r\n"
    data = head.encode("utf-8") + block + b"\r\n\r\n"
    compressor = zlib.compressobj(9, zlib.DEFLATED, _window_bits(len(data)) + 16)
    return compressor.compress(data) + compressor.flush()


def _window_bits(size: int) -> int:
    """The smallest deflate window that holds ``size`` bytes (plus zlib's 262
    of lookahead), 2^9 to 2^15. Input that fits the window gives the same bytes
    as the 32 KiB window warcio uses (tests/test_snapshot.py checks), and
    setting up a small window is cheaper: ~30 µs less per record of a 7 KB page."""
    return max(9, min(zlib.MAX_WBITS, (size + 261).bit_length()))


def _header_line(line: str) -> bytes:
    """One HTTP header line as it was on the wire: ``Fetched`` headers are
    latin-1 decodings of the received bytes, so latin-1 gives those bytes back;
    text that is not latin-1 (headers a browser reported) is written as UTF-8."""
    try:
        return line.encode("latin-1")
    except UnicodeEncodeError:
        return line.encode("utf-8", "replace")


def _http_block(resp: Fetched) -> bytes:
    http = _http_headers(resp)
    lines = [f"HTTP/1.1 {http.statusline}"]
    for name, value in http.headers:
        # A browser reports repeated headers joined by newlines: one line each,
        # so no value can break the header block.
        for part in value.replace("\r", "").split("\n"):
            lines.append(f"{name}: {part}")
    return b"\r\n".join(_header_line(line) for line in lines) + b"\r\n\r\n"


def warc_bytes(responses: list[Fetched], metadata: dict[str, Any] | None = None) -> bytes:
    """Gzipped WARC records (metadata first) for ``responses``. Deterministic.

    Writes the records itself (same header order, digests and gzip members as
    warcio, whose bytes :func:`warc_bytes_warcio` gives and tests/test_snapshot.py
    compares), at a quarter of the cost. Header values that are not ASCII keep
    their received bytes (warcio would percent-encode them, or fail: a value
    like ``;\x80=0`` made it raise).
    """
    parts: list[bytes] = []
    if metadata is not None:
        payload = json.dumps(metadata, ensure_ascii=False, sort_keys=True, indent=1).encode()
        digest = _b32_sha1(payload)
        headers = [
            ("WARC-Record-ID", _record_id("metadata", payload)),
            ("WARC-Date", _warc_date(metadata.get("fetched_at") or "1970-01-01T00:00:00Z")),
            ("WARC-Type", "metadata"),
            ("WARC-Target-URI", METADATA_URI.format(info_code=metadata.get("info_code", ""))),
            ("WARC-Payload-Digest", digest),
            ("WARC-Block-Digest", digest),
            ("Content-Type", "application/json"),
        ]
        parts.append(_record(headers, payload))
    for resp in responses:
        block = _http_block(resp) + resp.body
        headers = [
            ("WARC-Record-ID", _record_id(resp.key)),
            ("WARC-Date", _warc_date(resp.fetched_at)),
            ("WARC-Type", "response"),
            ("WARC-Target-URI", resp.url),
            ("WARC-Payload-Digest", _b32_sha1(resp.body)),
            ("WARC-Block-Digest", _b32_sha1(block)),
            ("Content-Type", "application/http; msgtype=response"),
        ]
        parts.append(_record(headers, block))
    return b"".join(parts)


def warc_bytes_warcio(responses: list[Fetched], metadata: dict[str, Any] | None = None) -> bytes:
    """:func:`warc_bytes` written by warcio: the reference for plain-ASCII headers."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    if metadata is not None:
        payload = json.dumps(metadata, ensure_ascii=False, sort_keys=True, indent=1).encode()
        uri = METADATA_URI.format(info_code=metadata.get("info_code", ""))
        record = writer.create_warc_record(
            uri,
            "metadata",
            payload=io.BytesIO(payload),
            warc_content_type="application/json",
            warc_headers_dict={
                "WARC-Record-ID": _record_id("metadata", payload),
                "WARC-Date": _warc_date(metadata.get("fetched_at") or "1970-01-01T00:00:00Z"),
            },
        )
        writer.write_record(record)
    for resp in responses:
        record = writer.create_warc_record(
            resp.url,
            "response",
            payload=io.BytesIO(resp.body),
            http_headers=_http_headers(resp),
            warc_headers_dict={
                "WARC-Record-ID": _record_id(resp.key),
                "WARC-Date": _warc_date(resp.fetched_at),
            },
        )
        writer.write_record(record)
    return out.getvalue()


@dataclass
class SnapshotRecord:
    """A record read back from a snapshot file."""

    type: str
    url: str
    date: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def read_warc(path: Path) -> Iterator[SnapshotRecord]:
    """Records of a snapshot file, in order (used by rebuild and tests)."""
    with path.open("rb") as fh:
        for rec in ArchiveIterator(fh):
            status = 0
            headers: list[tuple[str, str]] = []
            if rec.http_headers is not None:
                status = int(rec.http_headers.get_statuscode() or 0)
                headers = list(rec.http_headers.headers)
            yield SnapshotRecord(
                type=rec.rec_type,
                url=rec.rec_headers.get_header("WARC-Target-URI") or "",
                date=rec.rec_headers.get_header("WARC-Date") or "",
                status=status,
                headers=headers,
                body=rec.content_stream().read(),
            )


def list_snapshot_path(resp: Fetched) -> str:
    day = resp.fetched_at[:10].replace("-", "/")
    return f"raw/lists/{day}/{resp.key}.warc.gz"


def article_snapshot_path(article: Article) -> str:
    y, m = article.published[:4], article.published[5:7]
    return f"raw/articles/{y}/{m}/{article.info_code}.warc.gz"


def failure_snapshot_path(failure: Failure, key: str) -> str:
    day = (failure.responses[0].fetched_at if failure.responses else "")[:10].replace("-", "/")
    return f"raw/failures/{day or 'undated'}/{key}.warc.gz"


def article_metadata(article: Article, list_paths: list[str]) -> dict[str, Any]:
    """What the snapshot must hold beyond the responses to rebuild the article."""
    return {
        "info_code": article.info_code,
        "code": article.code,
        "column_ids": sorted(set(article.column_ids)),
        "list_snapshots": list_paths,
        "body_source": article.body_source,
        "fetched_at": article.fetched_at,
        # From the list answer (or the page when there was none); kept so a
        # rebuild does not depend on finding the entry in a list snapshot.
        "title": article.title,
        "published": article.published,
        "media": article.media,
        "summary": article.summary,
        "refresh": article.refresh,
    }


def unchanged(article: Article) -> bool:
    """A refreshed article whose body and columns are what the archive holds."""
    return article.content_sha256 == article.previous_sha256 and sorted(
        set(article.column_ids)
    ) == sorted(set(article.previous_column_ids))


def write_article_snapshot(path: Path, responses: list[Fetched], metadata: dict[str, Any]) -> int:
    """Write an article's WARC (a refresh appends to the file it already has);
    returns the bytes written, 0 when the file already held them. Runs in a
    worker process (crawler.offload) when FINEWS_WORKERS > 0."""
    data = warc_bytes(responses, metadata)
    if metadata.get("refresh") and path.exists():
        # Appending whole gzip members keeps one valid WARC file.
        old = path.read_bytes()
        data = old + data if not old.endswith(data) else old
    return len(data) if atomic_write(path, data, durable=False) else 0


class SnapshotPipeline:
    """Writes WARC snapshots; sets ``Article.snapshot`` / ``Failure.snapshot``.

    An article's WARC is written by :func:`write_article_snapshot` in a worker
    (crawler.workers); the shared list answers and the failures (small, rare)
    here. Files are written without an fsync each; the index stage syncs the
    file system before the rows naming them are committed. Settings:
    FINEWS_ARCHIVE_DIR, FINEWS_WORKERS. Stats: ``finews/snapshot/articles``,
    ``finews/snapshot/lists``, ``finews/snapshot/failures``,
    ``finews/snapshot/unchanged``, ``finews/snapshot/bytes``.
    """

    def __init__(self, crawler: Crawler, cfg: FinewsConfig) -> None:
        self.stats = crawler.stats
        self.root = cfg.archive_dir
        self.lists_written: dict[str, str] = {}  # list answer key -> its snapshot
        self.workers = Workers.for_crawler(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SnapshotPipeline:
        return cls(crawler, FinewsConfig.from_settings(crawler.settings))

    def _inc(self, key: str, n: int = 1) -> None:
        self.stats.inc_value(f"finews/snapshot/{key}", n)

    def _write(self, relpath: str, data: bytes) -> None:
        if atomic_write(inside(self.root, relpath), data, durable=False):
            self._inc("bytes", len(data))

    def write_list(self, resp: Fetched) -> str:
        # Every article of a list page carries that page: written (or found) once.
        relpath = self.lists_written.get(resp.key)
        if relpath is None:
            relpath = list_snapshot_path(resp)
            if not inside(self.root, relpath).exists():
                self._write(relpath, warc_bytes([resp]))
                self._inc("lists")
            self.lists_written[resp.key] = relpath
        return relpath

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, Article):
            adapter = ItemAdapter(item)
            if adapter["snapshot"]:
                return item  # rebuilt from its snapshot: nothing to write
            list_paths = [self.write_list(r) for r in adapter["list_responses"]]
            relpath = article_snapshot_path(item)
            path = inside(self.root, relpath)
            if adapter["refresh"] and unchanged(item) and path.exists():
                # A refresh that found nothing new adds nothing to the history.
                adapter["snapshot"] = relpath
                self._inc("unchanged")
                return item
            metadata = article_metadata(item, list_paths)
            size = await self.workers.run(
                write_article_snapshot, path, adapter["body_responses"], metadata
            )
            if size:
                self._inc("bytes", size)
            adapter["snapshot"] = relpath
            self._inc("articles")
        elif isinstance(item, Failure):
            adapter = ItemAdapter(item)
            if responses := adapter["responses"]:
                key = hashlib.sha1(b"".join(r.key.encode() for r in responses)).hexdigest()
                relpath = failure_snapshot_path(item, key)
                self._write(relpath, warc_bytes(responses))
                adapter["snapshot"] = relpath
                self._inc("failures")
        return item
