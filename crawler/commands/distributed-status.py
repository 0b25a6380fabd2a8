"""``scrapy distributed-status``: a distributed run's queues, items per second, workers alive.

``--interval S`` samples twice S seconds apart for the rates (default 2),
``--watch`` repeats until interrupted, ``--json`` prints the raw snapshot,
``--reset`` deletes the run's keys (FINEWS_REDIS_PREFIX) to start another run.
Settings: FINEWS_REDIS_URL, FINEWS_REDIS_PREFIX.
"""

from __future__ import annotations

import argparse
import json
import time

from scrapy.commands import ScrapyCommand

from crawler.commands import config_or_usage_error
from crawler.distributed.status import render, reset, snapshot


class Command(ScrapyCommand):
    requires_project = True
    default_settings = {"LOG_ENABLED": False}

    def short_desc(self) -> str:
        return "Show a distributed run: queue lengths, items/s, workers alive"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--interval", type=float, default=2.0, help="seconds between samples")
        parser.add_argument("--watch", action="store_true", help="repeat until interrupted")
        parser.add_argument("--json", action="store_true", help="print the raw snapshot")
        parser.add_argument("--reset", action="store_true", help="delete the run's keys")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if (cfg := config_or_usage_error(self)) is None:
            return
        if opts.reset:
            print(f"deleted {reset(cfg)} keys under {cfg.redis_prefix}:")
            return
        while True:
            before = snapshot(cfg)
            time.sleep(max(0.0, opts.interval))
            after = snapshot(cfg)
            print(json.dumps(after, indent=1) if opts.json else render(before, after), flush=True)
            if not opts.watch:
                return
            print()
