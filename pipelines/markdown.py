"""Cleaned article HTML to Markdown for a Jekyll post (kramdown, GFM input).

A small converter over lxml rather than markdownify: every character that
reaches the output goes through one of three escapers below (Markdown text,
raw HTML text, URLs), which is what makes "the rendered page shows exactly the
original text" checkable. tests/test_markdown.py proves it by rendering with
Jekyll's own converter (kramdown 2.4 + kramdown-parser-gfm 1.1 with Jekyll's
defaults: ``input: GFM``, smart quotes and typographic symbols on,
``hard_wrap: false``) and comparing the visible text, for fixtures and for
hypothesis-generated text, inline markup, tables and whole articles.

Escaping rules for text, and why:

* Backslash escapes, everywhere: ``\\ ` * _ [ ] | # $ ! " '``. ``"``/``'``
  because smart quotes would curl them; ``|`` because any line with a pipe can
  be a table row; ``$`` because ``$$`` is math; ``!`` because ``![`` after text
  would turn a following link into an image; ``#`` also ends ATX headings. All
  are in kramdown's escapable set, so ``\\x`` renders as ``x``.
* ``<`` ``>`` become ``&lt;`` ``&gt;`` (HTML, autolinks, blockquotes, ``<<``
  ``>>`` guillemets). Not ``\\<``: kramdown reads ``\\<<`` as an escaped ``<<``,
  which would swallow the ``<`` of a following ``<sub>`` or ``<br />``.
* ``{`` ``}`` always become ``&#123;`` ``&#125;``: this hides ``{{``/``{%`` from
  Liquid (posts set ``render_with_liquid: false``, this is the second lock; a
  backslash would not do, Liquid runs before kramdown) and ``{:``/``{::`` from
  kramdown's IAL and extension syntax. URLs get ``%7B`` ``%7D``. The output
  never contains a brace.
* Runs only: ``--`` ``---`` ``...`` would become dashes/ellipsis, so every
  ``-``/``.`` of such a run is escaped; single ones stay (dates, decimals).
  ``~~`` runs (GFM strikethrough, ``~~~`` fences) become ``&#126;`` entities,
  because ``\\~`` is an escape only in the GFM parser.
* ``]:`` becomes ``\\]\\:``: kramdown spots link and abbreviation definitions
  (``[x]: url``, ``*[x]: y``) with a regex that ignores ``\\]``, so a line that
  opens with our own link/emphasis markup could otherwise vanish.
* ``&`` becomes ``&amp;`` only where it would start an entity (``&copy;``,
  ``&#123;``); ``S&P`` stays as is.
* At the start of a line only: ``+ - = :`` get a backslash, ``1.`` followed by a
  space becomes ``1\\.`` (lists, setext underlines, definition lists), ``^``
  becomes ``&#94;`` (end-of-block marker; ``\\^`` is no escape). A link whose
  text starts with ``^`` gets ``&#94;`` too (``[^`` is a footnote).
* Every block is one line: ASCII whitespace runs collapse to one space (as the
  browser shows them) and ``<br>`` becomes an inline ``<br />``. Nothing can
  start on a second line of a paragraph: no setext headings, no lazy list or
  quote continuation, no indented code, and ``hard_wrap`` does not matter.

Markup:

* ``**strong**`` and ``*em*``, with whitespace/``<br />`` at their edges moved
  outside (kramdown won't open or close emphasis next to whitespace) and
  adjacent same-kind runs merged. kramdown's emphasis parsing is ambiguous when
  a delimiter touches another ``*`` or a backslash (``*a***b**``), so there the
  element is written as ``<strong>``/``<em>`` HTML, whose content kramdown still
  parses as Markdown. ``<sub>``/``<sup>`` likewise stay HTML.
* ``<code>``, ``<u>`` and ``<pre>`` have a raw content model in kramdown, so
  their text is HTML-escaped instead (``& < > "``, braces, ``|`` and backtick as
  entities; the last two because kramdown splits table rows before it parses
  HTML).
* Links ``[text](url)``, images ``![alt](src)``; URLs percent-encode spaces,
  quotes, brackets, parentheses, braces, ``|``, backslash, ``^`` and backtick.
* Headings ``#``..``######``; lists ``-``/``1.`` (tight unless an item holds
  several paragraphs); blockquotes ``>``; ``<hr>`` as ``* * *``.
* Tables without colspan/rowspan and with inline-only cells become Markdown
  tables: a header separator only when the first row is ``<th>``/``<thead>``
  and more rows follow (kramdown accepts header-less tables, and drops a table
  that is a header alone); a row made only of ``-`` or ``=`` cells gets those
  escaped so it is not read as a separator. Other tables (merged cells, lists
  in cells) are emitted as a raw HTML block, escaped the same way as ``<pre>``:
  Markdown cannot express them.
"""

from __future__ import annotations

import itertools
import re

from lxml import etree

from pipelines.clean import parse_fragment

__all__ = ["html_to_markdown"]

_BLOCK_CONTAINERS = frozenset(
    {"p", "div", "center", "section", "article", "main", "header", "footer", "figure"}
    | {"figcaption", "address", "dl", "dt", "dd", "details", "summary", "body", "html"}
    | {"tbody", "thead", "tfoot", "tr", "td", "th", "caption", "form", "fieldset"}
)
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCK_TAGS = (
    _BLOCK_CONTAINERS | set(_HEADINGS) | {"ul", "ol", "li", "blockquote", "table", "pre", "hr"}
)
_SKIP = frozenset({"script", "style", "noscript", "template", "head", "title", "iframe"})
_BR = "<br />"
_LIST_START_RE = re.compile(r"(?:-|\d+\.) ")
_OL_START_RE = re.compile(r"(\d+)\.(?=[ \t]|$)")  # kramdown's LIST_START_OL

_ASCII_WS_RUN_RE = re.compile(r"[ \t\r\n\f]+")
_MD_SPECIAL_RE = re.compile(
    # The lookahead (a first character some branch starts with) changes no
    # match; it lets the regex engine skip other characters fast: 3x quicker
    # on Chinese text, where this ran at every position of every paragraph.
    r"""(?=[\]\\`*_\[<>|#$!"'{}&~.\-])(?:"""
    r"""\]:|[\\`*_\[\]<>|#$!"'{}]|-{2,}|\.{3,}|~{2,}"""
    r"""|&(?=\#[0-9]+;|\#[xX][0-9a-fA-F]+;|[\w:][\w.:-]*;))"""
)
# "`" too: in a table row kramdown looks for code spans before it knows about HTML.
_RAW_SPECIAL_RE = re.compile(r"""[&<>"{}|`]""")
_RAW_ENTITIES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "{": "&#123;",
    "}": "&#125;",
    "|": "&#124;",
    "`": "&#96;",
}
_URL_ESCAPE_RE = re.compile(r"""[\x00-\x20"'()<>\[\]\\^`{|}\x7f]""")
_LEAD_BR_RE = re.compile(r"^(?:\s*<br />)+\s*")
_TRAIL_BR_RE = re.compile(r"\s*(?:<br />\s*)+$")
# kramdown's TABLE_SEP_LINE / TABLE_FSEP_LINE, as whole lines.
_TABLE_SEP_RE = re.compile(r"[+|: \t-]*-[+|: \t-]*")
_TABLE_FSEP_RE = re.compile(r"[+|: \t=]*=[+|: \t=]*")

# An inline run is a list of tokens: ("t", raw text) or ("m", finished markup).
# Raw text is escaped only when the run is rendered, after adjacent text tokens
# are merged, so "-" + "-" from two text nodes is still seen as "--".
# Emphasis delimiters are ("open"/"close", "<marker> <id>"); the id pairs them.
Token = tuple[str, str]
_EMPHASIS_IDS = itertools.count(1)  # only has to be unique; never reaches the output


def html_to_markdown(clean_html: str) -> str:
    """Convert cleaned article HTML (``clean_body(...).html``) to kramdown Markdown.

    One block per paragraph, separated by one blank line; no trailing whitespace
    and no trailing newline. Deterministic. Empty input gives ``""``.
    """
    if not isinstance(clean_html, str) or not clean_html.strip(" \t\r\n\f"):
        return ""
    root = parse_fragment(clean_html)
    blocks = _blocks(root)
    text = "\n\n".join(b for b in blocks if b)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


# --------------------------------------------------------------------------- escaping


def _escape_md_char(m: re.Match[str]) -> str:
    s = m.group()
    if s == "{":
        return "&#123;"
    if s == "}":
        return "&#125;"
    if s == "&":
        return "&amp;"
    if s == "]:":
        return "\\]\\:"
    if s == "<":
        return "&lt;"
    if s == ">":
        return "&gt;"
    if s[0] == "-":
        return "\\-" * len(s)
    if s[0] == ".":
        return "\\." * len(s)
    if s[0] == "~":
        return "&#126;" * len(s)
    return "\\" + s


def _escape_md(text: str) -> str:
    """Escape text for a Markdown span (see the module docstring)."""
    return _MD_SPECIAL_RE.sub(_escape_md_char, text)


def _escape_raw(text: str) -> str:
    """Escape text that goes inside raw HTML kramdown will not parse."""
    return _RAW_SPECIAL_RE.sub(lambda m: _RAW_ENTITIES[m.group()], text)


def _escape_url(url: str) -> str:
    """Percent-encode what would end or confuse a Markdown link destination."""
    return _URL_ESCAPE_RE.sub(lambda m: f"%{ord(m.group()):02X}", url.strip())


def _escape_line_start(line: str) -> str:
    """Escape block syntax at the start of a line (lists, setext, dl, EOB)."""
    if not line:
        return line
    if line[0] in "+-=:":
        return "\\" + line
    if line[0] == "^":
        return "&#94;" + line[1:]
    m = _OL_START_RE.match(line)
    if m:
        return m.group(1) + "\\." + line[m.end() :]
    return line


# --------------------------------------------------------------------------- inline


def _render(tokens: list[Token], in_table: bool = False) -> str:
    """Turn tokens into one Markdown line (no line-start escaping yet).

    Leading/trailing whitespace (Unicode too, as the cleaner strips it) and
    ``<br />`` are trimmed. In table cells a backtick becomes ``&#96;``: kramdown
    splits a row into cells looking only for code spans and does not honour a
    backslash before a backtick there, so two escaped backticks in one row
    would swallow the ``|`` between them.
    """
    # (kind, text, emphasis id): kind "x" = final text, "open"/"close" = a delimiter.
    pieces: list[tuple[str, str, int]] = []
    text: list[str] = []

    def flush_text() -> None:
        escaped = _escape_md("".join(text))
        pieces.append(("x", escaped.replace("\\`", "&#96;") if in_table else escaped, 0))
        text.clear()

    for kind, value in _merge_emphasis(tokens):
        if kind == "t":
            text.append(value)
            continue
        if text:
            flush_text()
        if kind in ("open", "close"):
            marker, ident = value.split(" ")
            pieces.append((kind, marker, int(ident)))
        elif value:
            pieces.append(("x", value, 0))
    if text:
        flush_text()

    # kramdown's emphasis parsing is only predictable when a delimiter does not
    # touch another "*" (or a backslash): "*a***b**" or "**x\\***" are
    # ambiguous. Such emphasis is written as <strong>/<em> instead, whose
    # content kramdown still parses as Markdown.
    as_html: set[int] = set()
    for i, (kind, _, ident) in enumerate(pieces):
        if kind == "x":
            continue
        before = pieces[i - 1][1][-1:] if i > 0 else ""
        after = pieces[i + 1][1][:1] if i + 1 < len(pieces) else ""
        if before in ("*", "\\") or after in ("*", "\\"):
            as_html.add(ident)
    out: list[str] = []
    for kind, value, ident in pieces:
        if kind == "x" or ident not in as_html:
            out.append(value)
        else:
            tag = "strong" if value == "**" else "em"
            out.append(f"<{tag}>" if kind == "open" else f"</{tag}>")

    line = _ASCII_WS_RUN_RE.sub(" ", "".join(out))
    if "<br />" not in line:  # what the loop below would come to, without its scans
        return line.strip()
    previous = None
    while previous != line:
        previous = line
        line = _TRAIL_BR_RE.sub("", _LEAD_BR_RE.sub("", line)).strip()
    return line


def _merge_emphasis(tokens: list[Token]) -> list[Token]:
    """Join ``**a**`` ``**b**`` into ``**ab**``: ``**a****b**`` would not parse.

    The second pair's closing delimiter takes the first pair's id.
    """
    out: list[Token] = []
    alias: dict[str, str] = {}
    for kind, value in tokens:
        if kind == "close":
            marker, ident = value.split(" ")
            value = f"{marker} {alias.get(ident, ident)}"
        if kind == "open" and out and out[-1][0] == "close":
            marker, ident = value.split(" ")
            last_marker, last_ident = out[-1][1].split(" ")
            if marker == last_marker:
                out.pop()
                alias[ident] = last_ident
                continue
        out.append((kind, value))
    return out


def _split_edges(inner: list[Token]) -> tuple[list[Token], list[Token], list[Token]]:
    """Move whitespace and ``<br />`` at the edges of ``inner`` outside it.

    kramdown does not open emphasis before whitespace nor close it after
    whitespace, so ``** a**`` would stay literal.
    """
    inner = list(inner)
    before: list[Token] = []
    after: list[Token] = []
    while inner:
        kind, value = inner[0]
        if kind == "t":
            stripped = value.lstrip(" \t\r\n\f")
            if len(stripped) != len(value):
                before.append(("t", " "))
            if stripped:
                inner[0] = ("t", stripped)
                break
            inner.pop(0)
        elif kind == "m" and value == _BR:
            before.append(inner.pop(0))
        else:
            break
    while inner:
        kind, value = inner[-1]
        if kind == "t":
            stripped = value.rstrip(" \t\r\n\f")
            if len(stripped) != len(value):
                after.insert(0, ("t", " "))
            if stripped:
                inner[-1] = ("t", stripped)
                break
            inner.pop()
        elif kind == "m" and value == _BR:
            after.insert(0, inner.pop())
        else:
            break
    return before, inner, after


class _Inline:
    """Inline conversion state: which emphasis/link we are inside of."""

    def __init__(self, in_strong: bool = False, in_em: bool = False, in_link: bool = False):
        self.in_strong = in_strong
        self.in_em = in_em
        self.in_link = in_link

    def children(self, el: etree._Element) -> list[Token]:
        tokens: list[Token] = []
        if el.text:
            tokens.append(("t", el.text))
        for child in el:
            tokens.extend(self.element(child))
            if child.tail:
                tokens.append(("t", child.tail))
        return tokens

    def element(self, el: etree._Element) -> list[Token]:
        tag = el.tag if isinstance(el.tag, str) else ""
        if not tag or tag in _SKIP:
            return []
        if tag == "br":
            return [("m", _BR)]
        if tag == "img":
            return self.image(el)
        if tag in _BLOCK_TAGS:
            # A block where only inline content can go (heading, table cell):
            # keep its text, on its own line.
            inner = self.children(el)
            return [("m", _BR), *inner, ("m", _BR)] if inner else []
        if tag in ("strong", "b"):
            return self.emphasis(el, "**", strong=True)
        if tag in ("em", "i"):
            return self.emphasis(el, "*", strong=False)
        if tag == "a":
            return self.link(el)
        if tag in ("sub", "sup"):
            inner = self.children(el)
            return [("m", f"<{tag}>"), *inner, ("m", f"</{tag}>")] if inner else []
        if tag in ("code", "u"):
            # kramdown treats <code>/<u> content as raw, so it is HTML-escaped.
            # Only plain text can go there; anything richer keeps its markup
            # and loses the <code>/<u>.
            if len(el) == 0:
                text = _ASCII_WS_RUN_RE.sub(" ", el.text or "")
                if not text.strip():
                    return [("t", text)] if text else []
                return [("m", f"<{tag}>{_escape_raw(text)}</{tag}>")]
            return self.children(el)
        return self.children(el)

    def emphasis(self, el: etree._Element, marker: str, strong: bool) -> list[Token]:
        if (strong and self.in_strong) or (not strong and self.in_em):
            return self.children(el)  # kramdown does not nest the same emphasis
        sub = _Inline(self.in_strong or strong, self.in_em or not strong, self.in_link)
        before, inner, after = _split_edges(sub.children(el))
        if not inner:
            return before + after
        ident = f"{marker} {next(_EMPHASIS_IDS)}"
        return [*before, ("open", ident), *inner, ("close", ident), *after]

    def link(self, el: etree._Element) -> list[Token]:
        href = (el.get("href") or "").strip()
        if self.in_link or not href:
            return self.children(el)
        sub = _Inline(self.in_strong, self.in_em, True)
        before, inner, after = _split_edges(sub.children(el))
        if not inner:
            return before + after
        if inner[0][0] == "t" and inner[0][1].startswith("^"):
            # "[^" opens a footnote reference; "\\^" is not an escape in kramdown.
            inner = [("m", "&#94;"), ("t", inner[0][1][1:]), *inner[1:]]
        return [*before, ("m", "["), *inner, ("m", f"]({_escape_url(href)})"), *after]

    def image(self, el: etree._Element) -> list[Token]:
        src = (el.get("src") or "").strip()
        if not src:
            return []
        alt = _escape_md(_ASCII_WS_RUN_RE.sub(" ", el.get("alt") or "").strip())
        if alt.startswith("^"):
            alt = "&#94;" + alt[1:]
        return [("m", f"![{alt}]({_escape_url(src)})")]


# --------------------------------------------------------------------------- blocks


def _paragraph(tokens: list[Token]) -> str:
    return _escape_line_start(_render(tokens))


def _blocks(container: etree._Element) -> list[str]:
    """Markdown blocks for the children of a block container."""
    out: list[str] = []
    run: list[Token] = []
    inline = _Inline()

    def flush() -> None:
        if run:
            line = _paragraph(run)
            run.clear()
            if line:
                out.append(line)

    if container.text:
        run.append(("t", container.text))
    for child in container:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag in _BLOCK_TAGS:
            flush()
            out.extend(_block(child))
        elif tag:
            run.extend(inline.element(child))
        if child.tail:
            run.append(("t", child.tail))
    flush()
    return out


def _block(el: etree._Element) -> list[str]:
    tag = el.tag
    if tag in _HEADINGS:
        line = _render(_Inline().children(el))
        return [f"{'#' * _HEADINGS[tag]} {line}"] if line else []
    if tag in ("ul", "ol"):
        return _list(el)
    if tag == "li":
        return _list_item(el, "-")
    if tag == "blockquote":
        inner = "\n\n".join(_blocks(el))
        if not inner:
            return []
        return ["\n".join(("> " + ln) if ln else ">" for ln in inner.split("\n"))]
    if tag == "table":
        return _table(el)
    if tag == "pre":
        text = "".join(el.itertext())
        lines = [ln.rstrip() for ln in text.split("\n")]
        text = "\n".join(lines).strip("\n")
        return [f"<pre>{_escape_raw(text)}</pre>"] if text.strip() else []
    if tag == "hr":
        return ["* * *"]
    return _blocks(el)


def _list(el: etree._Element) -> list[str]:
    items: list[str] = []
    n = 0
    for child in el:
        if not isinstance(child.tag, str) or child.tag in _SKIP:
            continue
        n += 1
        marker = f"{n}." if el.tag == "ol" else "-"
        items.extend(_list_item(child, marker))
    if not items:
        return []
    # Tight unless an item holds several paragraphs (kramdown needs the blank line).
    sep = "\n" if all("\n\n" not in item for item in items) else "\n\n"
    return [sep.join(items)]


def _list_item(el: etree._Element, marker: str) -> list[str]:
    blocks = _blocks(el)
    if not blocks:
        return []
    indent = " " * (len(marker) + 1)
    # A nested list follows its paragraph directly (a tight list); paragraph
    # blocks never start with "- " or "1. " because line starts are escaped.
    text = blocks[0]
    for block in blocks[1:]:
        text += ("\n" if _LIST_START_RE.match(block) else "\n\n") + block
    lines = text.split("\n")
    first, rest = lines[0], lines[1:]
    return ["\n".join([f"{marker} {first}", *((indent + ln) if ln else "" for ln in rest)])]


# --------------------------------------------------------------------------- tables

_CELL_BLOCKERS = frozenset({"table", "ul", "ol", "blockquote", "pre", "hr", *_HEADINGS})


def _rows(table: etree._Element) -> list[etree._Element]:
    rows: list[etree._Element] = []
    for child in table:
        if child.tag == "tr":
            rows.append(child)
        elif child.tag in ("thead", "tbody", "tfoot"):
            rows.extend(r for r in child if r.tag == "tr")
    return rows


def _cells(row: etree._Element) -> list[etree._Element]:
    return [c for c in row if c.tag in ("td", "th")]


def _is_simple_table(rows: list[etree._Element]) -> bool:
    """Markdown can hold it: no merged cells, only inline content (and paragraphs)."""
    if not rows:
        return False
    for row in rows:
        for cell in _cells(row):
            for attr in ("colspan", "rowspan"):
                value = (cell.get(attr) or "1").strip()
                if value not in ("", "1", "0"):
                    return False
            if any(
                isinstance(d.tag, str) and d.tag in _CELL_BLOCKERS for d in cell.iterdescendants()
            ):
                return False
    return True


def _table(table: etree._Element) -> list[str]:
    rows = _rows(table)
    if not _is_simple_table(rows):
        html = _raw_html(table).strip()
        return [html] if html else []
    grid = [[_render(_Inline().children(c), in_table=True) for c in _cells(r)] for r in rows]
    width = max((len(r) for r in grid), default=0)
    if width == 0 or not any(any(r) for r in grid):
        return []
    first = rows[0]
    header = first.getparent() is not None and first.getparent().tag == "thead"
    header = header or all(c.tag == "th" for c in _cells(first))
    header = header and len(grid) > 1  # kramdown drops a table that is only a header
    lines: list[str] = []
    for i, cells in enumerate(grid):
        cells = cells + [""] * (width - len(cells))
        line = "| " + " | ".join(cells) + " |"
        # A row of only "-" (or "=") cells, e.g. "-" for n/a, would be read as a
        # header (footer) separator line. Such a line holds no backslash yet.
        if _TABLE_SEP_RE.fullmatch(line):
            line = line.replace("-", "\\-")
        elif _TABLE_FSEP_RE.fullmatch(line):
            line = line.replace("=", "\\=")
        lines.append(line)
        if i == 0 and header:
            lines.append("|" + "|".join([" --- "] * width) + "|")
    return ["\n".join(lines)]


_RAW_KEEP = frozenset(
    {"table", "thead", "tbody", "tr", "th", "td", "p", "div", "br", "a", "img", "strong"}
    | {"b", "em", "i", "u", "sub", "sup", "code", "ul", "ol", "li", "hr", "blockquote"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "pre"}
)
_RAW_VOID = frozenset({"br", "img", "hr"})
_RAW_NEWLINE_AFTER = frozenset({"table", "thead", "tbody", "tr", "th", "td", "p", "div"})


def _raw_html(el: etree._Element) -> str:
    """Serialize an element as raw HTML for kramdown to pass through.

    Only the allowlisted tags/attributes; text HTML-escaped with braces and
    pipes as entities; ASCII whitespace collapsed; one line per row/cell so the
    block never holds a blank line.
    """
    parts: list[str] = []
    _raw_into(el, parts)
    text = "".join(parts)
    lines = (line.strip(" \t") for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _raw_into(el: etree._Element, parts: list[str]) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    keep = tag in _RAW_KEEP
    if tag and tag in _SKIP:
        return
    if keep:
        attrs = ""
        if tag == "a" and el.get("href"):
            attrs = f' href="{_escape_raw(el.get("href", "").strip())}"'
        elif tag == "img":
            if not el.get("src"):
                return
            attrs = f' src="{_escape_raw(el.get("src", "").strip())}"'
            if el.get("alt"):
                attrs += f' alt="{_escape_raw(el.get("alt", ""))}"'
        elif tag in ("td", "th"):
            for name in ("colspan", "rowspan"):
                value = (el.get(name) or "").strip()
                if value.isdigit() and int(value) > 1:
                    attrs += f' {name}="{int(value)}"'
        parts.append(f"<{tag}{attrs}>" if tag not in _RAW_VOID else f"<{tag}{attrs} />")
        if tag in ("table", "thead", "tbody", "tr"):
            parts.append("\n")
    if tag and tag not in _RAW_VOID:
        if el.text:
            parts.append(_escape_raw(_ASCII_WS_RUN_RE.sub(" ", el.text)))
        for child in el:
            _raw_into(child, parts)
            if child.tail:
                parts.append(_escape_raw(_ASCII_WS_RUN_RE.sub(" ", child.tail)))
        if keep:
            parts.append(f"</{tag}>")
    if keep and tag in _RAW_NEWLINE_AFTER:
        parts.append("\n")
