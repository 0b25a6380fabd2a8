"""Scrapy settings for running deploy/'s command lines as written against the replica
(tests/test_deploy.py): finews's settings, the replica as upstream (its origin in
the environment, as cron's line cannot take more options), no politeness delays."""

import os

from crawler.settings import *  # noqa: F403

FINEWS_UPSTREAM = os.environ.get("FINEWS_TEST_UPSTREAM", "")
FINEWS_RENDER = "never"
FINEWS_PAGE_SIZE = 20
DOWNLOAD_DELAY = 0
AUTOTHROTTLE_ENABLED = False
CONCURRENT_REQUESTS_PER_DOMAIN = 8
