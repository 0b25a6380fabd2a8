"""The tag and attribute sets the cleaner works with.

The output vocabulary (:data:`ALLOWED_TAGS`, :data:`ALLOWED_ATTRIBUTES`) is
nh3's allowlist; the other sets say how the lxml stage treats the input's tags.
"""

from __future__ import annotations

#: Tags kept in the output (nh3 allowlist). ``center`` is rewritten to p/div
#: before nh3 runs; ``span`` is allowed but every span is unwrapped anyway
#: (without attributes it carries nothing).
ALLOWED_TAGS = frozenset(
    {"p", "br", "a", "img", "strong", "b", "em", "i", "u", "sub", "sup"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote"}
    | {"table", "thead", "tbody", "tr", "th", "td", "pre", "code", "span", "div", "hr"}
)
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": set(),  # also switches off ammonia's default generic lang/title
    "a": {"href"},
    "img": {"src", "alt"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
#: The attributes the lxml stage keeps (the same as nh3's, in its order).
KEPT_ATTRS: dict[str, tuple[str, ...]] = {
    "a": ("href",),
    "img": ("src", "alt"),
    "td": ("colspan", "rowspan"),
    "th": ("colspan", "rowspan"),
}
#: URL schemes a link may have (nh3 gets the same set), and an image.
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
IMG_SCHEMES = frozenset({"http", "https"})

#: Removed together with their content, in lxml and again in nh3.
DROP_WITH_CONTENT = frozenset(
    {"script", "style", "noscript", "iframe", "frameset", "object", "applet", "form"}
    | {"button", "select", "option", "optgroup", "textarea", "template", "svg", "math"}
    | {"canvas", "video", "audio", "map", "title", "head", "xmp", "noembed", "noframes"}
    | {"plaintext", "colgroup", "nav", "aside", "dialog"}
)
#: Void elements. libxml2 does not know the HTML5 ones and nests whatever
#: follows inside them (``<embed>text<p>…`` puts the rest of the article under
#: the embed), so they are unwrapped, never dropped with their "content".
VOID_JUNK = frozenset(
    {"embed", "source", "track", "wbr", "keygen", "param", "area", "base", "link"}
    | {"meta", "input", "col", "frame", "basefont", "bgsound", "isindex", "image"}
)
#: nh3's ``clean_content_tags``: removed with their content by nh3.
NH3_CLEAN_CONTENT = {
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "object",
    "textarea",
    "title",
    "xmp",
    "noembed",
    "noframes",
    "svg",
    "math",
    "select",
}
#: Block-level container tags of other vocabularies, kept as ``<div>``.
RENAME_TO_DIV = frozenset(
    {"section", "article", "main", "header", "footer", "figure", "figcaption", "address"}
    | {"dl", "dt", "dd", "details", "summary", "fieldset", "legend", "body", "html"}
)
BLOCK_TAGS = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote"}
    | {"table", "thead", "tbody", "tfoot", "tr", "th", "td", "pre", "hr", "center"}
    | RENAME_TO_DIV
)
INLINE_TAGS = frozenset({"a", "strong", "b", "em", "i", "u", "sub", "sup", "code", "span"})
#: Blocks whose own text is not part of the article (only their cells/items are).
STRUCTURE_TAGS = frozenset({"ul", "ol", "table", "thead", "tbody", "tr"})
#: Removed when, after cleaning, they hold neither text nor an image.
DROP_WHEN_EMPTY = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote"}
    | {"pre", "table"}
    | INLINE_TAGS
)
