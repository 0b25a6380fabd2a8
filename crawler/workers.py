"""One seam for the pipelines' heavy work: ``await workers.run(fn, *args)``.

A crawl runs on one Python thread: downloading, parsing and every pipeline
stage share one core, and the stages (cleaning, Markdown, front matter, WARC
records, file writes) cost about as much as the downloading itself. So the
stages hand their pure work — a module-level function of ``crawler.`` or
``pipelines.`` and its arguments — to a :class:`ProcessPoolExecutor` through
``loop.run_in_executor`` and await the answer; the reactor downloads and
parses the next pages meanwhile, on another core. ``FINEWS_WORKERS = 0`` runs
the same calls on a thread of the crawl process instead (the same bytes out;
tests/test_crawl_e2e.py compares).

Lanes: ``Workers.for_crawler(crawler)`` is the stages' pool (FINEWS_WORKERS
processes); ``Workers.for_crawler(crawler, lane="index")`` is a lane of one
process (one thread with FINEWS_WORKERS = 0) whose calls run one at a time in
the order they were made: the database has one writer and its writes keep
their order.

Start-up: the processes are started (spawned) when the pipelines are built,
and their initializer imports the crawl's item pipeline modules and applies
FINEWS_GC_THRESHOLD (crawler.gctune) while the crawl process is still starting
up. A worker also leaves when the crawl process dies (it watches its parent),
and ignores Ctrl-C (the crawl shuts down gracefully and closes it).

Failure handling: an exception raised by ``fn`` comes back as it is. A worker
that dies (killed, out of memory) breaks the pool (``BrokenProcessPool``): the
calls it held and every later call run on the crawl process's thread, nothing
is lost (a lane's calls still in order); it is logged once and counted.
Arguments that do not pickle make that one call run on the thread. The pools
are closed at ``spider_closed`` (no process outlives the crawl).

Settings: FINEWS_WORKERS, FINEWS_GC_THRESHOLD (both via crawler.config).
Stats: ``finews/workers/calls`` (calls sent to a worker process),
``finews/workers/local`` (calls that ran in the crawl process although
workers were wanted), ``finews/workers/died`` (a pool broke).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait
from typing import Any, TypeVar

from crawler.gctune import tune_gc

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The crawler's workers by lane; weak, so a finished crawler takes them along.
_BY_CRAWLER: weakref.WeakKeyDictionary[Any, dict[str, Workers]] = weakref.WeakKeyDictionary()


def _start_worker(modules: tuple[str, ...], gc_threshold: int) -> None:
    """The pool's initializer, in each worker process."""
    # Ctrl-C reaches the whole process group: the crawl shuts down gracefully
    # and closes its pools; a worker interrupted meanwhile would lose its call.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for module in modules:
        importlib.import_module(module)
    tune_gc(gc_threshold)  # after the imports: they are frozen with the rest
    parent = multiprocessing.parent_process()
    if parent is not None:
        # A crawl process killed outright never closes its pool, and an idle
        # worker would wait for calls forever: leave with the parent instead.
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    wait([sentinel])
    os._exit(1)


def _call(payload: bytes) -> Any:
    """A call in a worker: ``(fn, args)`` pickled by the crawl process."""
    fn, args = pickle.loads(payload)
    return fn(*args)


def _started() -> int:
    """The no-op that makes the pool start a process now."""
    return os.getpid()


class Workers:
    """A pool of worker processes (or one thread), with a fail-over to the crawl process."""

    def __init__(
        self,
        size: int,
        stats: Any,
        gc_threshold: int = 0,
        preload: Iterable[str] = (),
        ordered: bool = False,
    ) -> None:
        self.size = max(0, size)
        self.stats = stats
        self.ordered = ordered
        self.pool: ProcessPoolExecutor | None = None
        self.thread: ThreadPoolExecutor | None = None
        # An ordered lane's latest call, and latest call run here: what the
        # next call waits for before it runs here, or in the pool.
        self.last: Future[None] | None = None
        self.local: Future[None] | None = None
        if self.size:
            self.pool = ProcessPoolExecutor(
                self.size,
                # Spawned, not forked: a fork would copy the crawl's threads'
                # locks and hold its sockets and the archive lock's file.
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(tuple(preload), gc_threshold),
            )
            try:
                for _ in range(self.size):  # each submit to a busy pool starts a process
                    self.pool.submit(_started)
            except OSError as e:  # no process could be started (fork: EAGAIN)
                self._broken(e)

    @classmethod
    def for_crawler(cls, crawler: Any, lane: str = "") -> Workers:
        """The crawler's workers for ``lane``: ``""`` (the stages': FINEWS_WORKERS
        processes) or a named lane of one process, whose calls run in order.
        Closed at ``spider_closed``."""
        lanes = _BY_CRAWLER.setdefault(crawler, {})
        workers = lanes.get(lane)
        if workers is None:
            from scrapy import signals
            from scrapy.utils.conf import build_component_list

            from crawler.config import FinewsConfig

            cfg = FinewsConfig.from_settings(crawler.settings)
            # What the workers will be asked to run: the item pipelines' modules.
            pipelines = build_component_list(crawler.settings.getwithbase("ITEM_PIPELINES"))
            modules = sorted(
                p.__module__ if isinstance(p, type) else str(p).rpartition(".")[0]
                for p in pipelines
            )
            size = min(cfg.workers, 1) if lane else cfg.workers
            workers = cls(size, crawler.stats, cfg.gc_threshold, modules, ordered=bool(lane))
            lanes[lane] = workers
            crawler.signals.connect(workers.close, signal=signals.spider_closed)
        return workers

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker process (on the crawl process's thread
        with FINEWS_WORKERS = 0, or when no worker can take it)."""
        loop = asyncio.get_running_loop()
        previous, local_before, mine = self.last, self.local, None
        if self.ordered:
            self.last = mine = Future()
        try:
            if self.size:
                payload = None
                if self.pool is not None:
                    try:
                        # Pickled here, not in the pool's feeder thread: an
                        # argument that does not pickle is told apart from
                        # an error of fn.
                        payload = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
                    except Exception as e:
                        logger.warning("%s runs in the crawl process: %s", fn.__qualname__, e)
                if payload is not None and local_before is not None and not local_before.done():
                    # A lane: not before an earlier call that runs here.
                    await asyncio.wrap_future(local_before)
                pool = self.pool
                if payload is not None and pool is not None:
                    self.stats.inc_value("finews/workers/calls")
                    try:
                        return await loop.run_in_executor(pool, _call, payload)
                    except BrokenProcessPool as e:
                        self._broken(e)
                self.stats.inc_value("finews/workers/local")
                if self.ordered:
                    # A lane's call that fails over (or comes after) runs once
                    # the earlier ones are done, wherever those ran.
                    self.local = mine
                    if previous is not None:
                        await asyncio.wrap_future(previous)
            return await loop.run_in_executor(self._thread(), fn, *args)
        finally:
            if mine is not None:
                mine.set_result(None)

    def _thread(self) -> ThreadPoolExecutor:
        # One thread: calls in order, and a database connection of its own.
        if self.thread is None:
            self.thread = ThreadPoolExecutor(1, thread_name_prefix="finews-worker")
        return self.thread

    def _broken(self, error: BaseException) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            pool.shutdown(wait=False, cancel_futures=True)
            self.stats.inc_value("finews/workers/died")
            logger.error("a worker process died (%r); the crawl process does its work now", error)

    def close(self, *args: Any, **kwargs: Any) -> None:
        """Wait for the calls under way and stop the processes and the thread."""
        pool, self.pool = self.pool, None
        if pool is not None:
            # A worker never called has only its start-up to finish.
            pool.shutdown(wait=True, cancel_futures=True)
        thread, self.thread = self.thread, None
        if thread is not None:
            thread.shutdown(wait=True)
