# finews — run `make help` for the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SCRAPY := $(VENV)/bin/scrapy
STAMP := $(VENV)/.installed

# Settings passed through to Scrapy (see crawler/settings.py for all FINEWS_*).
ARCHIVE ?= archive
UPSTREAM ?=
COLUMNS ?=
PAGES ?=
SITE_URL ?=
IMAGES ?=
BODY_SOURCE ?=
RENDER ?=
CHROMIUM ?=
# Empty: the console shows one start line and one summary (Scrapy's dumps go to
# the archive's log file); LOGLEVEL=INFO or DEBUG shows Scrapy's log too.
LOGLEVEL ?=
DEMO_DIR ?= build/demo
REFUSE_JSON ?=

SCRAPY_SETTINGS = -s FINEWS_ARCHIVE_DIR=$(ARCHIVE) $(if $(LOGLEVEL),-s LOG_LEVEL=$(LOGLEVEL)) \
	$(if $(UPSTREAM),-s FINEWS_UPSTREAM=$(UPSTREAM)) \
	$(if $(COLUMNS),-s FINEWS_COLUMNS=$(COLUMNS)) \
	$(if $(PAGES),-s FINEWS_MAX_PAGES=$(PAGES)) \
	$(if $(SITE_URL),-s FINEWS_SITE_URL=$(SITE_URL)) \
	$(if $(BODY_SOURCE),-s FINEWS_BODY_SOURCE=$(BODY_SOURCE)) \
	$(if $(QUIET),-s FINEWS_QUIET=$(QUIET)) \
	$(if $(RENDER),-s FINEWS_RENDER=$(RENDER)) \
	$(if $(CHROMIUM),-s FINEWS_CHROMIUM=$(CHROMIUM)) \
	$(if $(IMAGES),-s FINEWS_IMAGES=$(IMAGES)) \
	$(if $(WORKERS),-s FINEWS_WORKERS=$(WORKERS)) \
	$(if $(MAX_RUN_MINUTES),-s FINEWS_MAX_RUN_MINUTES=$(MAX_RUN_MINUTES)) \
	$(if $(FAST_COLUMNS),-s FINEWS_FAST_COLUMNS=$(FAST_COLUMNS))
# The finews command (crawler/cli.py; `.venv/bin/finews` after `make install`):
# its exit status is finews's own, which make turns into 2 on failure, so cron
# and systemd call .venv/bin/finews directly (deploy/).
FINEWS := $(PY) -m crawler.cli

SINCE ?=
UNTIL ?=
# make backfill FEED=fast: the 7×24 feed (FAST_COLUMNS, default 102) instead of the columns.
FEED ?=
FAST_COLUMNS ?=
QUIET ?=

.PHONY: ready help install sysdeps crawl backfill rebuild check-archive import demo test lint format serve reindex site chaos bench clean
.PHONY: serve-site

help:
	@echo "make crawl   crawl the live site into $(ARCHIVE)/ (UPSTREAM, ARCHIVE, COLUMNS, PAGES)"
	@echo "make backfill SINCE=2026-01-01 [UNTIL=2026-03-31] [COLUMNS=350,351] [FEED=fast FAST_COLUMNS=102]"
	@echo "make rebuild regenerate posts and database from the WARC snapshots (offline)"
	@echo "make check-archive  report damaged snapshots, rows and posts that do not match them"
	@echo "make import SRC=../finews [ARCHIVE=…]  bring in the old Jekyll archive's posts (offline)"
	@echo "make demo    start the local replica, crawl it into $(DEMO_DIR)/archive, show the result"
	@echo "make test    run the test suite (installs what it needs)"
	@echo "make lint    ruff check + format check"
	@echo "make bench   benchmark table (BENCH_ARGS=--quick|--check)"
	@echo "make chaos   randomized fault campaign (CHAOS_SEED, CHAOS_RUNS, CHAOS_MINUTES)"
	@echo "make serve   Datasette on 127.0.0.1:$(PORT) over $(ARCHIVE)/ (read-only)"
	@echo "make reindex rebuild the search index of $(ARCHIVE)/finews.db (after a hand edit)"
	@echo "make site    build $(ARCHIVE)/ with Jekyll into $(ARCHIVE)/_site/ (SITE_URL=https://… for absolute feed links)"
	@echo "make serve-site  build the site and serve it on 127.0.0.1:$(SITE_PORT)"
	@echo "make redis   Redis for distributed backfills on 127.0.0.1:$(REDIS_PORT) (deploy/redis.conf, data in build/redis)"
	@echo "make backfill-distributed WORKERS=3 SINCE=… [UNTIL=…] [COLUMNS=…] [REDIS_URL=…]"
	@echo "make worker  one crawl worker of a distributed run (REDIS_URL; SINCE/UNTIL/COLUMNS to start one)"
	@echo "make writer  the archive writer of a distributed run (REDIS_URL)"
	@echo "make distributed-status  queues, items/s, workers alive (REDIS_URL)"

# Set-up only: pip runs here (and for the development targets that depend on the
# stamp), never for the run targets below (crawl, backfill, rebuild, serve,
# reindex, site), which only check that the set-up was done (`ready`).
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

ready:
	@test -x $(PY) || { echo "error: no $(VENV): run 'make install' first" >&2; exit 1; }
	@if [ requirements.txt -nt $(STAMP) ] || [ pyproject.toml -nt $(STAMP) ]; then \
	  echo "warning: requirements changed since the last 'make install' (not installing now): run it" >&2; fi

# Debian packages: Jekyll (site build and its tests) and a headless Chromium
# (browser route and browser tests; Playwright cannot download its own here).
# Installed when missing and we are root; otherwise say what to install.
SYS_PKGS = jekyll ruby-jekyll-feed chromium-headless-shell fonts-wqy-zenhei redis-server
sysdeps:
	@missing=""; \
	command -v jekyll >/dev/null 2>&1 && ruby -e 'require "jekyll-feed"' >/dev/null 2>&1 || missing="$$missing jekyll ruby-jekyll-feed"; \
	[ -x /usr/bin/chromium-headless-shell ] || [ -x /usr/bin/chromium ] || [ -n "$(CHROMIUM)" ] || missing="$$missing chromium-headless-shell"; \
	[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing="$$missing fonts-wqy-zenhei"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || { echo "error: apt-get install$$missing failed" >&2; exit 1; }; \
	  else echo "error: missing Debian packages: run 'sudo apt-get install$$missing'" >&2; exit 1; fi; \
	fi

# The columns, then the 7×24 feed (emnews posts), under one archive lock.
crawl: ready
	$(FINEWS) crawl $(SCRAPY_SETTINGS)

backfill: ready
	@test -n "$(SINCE)" || { echo "usage: make backfill SINCE=YYYY-MM-DD [UNTIL=YYYY-MM-DD] [COLUMNS=350,351]" >&2; exit 2; }
	$(FINEWS) backfill $(if $(FEED),--feed $(FEED)) --since $(SINCE) $(if $(UNTIL),--until $(UNTIL)) $(SCRAPY_SETTINGS)

rebuild: ready
	$(FINEWS) rebuild $(SCRAPY_SETTINGS)

# Read every snapshot and the database; report damage (exit 1), change nothing.
check-archive: install
	$(SCRAPY) check-archive $(SCRAPY_SETTINGS)

# The old Jekyll archive (its _posts/ and old_post/) into $(ARCHIVE); docs/import.md.
SRC ?=
import: ready
	@test -n "$(SRC)" || { echo "usage: make import SRC=../finews [ARCHIVE=archive]" >&2; exit 2; }
	$(FINEWS) import $(SRC) $(SCRAPY_SETTINGS)

demo: install sysdeps
	$(PY) -m tests.demo --dir $(DEMO_DIR) --site $(if $(REFUSE_JSON),--refuse-json)

test: install sysdeps
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The benchmark (bench/README.md explains each figure); QUICK=1 (or BENCH_ARGS=--quick) for
# small sizes, CHECK=1 (--check) to fail when a target is missed.
QUICK ?=
CHECK ?=
BENCH_ARGS ?= $(if $(QUICK),--quick) $(if $(CHECK),--check)
bench: install sysdeps
	$(PY) -m bench --dir build/bench $(BENCH_ARGS)

CHAOS_SEED ?=
CHAOS_RUNS ?= 5
CHAOS_MINUTES ?= 10
CHAOS_EXAMPLES ?= 1000

# Randomized chaos campaign against the faulty replica; prints a table, exits 1 if anything was lost.
chaos: install sysdeps
	$(PY) -m tests.chaos $(if $(CHAOS_SEED),--seed $(CHAOS_SEED)) --runs $(CHAOS_RUNS) --minutes $(CHAOS_MINUTES) --examples $(CHAOS_EXAMPLES)

# Datasette on 127.0.0.1, read-only for visitors: no arbitrary SQL, no
# downloads, bounded query time (see archive/metadata.yml for the canned queries).
PORT ?= 8001
# Never creates a database (a missing archive is an error); a read-only archive
# is served immutable. The settings are in crawler/cli.py (serve).
serve: ready
	$(FINEWS) serve --archive $(ARCHIVE) --port $(PORT)

# Rebuild the search and stock indexes from the articles table: after a hand
# edit of $(ARCHIVE)/finews.db (the crawler is its one writer and keeps them
# itself; nothing else does). Ends with the index check.
reindex: ready
	$(PY) -m crawler.store.search rebuild $(ARCHIVE)/finews.db

# Needs Jekyll (make sysdeps); never installs it at run time. The index pages
# Jekyll cannot make under --safe (home and media pages 2..n, a page per day)
# are written first by crawler/sitepages.py; SITE_URL=https://… gives
# /feed.xml absolute links (its url: in _finews_site.yml).
site: ready
	$(FINEWS) site --archive $(ARCHIVE) $(if $(SITE_URL),--site-url $(SITE_URL))

# The built site on 127.0.0.1:$(SITE_PORT) (opened as files it has no style
# and broken links: its links are root-relative).
SITE_PORT ?= 4000
serve-site: site
	@echo "site: http://127.0.0.1:$(SITE_PORT)/ (Ctrl-C stops)"
	$(PY) -m http.server $(SITE_PORT) --bind 127.0.0.1 --directory $(ARCHIVE)/_site

clean:
	rm -rf build .pytest_cache

# --- distributed backfills (docs/distributed.md) ---------------------------
# WORKERS here is the number of crawl workers, not FINEWS_WORKERS (the
# pipelines' worker processes): these targets build their settings without it.
REDIS_PORT ?= 6379
REDIS_URL ?= redis://127.0.0.1:$(REDIS_PORT)/0
EGRESS ?=
HOST_INTERVAL ?=
WORKER_DIR ?= build/workers
DIST_SETTINGS = -s LOG_LEVEL=$(LOGLEVEL) -s FINEWS_REDIS_URL=$(REDIS_URL) \
	$(if $(UPSTREAM),-s FINEWS_UPSTREAM=$(UPSTREAM)) \
	$(if $(PAGES),-s FINEWS_MAX_PAGES=$(PAGES)) \
	$(if $(SITE_URL),-s FINEWS_SITE_URL=$(SITE_URL)) \
	$(if $(BODY_SOURCE),-s FINEWS_BODY_SOURCE=$(BODY_SOURCE)) \
	$(if $(QUIET),-s FINEWS_QUIET=True) \
	$(if $(RENDER),-s FINEWS_RENDER=$(RENDER)) \
	$(if $(EGRESS),-s FINEWS_EGRESS=$(EGRESS)) \
	$(if $(HOST_INTERVAL),-s FINEWS_HOST_INTERVAL=$(HOST_INTERVAL))
RUN_ARGS = $(if $(SINCE),-a since=$(SINCE)) $(if $(UNTIL),-a until=$(UNTIL)) $(if $(COLUMNS),-a columns=$(COLUMNS))

.PHONY: redis worker writer backfill-distributed distributed-status

# A local Redis in the foreground: loopback only, AOF + RDB persistence in build/redis.
redis:
	@command -v redis-server >/dev/null 2>&1 || $(MAKE) sysdeps
	mkdir -p build/redis
	redis-server deploy/redis.conf --port $(REDIS_PORT) --dir $(CURDIR)/build/redis

# One crawl worker (any host that reaches REDIS_URL); its own scratch directory.
worker: install
	mkdir -p $(WORKER_DIR)
	$(SCRAPY) crawl columns_worker $(DIST_SETTINGS) -s FINEWS_ARCHIVE_DIR=$$(mktemp -d $(WORKER_DIR)/w.XXXXXX) $(RUN_ARGS)

# The one archive writer (on the archive host); exits when the run is done.
writer: install
	$(SCRAPY) crawl writer $(DIST_SETTINGS) -s FINEWS_ARCHIVE_DIR=$(ARCHIVE)

# Writer + WORKERS crawl workers on this machine; exits with the writer's code.
backfill-distributed: install
	@test -n "$(SINCE)" || { echo "usage: make backfill-distributed WORKERS=3 SINCE=YYYY-MM-DD [UNTIL=…] [COLUMNS=…] [REDIS_URL=…]" >&2; exit 2; }
	@mkdir -p $(WORKER_DIR); pids=""; trap 'kill $$pids 2>/dev/null' INT TERM; \
	$(SCRAPY) crawl writer $(DIST_SETTINGS) -s FINEWS_ARCHIVE_DIR=$(ARCHIVE) & writer=$$!; pids="$$writer"; \
	for i in $$(seq 1 $(or $(WORKERS),3)); do \
	  $(SCRAPY) crawl columns_worker $(DIST_SETTINGS) -s FINEWS_ARCHIVE_DIR=$$(mktemp -d $(WORKER_DIR)/w.XXXXXX) $(RUN_ARGS) & pids="$$pids $$!"; \
	done; \
	wait $$writer; code=$$?; wait; exit $$code

distributed-status: install
	$(SCRAPY) distributed-status $(DIST_SETTINGS)
