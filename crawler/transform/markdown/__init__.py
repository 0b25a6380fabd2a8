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

from crawler.transform.html.fragment import parse_fragment
from crawler.transform.markdown.blocks import blocks_of

__all__ = ["html_to_markdown"]


def html_to_markdown(clean_html: str) -> str:
    """Convert cleaned article HTML (``clean_body(...).html``) to kramdown Markdown.

    One block per paragraph, separated by one blank line; no trailing whitespace
    and no trailing newline. Deterministic. Empty input gives ``""``.
    """
    if not isinstance(clean_html, str) or not clean_html.strip(" \t\r\n\f"):
        return ""
    root = parse_fragment(clean_html)
    blocks = blocks_of(root)
    text = "\n\n".join(b for b in blocks if b)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
