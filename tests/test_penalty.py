"""The pure parts of the middlewares, without Scrapy: penalty arithmetic, JSON answers.

(DomainBackoff, Retry-After and block_kind are exercised in tests/test_faults.py too.)"""

from __future__ import annotations

import random

import pytest

from crawler.middlewares.blockpages import expects_json, looks_like_json
from crawler.middlewares.penalty import DomainBackoff, domain_of, retry_backoff


def test_every_eastmoney_host_is_one_domain() -> None:
    assert domain_of("finance.eastmoney.com") == "eastmoney.com"
    assert domain_of("NP-ListAPI.EastMoney.com") == "eastmoney.com"
    assert domain_of("eastmoney.com") == "eastmoney.com"
    assert domain_of("noteastmoney.com") == "noteastmoney.com"
    assert domain_of("127.0.0.1") == "127.0.0.1"
    assert domain_of("") == ""


def test_retry_backoff_doubles_is_capped_and_jittered() -> None:
    rng = random.Random(7)
    for retries, full in [(0, 2.0), (1, 4.0), (3, 16.0), (10, 60.0), (10_000, 60.0)]:
        waits = [retry_backoff(2.0, 60.0, retries, rng) for _ in range(200)]
        assert all(full * 0.5 <= w <= full for w in waits), retries
        assert max(waits) - min(waits) > full * 0.3  # jittered, not one value


def test_penalty_is_off_below_base_and_pause_never_shortens() -> None:
    state = DomainBackoff(base=2.0, cap=10.0, recover_after=1)
    assert state.penalize(now=0.0) == 2.0 and state.resume_at == 2.0
    assert state.penalize(now=0.5, wait=30.0) == 10.0  # Retry-After, capped
    assert state.floor == 4.0 and state.resume_at == 10.5
    state.penalize(now=1.0, wait=0.0)
    assert state.resume_at == 10.5  # a shorter pause does not move it earlier
    assert state.success() and state.floor == 4.0
    assert state.success() and state.floor == 2.0
    assert state.success() and state.floor == 0.0  # under base: off
    assert not state.success()  # nothing to bring down


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ('{"code":1}', True),
        ('\ufeff {"code":1}\n', True),
        ('jQuery123_456({"code":1});', True),
        ('cb({"code":1', False),
        ("<html></html>", False),
        ("cb(<html>);", False),
        ("", False),
    ],
)
def test_looks_like_json_takes_json_and_jsonp(text: str, ok: bool) -> None:
    assert looks_like_json(text) is ok


def test_expects_json_goes_by_path_whatever_the_origin() -> None:
    assert expects_json("https://np-listapi.eastmoney.com/comm/web/getNewsByColumns?column=1")
    assert expects_json("http://127.0.0.1:8000/NewsData/GetNewsText.do?id=NW1")
    assert not expects_json("https://finance.eastmoney.com/a/202611233592418806.html")
