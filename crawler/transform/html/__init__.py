"""Article body HTML -> safe, normalized article HTML.

* :mod:`.fragment`: lenient parsing of a fragment, element walks;
* :mod:`.vocabulary`: the tag and attribute sets (allowlist, blocks, inline, junk);
* :mod:`.clean`: the cleaning itself (:func:`~.clean.clean_body`, :func:`~.clean.clean_article`);
* :mod:`.tags`: tag vocabulary mapping and nesting repair;
* :mod:`.links`: URL absolutizing;
* :mod:`.whitespace`: whitespace, empty elements and block layout.
"""
