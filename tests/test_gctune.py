"""The garbage-collector tuning of a crawl (crawler/gctune.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from scrapy.utils.test import get_crawler

from crawler import settings as project_settings
from crawler.gctune import OLDER_EVERY, GcTuning, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tune_gc_freezes_and_sets_thresholds(restored_gc: None) -> None:
    held = [[object()] for _ in range(100)]  # alive now: frozen
    assert tune_gc(12_345) is True
    assert gc.get_threshold() == (12_345, OLDER_EVERY, OLDER_EVERY)
    assert gc.get_freeze_count() >= len(held)


def test_zero_leaves_python_defaults(restored_gc: None) -> None:
    before = gc.get_threshold()
    assert tune_gc(0) is False
    assert gc.get_threshold() == before


def test_extension_applies_the_setting_when_the_engine_starts(restored_gc: None) -> None:
    base = {k: getattr(project_settings, k) for k in dir(project_settings) if k.isupper()}
    crawler = get_crawler(settings_dict={**base, "FINEWS_GC_THRESHOLD": 23_456})
    ext = GcTuning.from_crawler(crawler)
    assert gc.get_threshold()[0] != 23_456  # nothing before the engine starts
    ext.engine_started()
    assert gc.get_threshold() == (23_456, OLDER_EVERY, OLDER_EVERY)
    assert crawler.stats.get_value("finews/gc/threshold") == 23_456
