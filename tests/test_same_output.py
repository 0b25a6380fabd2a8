"""Same input, same bytes out, across versions of finews.

The reference digest (tests/fixtures/golden/replica.json, see tests/golden.py)
was recorded by finews before the "one room per concern" restructure. A crawl
of the replica today — article pages, Choice bodies, and a rebuild from the
snapshots — must give the same posts, WARC payloads and database rows.
"""

from __future__ import annotations

import json

import pytest

from tests.golden import REFERENCE, crawl_all


@pytest.fixture(scope="module")
def today(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return crawl_all(tmp_path_factory.mktemp("golden"))


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


@pytest.mark.parametrize("crawl", ["page", "choice", "rebuild"])
@pytest.mark.parametrize("part", ["exit", "posts", "categories", "warc", "rows"])
def test_same_output_as_the_reference(today: dict, reference: dict, crawl: str, part: str) -> None:
    ours, theirs = today[crawl][part], reference[crawl][part]
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs), f"{crawl}: other {part} names"
        changed = [name for name in theirs if ours[name] != theirs[name]]
        assert not changed, f"{crawl}: {part} differ: {changed[:10]}"
    assert ours == theirs


def test_the_reference_covers_the_replica(reference: dict) -> None:
    """The reference is not trivially empty: 40 posts, rows and snapshots each way."""
    for crawl in ("page", "choice", "rebuild"):
        assert len(reference[crawl]["posts"]) == 40
        assert len(reference[crawl]["rows"]["articles"]) == 40
    assert reference["page"]["exit"] == 5  # the replica's body-less article: partial
    assert len(reference["page"]["rows"]["failures"]) == 1
