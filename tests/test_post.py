"""Front matter: libyaml's emitter (used for speed) and PyYAML's Python one
write the same bytes, and what they write reads back as the data."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.transform.frontmatter import FAST_DUMPER, DoubleQuoted, dump_front_matter

# Every code point class that matters: CJK, ASCII punctuation YAML cares about,
# controls (C0, C1), NEL/LS/PS, BOM, astral (emoji), surrogate-free.
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)),
    max_size=60,
) | st.sampled_from(
    [
        "",
        "null",
        "yes",
        "~",
        "- x",
        "a: b",
        "#x",
        "'q'",
        '"q"',
        "央行：降准",
        "\x85",
        "😀",
        "\ufeffx",
    ]
)


def front(title: str, summary: str, media: str, columns: list[str], stocks: list[str]) -> dict:
    return {
        "layout": "post",
        "title": DoubleQuoted(title),
        "date": "2022-06-14 10:45:40 +0800",
        "categories": "dongfangcaifu",
        "tags": f"{media}新闻",
        "info_code": "NW202206142411662101",
        "source": media,
        "columns": columns,
        "summary": summary,
        "stocks": stocks,
        "render_with_liquid": False,
    }


def plain(data: dict) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, DoubleQuoted) else v for k, v in data.items()}


def test_libyaml_is_there() -> None:
    # Without it the fast path silently is the slow one: the benchmark would lie.
    assert FAST_DUMPER is not None


@settings(max_examples=500, deadline=None)
@given(
    title=TEXT,
    summary=TEXT,
    media=TEXT,
    columns=st.lists(TEXT, max_size=3),
    stocks=st.lists(TEXT, max_size=3),
)
def test_fast_emitter_writes_the_same_bytes(title, summary, media, columns, stocks) -> None:
    data = front(title, summary, media, columns, stocks)
    fast = dump_front_matter(data)
    assert fast == dump_front_matter(data, fast=False)
    assert fast.splitlines()[1].startswith('title: "')
    assert yaml.safe_load(fast) == plain(data)


def test_known_differences_take_the_python_emitter() -> None:
    # libyaml alone would write "\U0001F600" for the emoji and escape NEL as "\x85".
    for text in ("涨停😀", "a\x85b", "x\u2028y", "\ufeffz", "\x9bq"):
        data = front(text, text, "新华社", [text], [])
        assert dump_front_matter(data) == dump_front_matter(data, fast=False)
        assert yaml.safe_load(dump_front_matter(data)) == plain(data)
    assert 'title: "央行"' in dump_front_matter(front("央行", "", "m", [], []))
