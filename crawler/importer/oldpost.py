"""One post of the old archive, read from its bytes: pure, tolerant, never raising
anything but :class:`ImportProblem` (a reason for the ``failures`` table).

The old generator wrote front matter with f-strings, so it is read line by line,
not as YAML: ``title: "<title>"`` whose title holds an ASCII ``"`` is not valid
YAML (the title is recovered from the raw line), ``date:`` comes with or without
`` +0800`` (or empty: ``date:  +0800`` in ``_posts/-<code>.md``), a blank line may
precede the opening ``---``, the file may lack a final newline, lines may end in
CRLF. The body ends with up to three trailers, each optional: the legacy
``<url_w>`` link (emnews) or the share link (zning.xyz / choicewzp1), and one of
the footers (``[返回…](…)`` back links, on one line with ``｜`` or on two, to
``../``, ``./``, ``//finews.zning.me/`` or ``//finews.withounder.com/``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import yaml

__all__ = ["ImportProblem", "OldPost", "identity", "parse_old_post", "post_name"]


class ImportProblem(ValueError):
    """The file cannot become an article; the message is the recorded reason."""


@dataclass
class OldPost:
    """What an old post says. ``date`` is the front matter's value as written
    (kept in the new post), ``published`` the Beijing time finews stores."""

    relpath: str
    name: str  # the URL's name: the file name without its date and ".md"
    kind: str  # "article" (NW<code>), "flash" (an emnews <code>), "page" (anything else)
    code: str
    title: str
    date: str
    published: str  # "YYYY-MM-DD HH:MM:SS", Beijing
    category: str
    tags: str
    body: str  # the body without its trailers
    legacy_url: str = ""
    share_link: str = ""
    repaired: str = ""  # what had to be recovered ("title from the raw line", …)

    @property
    def media(self) -> str:
        return self.tags[: -len("新闻")] if self.tags.endswith("新闻") else self.tags

    @property
    def naive_date(self) -> bool:
        """``date:`` without a zone: YAML reads it as a timestamp in UTC (so did
        the old site's Jekyll); the new post must keep it a timestamp."""
        return bool(_NAIVE_TIMESTAMP.fullmatch(self.date))


_NAME = re.compile(r"(?:(\d{4}-\d{2}-\d{2})-|-)?(.+)\.md")
_NW = re.compile(r"NW(\d{17,18})")
_CODE = re.compile(r"\d{17,18}")
_DATE = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?\s*(\+0800|\+08:00|Z)?"
)
_NAIVE_TIMESTAMP = re.compile(r"\d{4}-\d{1,2}-\d{1,2}[ \t]+\d{1,2}:\d{2}:\d{2}")
# A link target may hold one level of parentheses: category slugs such as
# anxinguojizhengquan(xianggang) are in the old footers' URLs.
_TARGET = r"\((?:[^()\n]|\([^()\n]*\))*\)"
_FOOTER = re.compile(rf"\[返回[^\]\n]*\]{_TARGET}(?:\s*[｜|]\s*\[返回首页\]{_TARGET})?")
_SHARE = re.compile(r"<(https?://[^>\s]*NewsShare\.html\?infoCode=[^>\s]*)>")
_LEGACY = re.compile(r"<(https?://[a-z0-9.]*eastmoney\.com/(?:news/|a/)[^>\s]*)>")


def post_name(relpath: str) -> tuple[str, str]:
    """(date in the file name or "", the URL's name) of ``_posts/2021-12-08-x.md``."""
    base = relpath.rsplit("/", 1)[-1]
    m = _NAME.fullmatch(base)
    if m is None:
        raise ImportProblem("not a post file name (*.md)")
    return m.group(1) or "", m.group(2)


def _identity(name: str) -> tuple[str, str]:
    if m := _NW.fullmatch(name):
        return "article", m.group(1)
    if _CODE.fullmatch(name):
        return "flash", name
    return "page", name


def identity(relpath: str) -> tuple[str, str]:
    """(kind, code) of an old post by its file name alone."""
    return _identity(post_name(relpath)[1])


def _value(raw: str, key: str) -> tuple[str, str]:
    """A front matter value as YAML reads it; (value, repair note)."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        inner = raw[1:-1]
        if raw[0] == '"' and '"' not in inner and "\\" not in inner:
            return inner, ""  # the common case, no YAML needed
        if raw[0] == "'" and "'" not in inner:
            return inner, ""
        try:
            value = yaml.safe_load(f"v: {raw}")["v"]
            if isinstance(value, str):
                return value, ""
        except yaml.YAMLError:
            pass
        # Not valid YAML (an unescaped " inside): the text between the outer quotes.
        return inner, f"{key} from the raw line"
    return raw, ""


def _front_matter(text: str) -> tuple[dict[str, str], str, list[str]]:
    lines = text.split("\n")
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1  # a blank line before the opening --- (some generator versions)
    if start >= len(lines) or lines[start].strip() != "---":
        raise ImportProblem("no front matter (no opening ---)")
    fields: dict[str, str] = {}
    repairs: list[str] = []
    for end in range(start + 1, len(lines)):
        line = lines[end]
        if line.strip() == "---":
            return fields, "\n".join(lines[end + 1 :]), repairs
        key, sep, raw = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t", "#")):
            value, note = _value(raw, key.strip())
            fields[key.strip()] = value
            if note:
                repairs.append(note)
    raise ImportProblem("front matter not closed (no second ---)")


def _trailers(body: str) -> tuple[str, str, str]:
    """(body, legacy url, share link): the footer and links cut off the end."""
    lines = body.rstrip().split("\n")
    legacy = share = ""
    while lines:
        last = lines[-1].strip()
        if not last or last == "[返回首页](../)" or _FOOTER.fullmatch(last):
            lines.pop()
        elif m := _SHARE.fullmatch(last):
            share = share or m.group(1)
            lines.pop()
        elif (m := _LEGACY.fullmatch(last)) and not legacy:
            legacy = m.group(1)
            lines.pop()
        else:
            break
    return "\n".join(lines).strip("\n"), legacy, share


def _beijing(date: str) -> str:
    """``YYYY-MM-DD HH:MM:SS`` of a front matter date, "" when there is none."""
    m = _DATE.fullmatch(date.strip())
    if m is None:
        return ""
    y, mo, d, h, mi, s, _zone = m.groups()
    try:
        when = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0))
    except ValueError:
        return ""
    # A "Z" date (no generator wrote one, but be safe) is UTC: Beijing is +8.
    if _zone == "Z":
        when += timedelta(hours=8)
    return when.strftime("%Y-%m-%d %H:%M:%S") if 2000 <= when.year <= 2100 else ""


def _day_of(code: str, file_day: str) -> str:
    """The publication day when the front matter has none: the code's YYYYMMDD,
    else the file name's date; "" when neither is a real day after 2000."""
    for candidate in (
        f"{code[:4]}-{code[4:6]}-{code[6:8]}" if code[:8].isdigit() else "",
        file_day,
    ):
        try:
            if candidate and 2000 <= datetime.strptime(candidate, "%Y-%m-%d").year <= 2100:
                return candidate
        except ValueError:
            continue
    return ""


def _first_sentence(body: str) -> str:
    text = re.sub(r"<[^>]*>", "", body).replace("　", " ")
    for line in text.split("\n"):
        line = line.lstrip("> ").strip()
        if line:
            return re.split(r"(?<=[。！？!?])", line, maxsplit=1)[0][:80].strip()
    return ""


def parse_old_post(relpath: str, raw: bytes) -> OldPost:
    """Read one old post; :class:`ImportProblem` with the reason when it cannot
    be an article (never a made-up date: no 1970)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportProblem(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    file_day, name = post_name(relpath)
    kind, code = _identity(name)
    # CRLF (bodies with "</p>\r\n <p>") read as LF: the same HTML to the cleaner,
    # whose whitespace rules make them one; the original bytes are in the WARC.
    fields, body, repairs = _front_matter(text.replace("\r\n", "\n").replace("\r", "\n"))
    body, legacy, share = _trailers(body)
    date = fields.get("date", "").strip()
    published = _beijing(date)
    if not published:
        day = _day_of(code, file_day)
        if not day:
            raise ImportProblem(f"no date: date {date!r} is empty or invalid, {name!r} holds none")
        published, date = f"{day} 00:00:00", f"{day} 00:00:00 +0800"
        repairs.append(
            "date from the code" if code[:8] == day.replace("-", "") else "date from the file name"
        )
    title = fields.get("title", "").strip()
    if not title:
        title = _first_sentence(body)
        if not title:
            raise ImportProblem("no title and no body to take one from")
        repairs.append("title from the body")
    category = fields.get("categories", "").strip() or ("emnews" if kind == "flash" else "")
    if not category:
        raise ImportProblem("no categories")
    if not body.strip():
        if kind != "flash":
            raise ImportProblem("empty body")
        body = title  # a flash with no digest: its title is its text
    return OldPost(
        relpath=relpath,
        name=name,
        kind=kind,
        code=code,
        title=title,
        date=date,
        published=published,
        category=category,
        tags=fields.get("tags", "").strip(),
        body=body,
        legacy_url=legacy,
        share_link=share,
        repaired="; ".join(repairs),
    )
