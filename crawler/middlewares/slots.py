"""A domain's penalty put on Scrapy's downloader slots (one slot per host).

Used by :class:`crawler.middlewares.backoff.BackoffMiddleware`; reaches the slots
through the downloader's public ``slots`` only. The penalty state is
:class:`crawler.middlewares.penalty.DomainBackoff`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from crawler.middlewares.penalty import DomainBackoff, domain_of

if TYPE_CHECKING:
    from scrapy.core.downloader import Slot
    from scrapy.crawler import Crawler

FLAGGED_KEY = "finews_backoff_flagged"  # we set autothrottle_dont_adjust_delay
AT_KEY = "autothrottle_dont_adjust_delay"


def domain_slots(crawler: Crawler, domain: str) -> dict[str, Slot]:
    """The downloader's slots (keyed by host) of ``domain``; none before the engine runs."""
    engine = getattr(crawler, "engine", None)
    downloader = getattr(engine, "downloader", None)
    if downloader is None:
        return {}
    return {k: s for k, s in list(downloader.slots.items()) if domain_of(k) == domain}


def enforce(slots: dict[str, Slot], state: DomainBackoff) -> None:
    """Put the domain's penalty on each of its downloader slots."""
    now = time.monotonic()
    for key, slot in slots.items():
        state.saved_delays.setdefault(key, slot.delay)
        slot.delay = max(slot.delay, state.floor)
        if state.resume_at > now:
            # The downloader starts the next request at lastseen + delay:
            # a lastseen in the future pauses even requests already queued.
            slot.lastseen = max(slot.lastseen, state.resume_at)
        for queued in slot.active:
            # AutoThrottle must not lower the delay on their answers.
            if not queued.meta.get(AT_KEY):
                queued.meta[AT_KEY] = True
                queued.meta[FLAGGED_KEY] = True


def relax(slots: dict[str, Slot], state: DomainBackoff) -> None:
    """The floor came down: give the slots back their own delay (or the new floor)."""
    for key, slot in slots.items():
        slot.delay = max(state.saved_delays.get(key, slot.delay), state.floor)
    if state.floor <= 0:
        state.saved_delays.clear()
