"""WARC records of upstream responses, written by warcio and read back by it.

Each record is its own gzip member (warcio's ``WARCWriter(gzip=True)``), so
files can be appended to. Record ids and dates derive from the content
(:func:`record_id`, :func:`warc_date`), so the same input gives the same bytes.
Bodies are kept byte for byte as Scrapy received them (after transfer
decoding: ``Content-Encoding`` is renamed ``X-Archive-Orig-Content-Encoding``).

warcio writes everything except the HTTP header block of a response whose
headers are not ASCII: :class:`ReceivedHeaders` writes those as received.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.items import Fetched

__all__ = [
    "METADATA_URI",
    "ReceivedHeaders",
    "SnapshotRecord",
    "read_warc",
    "record_id",
    "resource_bytes",
    "response_headers",
    "warc_bytes",
    "warc_damage",
    "warc_date",
]

_NS = uuid.UUID("6f1d3c1e-8b0e-4c55-9d2a-6e1e3f0a5b7c")
_DROP_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}
METADATA_URI = "urn:finews:article:{info_code}"


def warc_date(fetched_at: str) -> str:
    """``WARC-Date`` of a fetch stamp (``Z`` added when it has none)."""
    return fetched_at if fetched_at.endswith("Z") else fetched_at + "Z"


def record_id(*parts: str | bytes) -> str:
    """A ``WARC-Record-ID`` derived from ``parts`` (a uuid5 of their digest)."""
    h = hashlib.sha1()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\0")
    return f"<urn:uuid:{uuid.uuid5(_NS, h.hexdigest())}>"


def response_headers(resp: Fetched) -> list[tuple[str, str]]:
    """The HTTP headers a response record holds: ``Content-Encoding`` renamed,
    the transfer headers dropped, ``Content-Length`` of the body as kept.

    A browser reports repeated headers joined by newlines: one header each, so
    no value can break the header block.
    """
    headers: list[tuple[str, str]] = []
    for name, value in resp.headers:
        if name.lower() == "content-encoding":
            name = "X-Archive-Orig-Content-Encoding"
        elif name.lower() in _DROP_HEADERS:
            continue
        headers.extend((name, part) for part in value.replace("\r", "").split("\n"))
    headers.append(("Content-Length", str(len(resp.body))))
    return headers


def _header_line(line: str) -> bytes:
    """One HTTP header line as it was on the wire: ``Fetched`` headers are
    latin-1 decodings of the received bytes, so latin-1 gives those bytes back;
    text that is not latin-1 (headers a browser reported) is written as UTF-8."""
    try:
        return line.encode("latin-1")
    except UnicodeEncodeError:
        return line.encode("utf-8", "replace")


class ReceivedHeaders(StatusAndHeaders):
    """An HTTP header block that warcio writes as received, not as ASCII.

    warcio writes the block as ASCII: a value with other characters is
    percent-encoded (RFC 8187), which changes the bytes that were received,
    and a ``;`` parameter holding a byte 0x80-0xff (``;\\x80=0``) makes it
    raise ``UnicodeEncodeError`` (tests/test_snapshot.py shows both). An ASCII
    block is warcio's own; any other is written line by line with
    :func:`_header_line`.
    """

    def compute_headers_buffer(self, header_filter: Any = None) -> None:
        lines = [f"{self.protocol} {self.statusline}", *(f"{n}: {v}" for n, v in self.headers)]
        if header_filter is not None or all(line.isascii() for line in lines):
            super().compute_headers_buffer(header_filter)
            return
        self.headers_buff = b"\r\n".join(_header_line(line) for line in lines) + b"\r\n\r\n"


def warc_bytes(responses: list[Fetched], metadata: dict[str, Any] | None = None) -> bytes:
    """Gzipped WARC records (a ``metadata`` record first) for ``responses``.

    Deterministic: ids and dates come from the content, the metadata is JSON
    with sorted keys.
    """
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    if metadata is not None:
        payload = json.dumps(metadata, ensure_ascii=False, sort_keys=True, indent=1).encode()
        record = writer.create_warc_record(
            METADATA_URI.format(info_code=metadata.get("info_code", "")),
            "metadata",
            payload=io.BytesIO(payload),
            warc_content_type="application/json",
            warc_headers_dict={
                "WARC-Record-ID": record_id("metadata", payload),
                "WARC-Date": warc_date(metadata.get("fetched_at") or "1970-01-01T00:00:00Z"),
            },
        )
        writer.write_record(record)
    for resp in responses:
        http = ReceivedHeaders(f"{resp.status} -", response_headers(resp), protocol="HTTP/1.1")
        record = writer.create_warc_record(
            resp.url,
            "response",
            payload=io.BytesIO(resp.body),
            http_headers=http,
            warc_headers_dict={
                "WARC-Record-ID": record_id(resp.key),
                "WARC-Date": warc_date(resp.fetched_at),
            },
        )
        writer.write_record(record)
    return out.getvalue()


def resource_bytes(
    uri: str, payload: bytes, content_type: str, date: str, metadata: dict[str, Any]
) -> bytes:
    """Gzipped WARC records of a file kept byte for byte (an imported post): a
    ``metadata`` record (``metadata``, JSON with sorted keys) then a
    ``resource`` record holding ``payload`` as it is. Deterministic: the ids
    derive from the content, ``date`` (ISO UTC) is the file's own time."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    meta = json.dumps(metadata, ensure_ascii=False, sort_keys=True, indent=1).encode()
    for rec_type, body, ctype in (
        ("metadata", meta, "application/json"),
        ("resource", payload, content_type),
    ):
        record = writer.create_warc_record(
            uri,
            rec_type,
            payload=io.BytesIO(body),
            warc_content_type=ctype,
            warc_headers_dict={
                "WARC-Record-ID": record_id(rec_type, uri, body),
                "WARC-Date": warc_date(date),
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


def _members_damage(data: bytes) -> str:
    """Why the gzip members of ``data`` are not all whole (CRC, length, end), or ""."""
    offset = 0
    rest = data
    while rest:
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            member.decompress(rest)
        except zlib.error as e:
            return f"gzip member at byte {offset} is corrupt ({e})"
        if not member.eof:
            return f"cut inside the gzip member at byte {offset} (file is {len(data)} bytes)"
        offset += len(rest) - len(member.unused_data)
        rest = member.unused_data
    return ""


def warc_damage(data: bytes, article: bool = True, bodies: bool = True) -> str:
    """Why ``data`` is not a whole snapshot file, or "" when it reads whole.

    Whole means: every gzip member complete (warcio silently stops at, or
    returns a short body for, a cut member), every record's block as long as
    its ``Content-Length``, and (``article``) a ``metadata`` record with an
    infoCode first and (``bodies``) a response after each metadata record (a
    fetch always has a body response), or the ``resource`` record of an
    imported file; a list or failure file holds at least one response. A 7×24
    item's file (``bodies=False``) may hold metadata alone: its body can be a
    column article's, in that article's own file.
    """
    if not data:
        return "empty file"
    if reason := _members_damage(data):
        return reason
    kinds: list[str] = []
    try:
        for rec in ArchiveIterator(io.BytesIO(data), no_record_parse=True):
            declared = int(rec.rec_headers.get_header("Content-Length") or -1)
            block = rec.raw_stream.read()
            if len(block) != declared:
                return f"record {len(kinds) + 1} holds {len(block)} of {declared} bytes"
            if rec.rec_type == "metadata":
                meta = json.loads(block)
                if not isinstance(meta, dict) or not str(meta.get("info_code", "")):
                    return f"record {len(kinds) + 1}: metadata without an infoCode"
            kinds.append(rec.rec_type)
    except Exception as e:  # anything warcio cannot parse is damage, named
        return f"unreadable after {len(kinds)} records ({type(e).__name__}: {e})"[:300]
    if not article:
        return "" if "response" in kinds else "no response record"
    if not kinds or kinds[0] != "metadata":
        return "does not start with a metadata record"
    for i, kind in enumerate(kinds):
        body = i + 1 < len(kinds) and kinds[i + 1] in ("response", "resource")
        if bodies and kind == "metadata" and not body:
            return f"metadata record {i + 1} has no response after it"
    return ""
