"""finews's Scrapy extensions, one concern a module.

- :mod:`~crawler.extensions.logfile`: ``ArchiveLogFile``, the run's log in the archive.
- :mod:`~crawler.extensions.runs`: ``CrawlRunRecorder`` (the ``crawl_runs`` row, the
  run's status and exit code) and ``write_status`` (``status.json``).

GC tuning, also an extension, is :mod:`crawler.gctune`.
"""
