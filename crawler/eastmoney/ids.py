"""Eastmoney article ids and times: the shapes finews accepts.

An article code is 18 digits (some old ones 17), ``YYYYMMDD`` first; its
infoCode (the Choice terminal's id) is ``NW`` + the code. Ids and dates become
file paths, so nothing else gets through: every pattern is ``re.ASCII`` (``\\d``
must not match other scripts' digits: "٢٠٢٦…" is not a code) and ends at
``\\Z`` (``$`` would accept a trailing newline).
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

CODE_RE = re.compile(r"^\d{17,18}\Z", re.ASCII)
INFO_CODE_RE = re.compile(r"^NW\d{17,18}\Z", re.ASCII)
SHOW_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\Z", re.ASCII)


def valid_show_time(value: str) -> bool:
    """``YYYY-MM-DD HH:MM:SS`` that names a real moment (no 2026-02-30, no 25:00)."""
    if not SHOW_TIME_RE.match(value):
        return False
    try:
        # The fields' positions are fixed by the pattern; datetime() checks the
        # ranges (strptime does the same, ~10x slower: twice per article page).
        datetime(
            int(value[0:4]),
            int(value[5:7]),
            int(value[8:10]),
            int(value[11:13]),
            int(value[14:16]),
            int(value[17:19]),
        )
    except ValueError:
        return False
    return True


def code_from_id(value: str) -> str | None:
    """Article code from an infoCode, a bare code or any article URL form.

    >>> code_from_id("NW202206142411662087")
    '202206142411662087'
    >>> code_from_id("http://finance.eastmoney.com/news/1350,202206142411662087.html")
    '202206142411662087'
    """
    value = value.strip()
    if INFO_CODE_RE.match(value):
        return value[2:]
    if CODE_RE.match(value):
        return value
    if value.startswith(("http://", "https://", "//")):
        path = urlsplit(value if not value.startswith("//") else "https:" + value).path
        # /a/<code>.html, /news/1<column>,<code>.html, caifuhao /news/<code>
        m = re.search(r"(?:/a/|,|/news/)(\d{17,18})(?:\.html)?\Z", path, re.ASCII)
        if m:
            return m.group(1)
    return None


# The head of a legacy URL cut at its comma: "http://finance.eastmoney.com/news/1350".
_LEGACY_HEAD_RE = re.compile(r"/news/1\d+$")


def split_ids(text: str) -> list[str]:
    """Split a comma list of ids and URLs, keeping legacy URLs whole.

    Legacy article URLs hold a comma themselves
    (``http://finance.eastmoney.com/news/1350,202206142411662087.html``).
    """
    parts: list[str] = []
    for piece in text.split(","):
        piece = piece.strip()
        if parts and _LEGACY_HEAD_RE.search(parts[-1]):
            parts[-1] += "," + piece
        elif piece:
            parts.append(piece)
    return parts
