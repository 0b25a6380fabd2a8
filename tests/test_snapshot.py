"""WARC snapshots: finews writes its records itself (for speed); the bytes must
be exactly what warcio writes, and read back through warcio."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.items import Fetched
from pipelines.snapshot import read_warc, warc_bytes, warc_bytes_warcio

HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
HEADERS = st.lists(
    st.tuples(st.sampled_from(["Content-Type", "Server", "Content-Encoding", "X-A"]), HEADER_TEXT)
    | st.tuples(st.just("X-Cn"), st.text(max_size=5)),  # non-ASCII: the warcio path
    max_size=4,
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
def test_direct_records_are_warcio_bytes(responses: list[Fetched], metadata) -> None:
    assert warc_bytes(responses, metadata) == warc_bytes_warcio(responses, metadata)


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
