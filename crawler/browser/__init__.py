"""The browser route: render Eastmoney's script-filled pages with Chromium.

The column pages (``finance.eastmoney.com/a/cgnjj.html``) and the Choice share
page (``choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW…``) are
shells whose own scripts load the list API / the Choice text API. When those
JSON routes refuse direct calls, only a browser gets the data. This package
holds everything about that route except the spider logic, one module a
concern:

- :mod:`.chromium`: which Chromium to drive (:func:`~.chromium.find_chromium`)
  and its flags (:func:`~.chromium.launch_args`).
- :mod:`.probe`: whether it really starts (:func:`~.probe.browser_available`),
  that check remembered in the archive, and the choice per ``FINEWS_RENDER``
  (:func:`~.probe.resolve_browser`).
- :mod:`.addon`: :class:`~.addon.RenderAddon` (``ADDONS``), the scrapy-playwright
  settings it applies (:func:`~.addon.playwright_settings`) and
  :class:`~.addon.SharedPlaywrightDownloadHandler` (one driver and one browser
  for both schemes).
- :mod:`.render`: one render: the request meta
  (:func:`~.render.render_request_meta`), the page's readiness script and the
  wait (:func:`~.render.settle`), the watchdog.
- :mod:`.capture`: what a page may load (:func:`~.capture.abort_request`) and
  what is kept of what it loaded (:class:`~.capture.RenderResult`).
- :mod:`.snapshots`: those captures and the rendered DOM as
  :class:`~crawler.items.Fetched` with canonical Eastmoney URLs
  (:func:`~.snapshots.render_snapshots`).
- :mod:`.contexts`: :class:`~.contexts.RenderContextMiddleware`, a fresh
  browser context every N pages.

The column page URLs are :func:`crawler.eastmoney.urls.column_page_url`.
Settings are read by :class:`crawler.config.FinewsConfig` only.
"""
