"""finews's downloader middlewares, one concern a module.

- :mod:`~crawler.middlewares.upstream`: ``UpstreamOverrideMiddleware`` (50), the
  FINEWS_UPSTREAM rewrite, and the canonical URL of a response.
- :mod:`~crawler.middlewares.backoff`: ``BackoffMiddleware`` (560), retry waits,
  Retry-After and the domain slow-down; its arithmetic in
  :mod:`~crawler.middlewares.penalty`.
- :mod:`~crawler.middlewares.blockpages`: what a block page is (captcha, HTML for
  JSON, 403) and ``Blocked``.
- :mod:`~crawler.middlewares.redirects`: ``RedirectGuardMiddleware`` (610) and
  ``RefusedRedirect``.
"""
