"""One seam for the pipelines' heavy work: ``await workers.run(fn, *args)``.

A crawl runs on one Python thread: downloading, parsing and every pipeline
stage share one core, and the stages (cleaning, Markdown, front matter, WARC
records, file writes, SQLite) cost about as much as the downloading itself.
So the stages hand their work — a module-level function and its arguments —
to a worker process and await the answer; the reactor downloads and parses
the next pages meanwhile, on the other core. ``FINEWS_WORKERS = 0`` runs the
same calls on a thread of the crawl process instead (the same bytes out;
tests/test_same_output.py and tests/test_crawl_e2e.py compare).

Lanes: ``Workers.for_crawler(crawler)`` is the stages' pool (FINEWS_WORKERS
processes); ``Workers.for_crawler(crawler, lane="index")`` is a lane of one
process whose calls run one at a time in the order they were made: the
database has one writer and its writes keep their order.

Transport: each worker is ``python -m crawler.workers`` on one end of a
socket pair; calls and answers are pickled, length-prefixed messages (the
framing of :class:`multiprocessing.connection.Connection`, which the worker
uses as it is). The crawl process writes and reads them as an asyncio stream
of the event loop: a send never waits (the stream buffers what the worker has
not read yet) and no thread of the crawl process takes part in a call.
(``ProcessPoolExecutor`` was measured here: its manager and queue-feeder
threads cost the crawl process ~500 µs of CPU a call against ~170 µs, and
figure 1 fell from 0.63 to 0.41; bench/README.md.)

Failure handling: an exception raised by ``fn`` comes back as it is.
Arguments that do not pickle make that one call run on the thread. A worker
that dies (killed, out of memory) or cannot start: the calls it held and every
later call of its lane run on the crawl process's thread, in the order they
were made; nothing is lost; logged once and counted. A worker leaves when its
socket closes: when the crawl closes it at ``spider_closed``, or dies.

Settings: FINEWS_WORKERS, FINEWS_GC_THRESHOLD (both via crawler.config).
Stats: ``finews/workers/calls`` (calls sent to a worker process),
``finews/workers/local`` (calls that ran in the crawl process although
workers were wanted), ``finews/workers/died`` (a worker was lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import logging
import pickle
import signal
import socket
import struct
import subprocess
import sys
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from crawler.gctune import tune_gc

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The interpreter that runs the workers (the crawl's own).
PYTHON = sys.executable
ROOT = Path(__file__).resolve().parent.parent
#: A message's length, before it: multiprocessing.connection's own framing, so
#: the worker reads and writes with a plain blocking Connection.
HEADER = struct.Struct("!i")

# The crawler's workers by lane; weak, so a finished crawler takes them along.
_BY_CRAWLER: weakref.WeakKeyDictionary[Any, dict[str, Workers]] = weakref.WeakKeyDictionary()


class WorkerProcess:
    """One ``python -m crawler.workers`` and the stream to it."""

    def __init__(self, preload: Iterable[str], gc_threshold: int) -> None:
        self.sock, theirs = socket.socketpair()
        try:
            fd = theirs.fileno()
            cmd = [PYTHON, "-m", __name__, str(fd), str(gc_threshold), *preload]
            self.proc = subprocess.Popen(cmd, cwd=ROOT, pass_fds=[fd], stdin=subprocess.DEVNULL)
        except BaseException:
            self.sock.close()
            raise
        finally:
            theirs.close()
        #: call id -> (fn, args, the caller's future), in the order sent.
        self.pending: dict[int, tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future]] = {}
        self.opening: asyncio.Future[None] | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reading: asyncio.Future[None] | None = None

    async def connected(self, on_answer: Callable[[bytes], None], on_lost: Callable) -> None:
        """The stream, opened on the event loop by the first call."""
        if self.opening is None:
            self.opening = asyncio.ensure_future(self._open(on_answer, on_lost))
        await self.opening

    async def _open(self, on_answer: Callable[[bytes], None], on_lost: Callable) -> None:
        reader, self.writer = await asyncio.open_connection(sock=self.sock)
        self.reading = asyncio.ensure_future(self._read(reader, on_answer, on_lost))

    async def _read(
        self, reader: asyncio.StreamReader, on_answer: Callable, on_lost: Callable
    ) -> None:
        try:
            while True:
                (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
                on_answer(await reader.readexactly(size))
        except (asyncio.IncompleteReadError, OSError) as e:  # the worker is gone
            on_lost(self, e)

    def send(self, call_id: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Pickle one call and queue it (raises what pickling raises); the
        stream buffers what the worker has not read yet, so this never waits."""
        assert self.writer is not None
        if self.writer.is_closing():
            raise ConnectionResetError("the worker's stream is closed")
        data = pickle.dumps((call_id, fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        self.writer.write(HEADER.pack(len(data)) + data)

    def stop(self) -> None:
        """End the stream (the worker leaves) and reap the process."""
        if self.reading is not None:
            self.reading.cancel()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # now: the transport would close it later
        if self.writer is not None:
            with contextlib.suppress(RuntimeError):  # the event loop is gone already
                self.writer.transport.abort()
        self.sock.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # busy with a long call: it is not needed any more
            self.proc.kill()
            self.proc.wait()


class Workers:
    """Worker processes (or one thread) with a fail-over to the crawl process."""

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
        self.processes: list[WorkerProcess] = []
        self.thread: ThreadPoolExecutor | None = None
        self.ids = itertools.count()
        try:
            # Started now, so each imports its modules while the crawl starts up.
            for _ in range(min(self.size, 1) if ordered else self.size):
                self.processes.append(WorkerProcess(preload, gc_threshold))
        except OSError as e:  # no process could be started (fork: EAGAIN, no interpreter)
            self._lost(None, e)

    @classmethod
    def for_crawler(cls, crawler: Any, lane: str = "") -> Workers:
        """The crawler's workers for ``lane``: ``""`` (the stages': FINEWS_WORKERS
        processes) or a named lane of one process, whose calls run in order.
        Closed at ``spider_closed``."""
        lanes = _BY_CRAWLER.setdefault(crawler, {})
        workers = lanes.get(lane)
        if workers is None:
            from scrapy import signals

            from crawler.config import FinewsConfig

            cfg = FinewsConfig.from_settings(crawler.settings)
            size = min(cfg.workers, 1) if lane else cfg.workers
            preload = INDEX_MODULES if lane else STAGE_MODULES
            workers = cls(size, crawler.stats, cfg.gc_threshold, preload, ordered=bool(lane))
            lanes[lane] = workers
            crawler.signals.connect(workers.close, signal=signals.spider_closed)
        return workers

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker process (on the crawl process's thread
        with FINEWS_WORKERS = 0, or when no worker can take it)."""
        if not self.processes:
            if self.size:
                self.stats.inc_value("finews/workers/local")
            return await asyncio.wrap_future(self._thread().submit(fn, *args))
        process = min(self.processes, key=lambda p: len(p.pending))
        await process.connected(lambda data: self._answered(process, data), self._lost)
        if process not in self.processes:  # lost meanwhile
            return await self.run(fn, *args)
        call_id = next(self.ids)
        try:
            process.send(call_id, fn, args)
        except OSError as e:  # the worker is gone
            self._lost(process, e)
            return await self.run(fn, *args)
        except Exception as e:  # does not pickle: this one call runs here
            logger.warning("%s runs in the crawl process: %s", fn.__qualname__, e)
            self.stats.inc_value("finews/workers/local")
            return await asyncio.wrap_future(self._thread().submit(fn, *args))
        self.stats.inc_value("finews/workers/calls")
        future = asyncio.get_running_loop().create_future()
        process.pending[call_id] = (fn, args, future)
        return await future

    def _answered(self, process: WorkerProcess, data: bytes) -> None:
        call_id, ok, value = pickle.loads(data)
        _, _, future = process.pending.pop(call_id)
        if not future.done():
            future.set_result(value) if ok else future.set_exception(value)

    def _lost(self, process: WorkerProcess | None, error: BaseException) -> None:
        """A worker died or never started: its calls, in order, run here."""
        self.stats.inc_value("finews/workers/died")
        logger.error("a worker process died (%r); the crawl process does its work now", error)
        if process is None or process not in self.processes:
            return
        self.processes.remove(process)
        pending, process.pending = process.pending, {}
        process.stop()
        for fn, args, future in pending.values():  # submitted in order: one thread runs them
            self.stats.inc_value("finews/workers/local")
            _chain(self._thread().submit(fn, *args), future)

    def _thread(self) -> ThreadPoolExecutor:
        # One thread: calls in order, and a database connection of its own.
        if self.thread is None:
            self.thread = ThreadPoolExecutor(1, thread_name_prefix="finews-worker")
        return self.thread

    def close(self, *args: Any, **kwargs: Any) -> None:
        """Stop the processes (after the calls under way) and the thread."""
        processes, self.processes = self.processes, []
        for process in processes:
            process.stop()
        thread, self.thread = self.thread, None
        if thread is not None:
            thread.shutdown(wait=True)


def _chain(source: Future[Any], target: asyncio.Future) -> None:
    """Settle the loop's ``target`` with the thread's ``source``, in the loop."""

    def copy(done: Future[Any]) -> None:
        if target.done():
            return
        error = done.exception()
        target.set_exception(error) if error is not None else target.set_result(done.result())

    source.add_done_callback(lambda done: target.get_loop().call_soon_threadsafe(copy, done))


#: What each lane's workers import at start (the modules of the functions the
#: stages send; they import neither Scrapy nor Twisted).
STAGE_MODULES = (
    "crawler.transform.html.clean",
    "crawler.transform.posts",
    "crawler.transform.snapshots",
)
INDEX_MODULES = ("crawler.store.writes",)


def serve(fd: int, gc_threshold: int, modules: Iterable[str]) -> None:
    """A worker: answer calls until the connection closes."""
    # Ctrl-C and systemd's SIGTERM reach the whole group: the crawl closes its workers.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    for module in modules:
        importlib.import_module(module)
    tune_gc(gc_threshold)  # after the imports: they are frozen with the rest
    conn = Connection(fd)
    while True:
        try:
            call_id, fn, args = pickle.loads(conn.recv_bytes())
        except EOFError:
            return
        try:
            answer: tuple[int, bool, Any] = (call_id, True, fn(*args))
        except BaseException as e:  # noqa: BLE001 - every error goes back to the caller
            answer = (call_id, False, e)
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
            if not answer[1]:
                pickle.loads(data)  # an exception that does not unpickle would be lost there
        except Exception as e:
            what = "answer" if answer[1] else f"error ({answer[2]!r})"
            error = RuntimeError(f"{fn.__qualname__}: the {what} does not pickle: {e!r}")
            data = pickle.dumps((call_id, False, error), protocol=pickle.HIGHEST_PROTOCOL)
        conn.send_bytes(data)


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
