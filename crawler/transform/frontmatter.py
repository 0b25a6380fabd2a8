"""YAML front matter for the posts: PyYAML's output, written by libyaml when the
bytes are the same.

Titles are always double-quoted (:class:`DoubleQuoted`, as the existing
archive's posts are); text with a YAML 1.1 line break (NEL, LS, PS) is
double-quoted so it reads back; keys keep their order, nothing is wrapped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

__all__ = ["DoubleQuoted", "PostDumper", "Timestamp", "dump_front_matter"]


class DoubleQuoted(str):
    """A string PyYAML must emit in double quotes (the archive's titles)."""


class PostDumper(yaml.SafeDumper):
    """PyYAML's safe dumper with the representers of the posts' front matter."""


def _double_quoted(dumper: yaml.SafeDumper, value: DoubleQuoted) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style='"')


PostDumper.add_representer(DoubleQuoted, _double_quoted)


class Timestamp(str):
    """A date PyYAML must emit plain, as a YAML timestamp (``2021-12-08 10:46:18``):
    an imported post keeps the old one's ``date:`` as it was, and a zone-less
    timestamp (UTC to Jekyll) read as a quoted string would move its URL's day."""


def _timestamp(dumper: yaml.SafeDumper, value: Timestamp) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:timestamp", str(value))


PostDumper.add_representer(Timestamp, _timestamp)

# YAML 1.1 reads NEL, LS and PS as line breaks, yet PyYAML writes them raw in
# plain and single-quoted scalars, where they fold into a space: a summary with
# one would not read back. Double quotes escape them (\N, \L, \P).
_YAML_BREAKS = frozenset("\x85\u2028\u2029")


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if _YAML_BREAKS.intersection(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


PostDumper.add_representer(str, _str)

# libyaml's emitter (~5x faster than PyYAML's pure-Python one) writes the same
# bytes except for what it escapes differently: characters outside the BMP
# ("\U0001F600"), C1 controls, NEL, LS, PS and BOM. Front matter holding any
# of those goes through the Python emitter, so every post's bytes stay the same
# whichever is installed (tests/test_post.py compares both on hostile text).
_C_EMITTER_DIFFERS = re.compile("[\U00010000-\U0010ffff\x80-\x9f\u2028\u2029\ufeff]")

if getattr(yaml, "__with_libyaml__", False):

    class CPostDumper(yaml.CSafeDumper):
        """libyaml's safe dumper with the same representers as :class:`PostDumper`."""

    CPostDumper.add_representer(DoubleQuoted, _double_quoted)
    CPostDumper.add_representer(Timestamp, _timestamp)
    FAST_DUMPER: type | None = CPostDumper
else:  # pragma: no cover - PyYAML built without libyaml
    FAST_DUMPER = None


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)


def dump_front_matter(data: dict[str, Any], fast: bool = True) -> str:
    """YAML of the front matter; ``fast=False`` forces the Python emitter."""
    dumper: type = PostDumper
    if (
        fast
        and FAST_DUMPER is not None
        and not any(_C_EMITTER_DIFFERS.search(t) for t in _texts(data))
    ):
        dumper = FAST_DUMPER
    return yaml.dump(
        data,
        Dumper=dumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=1_000_000,
    )
