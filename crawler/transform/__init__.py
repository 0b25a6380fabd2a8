"""Pure transformations of an article, without Scrapy: each is a function of its
arguments (the same input gives the same bytes out), so a stage may run it in a
worker process.

* :mod:`.html`: body HTML -> safe, normalized article HTML (lxml, then nh3);
* :mod:`.text`: article HTML -> visible text, one line per block;
* :mod:`.markdown`: article HTML -> kramdown Markdown for the Jekyll post;
* :mod:`.frontmatter`: the post's YAML front matter (PyYAML / libyaml);
* :mod:`.posts`: post and category page text and paths;
* :mod:`.warc`: WARC records written (warcio) and read back;
* :mod:`.snapshots`: what an article's snapshot holds and where it goes.

Eastmoney's own markup (junk markers, stock ids) is :mod:`crawler.eastmoney.markup`.
"""
