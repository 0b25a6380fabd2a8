"""The JSON (or JSONP) answers of Eastmoney's APIs: decoding and field text.

The list API answers JSONP when asked with ``callback=`` (``cb({...});``), and
either API may send a byte order mark; a field may be a string, a number or
anything else, and may carry lone surrogates (``"\\ud800"``) no file or
database can store.
"""

from __future__ import annotations

import json
import re
from typing import Any

# JSONP: "cb({...});" -> {...}
JSONP_RE = re.compile(r"^\s*[\w$.]+\s*\((.*)\)\s*;?\s*$", re.S)
SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        # Nested deeper than Python's stack (a 100,000-deep list): not an
        # answer, an unusable one, like any other malformed JSON.
        raise ValueError("JSON nested too deep") from None


def loads_answer(text: str) -> Any:
    """The answer's JSON document, JSONP unwrapped; ValueError when it is neither
    (absurdly deep nesting included)."""
    text = text.strip().lstrip("\ufeff")
    try:
        return _loads(text)
    except ValueError:
        m = JSONP_RE.match(text)
        if not m:
            raise
        return _loads(m.group(1))


def field_text(value: Any) -> str:
    """A field as stripped text: strings and numbers as written, anything else
    (null, booleans, objects, lists) as ""; lone surrogates become U+FFFD."""
    if value is None:
        return ""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return SURROGATE_RE.sub("\ufffd", str(value).strip())
    return ""
