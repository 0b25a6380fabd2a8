"""Scrapy settings for finews.

Every finews option is a Scrapy setting named ``FINEWS_*``; its default is here
and it is read in one place, :class:`crawler.config.FinewsConfig`. Override on
the command line (``scrapy crawl columns -s FINEWS_COLUMNS=350,351``) or through
the Make variables (``make crawl COLUMNS=350,351``).
"""

from crawler.eastmoney.urls import REFERER, SHARE_PAGE

BOT_NAME = "finews"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# --- finews options -------------------------------------------------------
# Where the archive lives: Jekyll source, posts, WARC snapshots, database.
FINEWS_ARCHIVE_DIR = "archive"
# When set (e.g. "http://127.0.0.1:8765"), every request to an eastmoney.com
# host goes to this origin with the same path and query; posts, snapshots and
# the database keep the canonical Eastmoney URLs. Used by tests, demos, mirrors.
FINEWS_UPSTREAM = ""
# Column ids crawled by `scrapy crawl columns` (comma list or Python list).
FINEWS_COLUMNS = "344,345,350,351,353"
# 7×24 feed columns crawled by `scrapy crawl fastnews` (ids 100..131; 102 is
# 7×24 全球直播, the archive's emnews feed). Their items become emnews posts.
FINEWS_FAST_COLUMNS = "102"
# Entries per list request (the site uses 20; the API accepts up to 200).
FINEWS_PAGE_SIZE = 50
# Stop paging a column after this many pages (0 = no cap).
FINEWS_MAX_PAGES = 0
# Prefix of the site links in post footers ("" = site-relative links).
FINEWS_SITE_URL = ""
# Share link written into each post; {info_code} is replaced.
FINEWS_SHARE_URL = SHARE_PAGE
# Where article bodies come from first: "page" (article page, Choice text API
# as fallback) or "choice" (Choice text API, article page as fallback).
FINEWS_BODY_SOURCE = "page"
# Stop paging a column at the first page whose articles are all archived.
FINEWS_INCREMENTAL = True
# An article whose fetch failed is tried again on a later run, no sooner than
# this many hours after its last failure, and given up after this many tries
# (each failure stays in the `failures` table).
FINEWS_FAILURE_RETRY_HOURS = 6.0
FINEWS_FAILURE_MAX_TRIES = 3
# Articles first seen in the last FINEWS_REFRESH_HOURS are fetched again at
# most once per FINEWS_REFRESH_EVERY hours; a changed body is a new version
# (table article_versions). 0 turns refreshing off.
FINEWS_REFRESH_HOURS = 48.0
FINEWS_REFRESH_EVERY = 6.0
# Keep only posts of the last N days in _posts/, moving older ones to
# old_post/ (the existing archive kept 3). 0 = keep everything in _posts/.
FINEWS_POSTS_KEEP_DAYS = 0
# Database rows written per transaction.
FINEWS_DB_BATCH = 100
# ... and at least every this many seconds, so the database shows a slow run
# while it runs and a kill loses at most these seconds of rows.
FINEWS_DB_COMMIT_SECONDS = 2.0
# Database backups `scrapy rebuild` keeps (numbered, never overwritten; the
# oldest beyond this many are deleted).
FINEWS_REBUILD_BACKUPS = 5
# The database's file name in the archive (`scrapy rebuild` builds into a
# temporary one, then swaps it in).
FINEWS_DB_NAME = "finews.db"
# Worker processes for the pipelines' CPU-heavy work (cleaning, Markdown,
# WARC records, file writes), so a crawl uses a second core. 0 = on threads of
# the crawl process (same output). See crawler/workers.py.
FINEWS_WORKERS = 1
# Python's cyclic garbage collector runs every this many net allocations
# (Python's default: 700), after freezing the start-up objects; 0 leaves
# Python's defaults. See crawler/gctune.py.
FINEWS_GC_THRESHOLD = 50_000
# A run fails (status "partial", exit 5) when fewer than this share of the
# listed articles get title, date and body, or more than this share of
# requests fail.
FINEWS_MIN_COVERAGE = 0.99
FINEWS_MAX_FAILED_SHARE = 0.2
# Logs: <archive>/logs/finews.log (rotated) at this level; FINEWS_QUIET=True
# keeps the console to warnings and errors (for cron).
FINEWS_LOG_FILE_LEVEL = "INFO"
FINEWS_QUIET = False
# When the upstream pushes back (429/503, Retry-After, captcha pages) the whole
# domain slows down: a pause of max(Retry-After, delay) and a delay floor that
# starts at FINEWS_BACKOFF_BASE seconds, doubles with each push-back (at most
# FINEWS_BACKOFF_MAX) and comes down additively: every good answer adds
# 1/(BASE x FINEWS_BACKOFF_RECOVER) requests per second back (AIMD). A single
# 503 without Retry-After is retried, not a push-back. Other retries (5xx,
# timeouts, resets) wait BASE x 2^n (jittered). The floor is kept between runs.
# See crawler.middlewares.backoff.BackoffMiddleware.
FINEWS_BACKOFF_BASE = 2.0
FINEWS_BACKOFF_MAX = 120.0
FINEWS_BACKOFF_RECOVER = 5
# Extra text (comma list) that marks a captcha/block page, besides the built-in
# markers (滑块验证, 验证码, captcha, ...; crawler.middlewares.blockpages.BLOCK_MARKERS).
FINEWS_BLOCK_MARKERS = ""
# A run stops cleanly after this many minutes (under cron's 5-minute period) or
# after FINEWS_BLOCKED_STOP_AFTER push-backs in a row (blocked): what was fetched
# is kept, the rest is left for the next run. Backfills have their own budget
# (0 = unlimited). See crawler/extensions/budget.py and crawler/stopping.py.
FINEWS_MAX_RUN_MINUTES = 4.0
FINEWS_BACKFILL_MAX_RUN_MINUTES = 0.0
FINEWS_BLOCKED_STOP_AFTER = 6
# A run that finds the archive locked exits 75; under FINEWS_QUIET it says so
# on the console only when the lock has been held longer than this (minutes).
FINEWS_LOCK_QUIET_MINUTES = 30.0
# A backfill reports its progress per column on the console every this many
# seconds (0 = never); see crawler/extensions/progress.py.
FINEWS_PROGRESS_SECONDS = 5.0
# Set by offline commands (finews rebuild, import, check): they fetch nothing, so
# the browser add-on does not check that Chromium launches (crawler/browser/addon.py).
FINEWS_OFFLINE = False

# The browser route (Chromium through scrapy-playwright, see crawler/browser/):
# "never"; "auto" = a column or article goes to the browser only when its fast
# route failed (list answer refused/unreadable, no body from page or Choice);
# "always" = render every column page and share link.
FINEWS_RENDER = "auto"
# Chromium to use ("" = Playwright's own if installed, else Debian's
# /usr/bin/chromium-headless-shell or /usr/bin/chromium).
FINEWS_CHROMIUM = ""
# A fresh browser context every this many rendered pages (bounds memory).
FINEWS_RENDER_RECYCLE_PAGES = 100
# Pictures in article bodies (np-newspic.dfcfw.com and other *.dfcfw.com,
# *.eastmoney.com hosts): "archive" fetches each URL once (same politeness as
# pages), keeps it in a WARC (raw/images/) and under assets/img/<sha256>.<ext>,
# and posts show that copy; "link" leaves the upstream's URL in the post.
# A picture larger than FINEWS_IMAGE_MAX_BYTES, or not a JPEG/PNG/GIF/WebP, is
# a recorded failure (the post links the upstream's URL); its download waits at
# most FINEWS_IMAGE_TIMEOUT seconds, without retries. See pipelines/images.py.
FINEWS_IMAGES = "archive"
FINEWS_IMAGE_MAX_BYTES = 5 * 1024 * 1024
FINEWS_IMAGE_TIMEOUT = 20.0

# Distributed backfills (crawler/distributed/, docs/distributed.md): the Redis
# that holds the frontier, the dupefilter, the leases and the writer's queue;
# a key prefix (one per independent run); how long a worker's request lease
# lives without a heartbeat; the shared per-host interval (seconds between two
# requests to one upstream host, across all workers of one egress address —
# the single crawler's DOWNLOAD_DELAY); the egress name (workers behind one
# address share a budget; give each address its own); how long a Redis outage
# is waited out; how many items the writer holds unacknowledged.
FINEWS_REDIS_URL = "redis://127.0.0.1:6379/0"
FINEWS_REDIS_PREFIX = "finews"
FINEWS_REDIS_LEASE_SECONDS = 60.0
FINEWS_HOST_INTERVAL = 1.0
FINEWS_EGRESS = "default"
FINEWS_REDIS_RETRY_SECONDS = 120.0
FINEWS_WRITER_WINDOW = 200

# --- Scrapy: politeness for the real site ---------------------------------
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/json,application/xhtml+xml,*/*;q=0.8",
    "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5",
    "Referer": REFERER,
}
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 4
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 1.0
# ±50% random variation of DOWNLOAD_DELAY.
DOWNLOAD_DELAY_JITTER = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 8 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
# A real redirect chain is one or two hops (legacy URL -> article); more is a
# loop or a trap. RedirectGuardMiddleware also ends loops at their first repeat.
REDIRECT_MAX_TIMES = 5
# 404s reach the spider: a missing article page falls back to the Choice text.
HTTPERROR_ALLOWED_CODES = [404]
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
# Scrapy starts CONCURRENT_ITEMS (default 100) asyncio worker tasks for every
# response's output, however few items it has: ~100 tasks and ~300 queue
# operations per article page that yields one item. A finews callback yields
# at most one or two items (an article, a list's progress); responses are
# still processed concurrently (CONCURRENT_REQUESTS).
CONCURRENT_ITEMS = 1

# Spider middlewares finews has no use for, each a layer of async generators
# around every callback's output: depth (no DEPTH_LIMIT; a list is walked by
# page number), URL length (finews builds its URLs) and the meta-copy warning
# (a development aid; finews builds each request's meta).
SPIDER_MIDDLEWARES = {
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}

DOWNLOADER_MIDDLEWARES = {
    # First of all: a rewritten request is scheduled anew, so it must be
    # rewritten before anything counts or checks it (stats, robots.txt).
    # Redirects are new requests too, so they come through here again.
    "crawler.middlewares.upstream.UpstreamOverrideMiddleware": 50,
    # Just above RetryMiddleware (550): sees 429/503/5xx, exceptions and block
    # pages first, so Scrapy's retry carries the backoff wait, the domain slows
    # down (Retry-After honoured) and a captcha page never reaches a parser.
    "crawler.middlewares.backoff.BackoffMiddleware": 560,
    # Just above RedirectMiddleware (600): refuses off-site redirects and loops
    # before a redirected request is built.
    "crawler.middlewares.redirects.RedirectGuardMiddleware": 610,
}

ITEM_PIPELINES = {
    "pipelines.validate.ValidatePipeline": 100,
    "pipelines.dedupe.DedupePipeline": 200,
    "pipelines.clean.CleanPipeline": 300,
    "pipelines.images.ImagesPipeline": 350,
    "pipelines.snapshot.SnapshotPipeline": 400,
    "pipelines.post.PostPipeline": 500,
    "pipelines.imported.ImportedPipeline": 550,  # make rebuild of imported articles
    "pipelines.index.IndexPipeline": 600,
    # 7×24 items (the fastnews spider): their snapshot, emnews post and row.
    "pipelines.flash.FlashPipeline": 700,
}

EXTENSIONS = {
    "crawler.extensions.logfile.ArchiveLogFile": 0,
    "crawler.extensions.runs.CrawlRunRecorder": 500,
    "crawler.extensions.budget.RunBudget": 510,
    "crawler.extensions.progress.BackfillProgress": 520,
    "crawler.gctune.GcTuning": 900,
}

# Applies FINEWS_RENDER: scrapy-playwright's handler, launch options and
# context recycling when a browser is to be used.
ADDONS = {"crawler.browser.addon.RenderAddon": 0}

# A failing or dropped item logged as one line, never whole (crawler/logformat.py).
LOG_FORMATTER = "crawler.logformat.FinewsLogFormatter"

# `scrapy crawl` is finews's own (lock, exit codes); `scrapy rebuild` too.
COMMANDS_MODULE = "crawler.commands"
