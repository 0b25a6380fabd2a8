"""Stopping a run early and cleanly: on its budget, when blocked, on SIGTERM/SIGINT.

Scrapy's own graceful stop waits for every request in progress, and a request
waiting out a backoff (a retry's wait, a penalized slot's delay of up to
FINEWS_BACKOFF_MAX) is in progress: a stop took minutes and ended ``failed``.
:func:`request_stop` instead

1. marks the run as stopping (``finews/stop/reason`` in the stats), so the backoff
   middleware refuses every further request with :class:`StopCancelled`;
2. cancels the waits: each sleeping retry ends with :class:`StopCancelled`, and
   the requests queued in the downloader's slots (not yet sent) are taken out
   and end the same way; requests on the wire finish (DOWNLOAD_TIMEOUT bounds
   them);
3. closes the spider with the stop's reason, so the pipelines flush (what was
   fetched is committed) and :mod:`crawler.outcome` reads the reason.

A request ended by :class:`StopCancelled` is not a failure: the spiders' errbacks
count it (``finews/stop/left``) and record nothing, so the next run lists it and
fetches it as if it had never been seen.
Stats: ``finews/stop/reason``, ``finews/stop/cancelled_waits``, ``finews/stop/left``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import IgnoreRequest
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet.defer import Deferred

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

#: Close reasons of a stopped run (see crawler.outcome).
BUDGET, BLOCKED, STOPPED = "budget", "blocked", "stopped"
STOP_REASONS = (BUDGET, BLOCKED, STOPPED)


class StopCancelled(IgnoreRequest):
    """The run is stopping: this request was not sent, and is left for the next run."""


@dataclass
class _StopState:
    reason: str | None = None
    sleepers: dict[Deferred[None], Any] = field(default_factory=dict)


_STATES: weakref.WeakKeyDictionary[Crawler, _StopState] = weakref.WeakKeyDictionary()


def _state(crawler: Crawler) -> _StopState:
    if crawler not in _STATES:
        _STATES[crawler] = _StopState()
    return _STATES[crawler]


def stopping(crawler: Crawler) -> str | None:
    """The reason the run is stopping, or None while it runs."""
    state = _STATES.get(crawler)
    return state.reason if state is not None else None


async def sleep(crawler: Crawler, seconds: float) -> None:
    """Wait on the reactor; raises :class:`StopCancelled` when the run stops meanwhile."""
    state = _state(crawler)
    if state.reason is not None:
        raise StopCancelled(f"run stopping ({state.reason})")
    d: Deferred[None] = Deferred()

    def wake() -> None:
        state.sleepers.pop(d, None)
        if not d.called:
            d.callback(None)

    state.sleepers[d] = call_later(seconds, wake)
    await maybe_deferred_to_future(d)


def request_stop(crawler: Crawler, reason: str) -> bool:
    """Stop the run now (see the module doc); False if it was already stopping."""
    state = _state(crawler)
    if state.reason is not None:
        return False
    state.reason = reason
    stats = crawler.stats
    if stats is not None:
        stats.set_value("finews/stop/reason", reason)
    for d, timer in list(state.sleepers.items()):
        timer.cancel()
        if not d.called:
            d.errback(StopCancelled(f"run stopping ({reason})"))
            if stats is not None:
                stats.inc_value("finews/stop/cancelled_waits")
    state.sleepers.clear()
    engine = getattr(crawler, "engine", None)
    downloader = getattr(engine, "downloader", None)
    for slot in list(getattr(downloader, "slots", {}).values()):
        if slot.latercall is not None:
            slot.latercall.cancel()
            slot.latercall = None
        while slot.queue:
            request, queued = slot.queue.popleft()
            queued.errback(StopCancelled(f"run stopping ({reason}): {request.url}"))
            if stats is not None:
                stats.inc_value("finews/stop/cancelled_waits")
    if engine is not None and engine.spider is not None:
        deferred_from_coro(engine.close_spider_async(reason=reason))
    return True


def install_signal_stop(crawler: Crawler) -> None:
    """SIGTERM/SIGINT stop the run cleanly (close reason ``stopped``); a second one kills.

    Installed once the reactor runs, in place of Scrapy's handlers (the caller
    starts the crawler process with ``install_signal_handlers=False``): Scrapy's
    graceful stop waits for every request in progress, backoff waits included.
    """
    import signal

    from twisted.internet import reactor

    def handler(signum: int, _frame: Any) -> None:
        # A second signal: the default action (the process ends at once).
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        reactor.callFromThread(request_stop, crawler, STOPPED)  # type: ignore[attr-defined]

    def install() -> None:
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    if reactor.running:  # type: ignore[attr-defined]
        install()  # a later spider of `scrapy crawl columns fastnews`
    else:
        reactor.addSystemEventTrigger("after", "startup", install)  # type: ignore[attr-defined]
