"""WARC snapshots: warcio writes the records (crawler.transform.warc); the bytes
must be exactly what plain warcio writes (the oracle below) wherever it can
write them, stay what finews wrote before, and read back through warcio."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.items import Fetched
from crawler.transform.warc import (
    METADATA_URI,
    read_warc,
    record_id,
    response_headers,
    warc_bytes,
    warc_date,
)


def warc_bytes_warcio(responses: list[Fetched], metadata: dict[str, Any] | None = None) -> bytes:
    """:func:`warc_bytes` written by plain warcio: the reference for ASCII headers."""
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
                "WARC-Record-ID": record_id("metadata", payload),
                "WARC-Date": warc_date(metadata.get("fetched_at") or "1970-01-01T00:00:00Z"),
            },
        )
        writer.write_record(record)
    for resp in responses:
        http = StatusAndHeaders(f"{resp.status} -", response_headers(resp), protocol="HTTP/1.1")
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


HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
NAMES = st.sampled_from(["Content-Type", "Server", "Content-Encoding", "X-A"])
HEADERS = st.lists(st.tuples(NAMES, HEADER_TEXT), max_size=4)
# What a response can carry besides: bytes 0x80-0xff (decoded as latin-1 by
# the spider), text a browser reported, repeated headers joined by newlines.
ODD_HEADERS = st.lists(
    st.tuples(st.just("X-Cn"), st.text(st.characters(max_codepoint=0x2FF), max_size=8))
    | st.tuples(st.just("X-Odd"), st.sampled_from([";\x80=0", "a\nb", "\u592e\u884c", "x\r\ny"])),
    min_size=1,
    max_size=3,
)
FETCHED = st.builds(
    Fetched,
    url=st.sampled_from(
        [
            "https://finance.eastmoney.com/a/202206142411662101.html",
            "https://np-listapi.eastmoney.com/comm/web/getNewsByColumns?column=350&p=1",
            "https://finance.eastmoney.com/a/中文.html",
        ]
    ),
    status=st.sampled_from([200, 404, 500]),
    headers=HEADERS,
    body=st.binary(max_size=3000) | st.text(max_size=500).map(str.encode),
    fetched_at=st.sampled_from(["2026-11-24T02:16:58Z", "2026-11-24T02:16:58"]),
)
METADATA = st.none() | st.fixed_dictionaries(
    {"info_code": st.sampled_from(["NW202206142411662101", "NW中"]), "title": st.text(max_size=20)},
    optional={"fetched_at": st.just("2026-11-24T02:16:59Z")},
)


@settings(max_examples=300, deadline=None)
@given(responses=st.lists(FETCHED, max_size=3), metadata=METADATA)
def test_records_are_warcio_bytes(responses: list[Fetched], metadata) -> None:
    assert warc_bytes(responses, metadata) == warc_bytes_warcio(responses, metadata)


@settings(max_examples=300, deadline=None)
@given(resp=FETCHED, odd=ODD_HEADERS)
def test_any_header_is_kept_and_reads_back(resp: Fetched, odd, tmp_path_factory) -> None:
    """Header values warcio cannot write (it raised on ``;\x80=0``) are kept as
    their received bytes; a value with newlines becomes one line per part; the
    file reads back whole."""
    resp.headers = resp.headers + odd
    data = warc_bytes([resp])
    raw = gzip.decompress(data)
    for name, value in odd:
        for part in value.replace("\r", "").split("\n"):
            line = f"{name}: {part}\r\n"
            try:
                expected = line.encode("latin-1")
            except UnicodeEncodeError:
                expected = line.encode("utf-8", "replace")
            assert expected in raw
    path = tmp_path_factory.mktemp("w") / "a.warc.gz"
    path.write_bytes(data)
    (record,) = list(read_warc(path))
    assert record.body == resp.body and record.status == resp.status
    assert len([h for h in record.headers if h[0] in ("X-Cn", "X-Odd")]) == sum(
        len(v.replace("\r", "").split("\n")) for _, v in odd
    )


def test_read_back(tmp_path) -> None:
    resp = Fetched(
        url="https://finance.eastmoney.com/a/202206142411662101.html",
        status=200,
        headers=[("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")],
        body="<p>央行</p>".encode(),
        fetched_at="2026-11-24T02:16:58Z",
    )
    path = tmp_path / "a.warc.gz"
    path.write_bytes(warc_bytes([resp], {"info_code": "NW1", "fetched_at": resp.fetched_at}))
    records = list(read_warc(path))
    assert [r.type for r in records] == ["metadata", "response"]
    assert records[0].url == "urn:finews:article:NW1"
    assert records[1].url == resp.url and records[1].status == 200
    assert records[1].body == resp.body
    assert ("X-Archive-Orig-Content-Encoding", "gzip") in records[1].headers
    assert records[1].date == "2026-11-24T02:16:58Z"


def test_window_sizes_give_warcio_bytes() -> None:
    """Records of every size around the deflate window boundaries (2^9..2^15
    bytes, minus zlib's 262 of lookahead; finews once picked the smallest
    window per record) and past the largest: the bytes are warcio's."""
    import random

    rnd = random.Random(7)
    words = [b"\xe5\xa4\xae\xe8\xa1\x8c", b"<p>", b"</p>", b"600519", b" ", b"\n", b"rate"]
    sizes = [0, 1, 100]
    for bits in range(9, 16):
        edge = (1 << bits) - 262
        sizes += [edge - 400, edge - 300, edge - 1, edge, edge + 1]
    sizes += [40_000, 70_000]
    for size in sizes:
        body = b"".join(rnd.choice(words) for _ in range(size))[: max(size - 200, 0)]
        resp = Fetched(
            url="https://finance.eastmoney.com/a/202206142411662101.html",
            status=200,
            headers=[("Content-Type", "text/html")],
            body=body,
            fetched_at="2026-11-24T02:16:58Z",
        )
        assert warc_bytes([resp]) == warc_bytes_warcio([resp]), size


ODD = Fetched(
    url="https://finance.eastmoney.com/a/202206142411662101.html",
    status=200,
    headers=[
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Encoding", "gzip"),
        ("X-Odd", ";\x80=0"),
        ("X-Cn", "\u592e\u884c"),
        ("X-Latin", "caf\xe9"),
        ("X-Joined", "a\nb\r\nc"),
    ],
    body="<p>央行</p>".encode(),
    fetched_at="2026-11-24T02:16:58Z",
)


def test_why_received_headers_wrap_warcio() -> None:
    """Plain warcio cannot write these headers as received: it raises on a
    ``;`` parameter holding a byte 0x80-0xff and percent-encodes other
    non-ASCII values. warc_bytes keeps the received bytes."""
    with pytest.raises(UnicodeEncodeError):
        warc_bytes_warcio([ODD])
    cn = dataclasses.replace(ODD, headers=[("X-Cn", "\u592e\u884c")])
    assert b"X-Cn: %E5%A4%AE%E8%A1%8C\r\n" in gzip.decompress(warc_bytes_warcio([cn]))
    raw = gzip.decompress(warc_bytes([ODD]))
    for line in (b"X-Odd: ;\x80=0", "X-Cn: 央行".encode(), b"X-Latin: caf\xe9"):
        assert line + b"\r\n" in raw
    assert b"X-Joined: a\r\nX-Joined: b\r\nX-Joined: c\r\n" in raw


def test_odd_headers_give_the_bytes_finews_wrote() -> None:
    """The digest of what finews's own writer (before warcio wrote the records)
    gave for the same odd response: the archive's bytes did not change."""
    data = warc_bytes([ODD], {"info_code": "NW1", "fetched_at": ODD.fetched_at})
    assert len(data) == 732
    assert hashlib.sha256(data).hexdigest() == (
        "0eb9d76090030ae68757c77225441961b22d093bd9766c05772076dbaf626fe4"
    )
