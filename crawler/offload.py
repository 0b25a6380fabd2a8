"""Run the pipelines' CPU-heavy pure functions in a worker process.

A crawl runs on one Python thread: downloading, parsing and every pipeline
stage share one core, and the stages (cleaning, Markdown, front matter, WARC
records, file writes) cost about as much as the downloading itself. With
``FINEWS_WORKERS = N`` (default 1) those stages send their pure work — a
module-level function and its arguments — to N worker processes and await
the answer, so the reactor downloads and parses the next pages meanwhile, on
another core. ``FINEWS_WORKERS = 0`` runs everything in the crawl process (the
results are the same bytes either way; tests/test_crawl_e2e.py compares).

Lanes: the stages share the ``FINEWS_WORKERS`` processes; a named lane
(``Offload.for_crawler(crawler, lane="index")``: the database writes) has one
process of its own, whose calls run one at a time in the order they were
made. ``ps`` shows each worker's lane as its last argument.

Protocol: a socket pair per worker, frames of a 4-byte big-endian length and
a pickle: ``(request id, "module:function", args)`` one way, ``(request id,
ok, result or exception)`` the other. Only functions of finews's own packages
(``pipelines.``, ``crawler.``) are run.

Failure handling: an exception raised by the function is raised again in the
crawl process (as if it had run there). A worker that dies (killed, out of
memory) fails its calls over to the crawl process: the work is redone there
and nothing is lost (in order: a lane's calls fail over in the order they
were made); it is logged once and counted. Workers start when the pipelines
are built (``for_crawler(..., preload=module)``: they import their modules
while the crawl process is still starting up), or else at the first call, and
are closed with the spider.

Settings: FINEWS_WORKERS, FINEWS_GC_THRESHOLD (crawler.gctune, in the workers too).
Stats: ``finews/offload/calls``,
``finews/offload/local`` (calls run in the crawl process after a worker died),
``finews/offload/died``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import pickle
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from crawler.counters import counter

logger = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
_SOCKET_BUFFER = 4 << 20
_ALLOWED = ("pipelines.", "crawler.")
_ROOT = Path(__file__).resolve().parent.parent


class WorkerDied(RuntimeError):
    """The worker process ended while calls were waiting for it."""


class CannotSend(RuntimeError):
    """The call's arguments cannot be sent to a worker (they do not pickle)."""


def _name_of(fn: Callable[..., Any]) -> str:
    name = f"{fn.__module__}:{fn.__qualname__}"
    if not fn.__module__.startswith(_ALLOWED) or "<" in fn.__qualname__:
        raise ValueError(f"{name} cannot be offloaded (module-level finews functions only)")
    return name


def _resolve(name: str) -> Callable[..., Any]:
    module, _, qualname = name.partition(":")
    if not module.startswith(_ALLOWED):
        raise ValueError(f"refusing to run {name}")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _frames(buffer: bytearray) -> Iterator[Any]:
    """Unpickle the complete frames at the start of ``buffer``, one by one,
    and remove them from it (a partial frame stays for the next chunk)."""
    start, end = 0, len(buffer)
    try:
        while end - start >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buffer, start)
            stop = start + _HEADER.size + size
            if stop > end:
                break
            value = pickle.loads(memoryview(buffer)[start + _HEADER.size : stop])
            start = stop
            yield value
    finally:
        del buffer[:start]


class _Answers(asyncio.Protocol):
    """The crawl process's end of a worker's socket: answer frames to futures.

    A plain protocol rather than asyncio streams: each chunk the loop reads
    is cut into frames at once (streams awaited twice per frame, and the
    three calls an article makes each paid for it on the busy reactor).
    """

    def __init__(self, worker: _Worker) -> None:
        self.worker = worker
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.resumed: asyncio.Future[None] | None = None  # set while writing is paused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # Calls wait in the kernel's 4 MiB (see _Worker), not behind a pause.
        transport.set_write_buffer_limits(high=_SOCKET_BUFFER)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            for answer in _frames(self.buffer):
                self.worker.answer(*answer)
        except Exception as e:  # an unreadable answer: nothing more can be trusted
            self.worker.died(e)
            if self.transport is not None:
                self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.worker.died(exc or ConnectionResetError("the worker closed its socket"))
        if self.resumed is not None and not self.resumed.done():
            self.resumed.set_result(None)

    def pause_writing(self) -> None:
        if (self.resumed is None or self.resumed.done()) and self.worker.loop is not None:
            self.resumed = self.worker.loop.create_future()

    def resume_writing(self) -> None:
        if self.resumed is not None and not self.resumed.done():
            self.resumed.set_result(None)


class _Worker:
    """One worker process and the calls waiting for its answers."""

    def __init__(self, gc_threshold: int = 0, lane: str = "") -> None:
        parent, child = socket.socketpair()
        # Room in the kernel for many calls each way: what does not fit waits in
        # the crawl process's buffer until its busy loop flushes it, and the
        # worker sat idle meanwhile (~1 s of a 6 s crawl). The kernel caps the
        # size at net.core.wmem_max / rmem_max.
        for end in (parent, child):
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                with contextlib.suppress(OSError):
                    end.setsockopt(socket.SOL_SOCKET, option, _SOCKET_BUFFER)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            # The lane is only for the eye (ps): "stages" or its name.
            [
                sys.executable,
                "-m",
                "crawler.offload",
                str(child.fileno()),
                str(gc_threshold),
                lane or "stages",
            ],
            pass_fds=[child.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
        )
        child.close()
        self.sock = parent
        self.loop: asyncio.AbstractEventLoop | None = None  # the crawl's, at the first call
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.ids = 0
        self.alive = True
        self.protocol = _Answers(self)
        self.ready: asyncio.Task[None] | None = None

    def preload(self, module: str) -> None:
        """Have the worker import ``module`` now (before the first call needs it).

        Sent on the still blocking socket, before the loop takes it over; the
        worker's answer (call id 0) is read and ignored once connected.
        """
        if self.ready is None and self.alive:
            frame = pickle.dumps((0, _name_of(preload), (module,)))
            try:
                self.sock.sendall(_HEADER.pack(len(frame)) + frame)
            except OSError as e:
                self.died(e)

    async def _connect(self) -> None:
        assert self.loop is not None
        await self.loop.create_unix_connection(lambda: self.protocol, sock=self.sock)

    def answer(self, call_id: int, ok: bool, value: Any) -> None:
        future = self.waiting.pop(call_id, None)
        if future is None or future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def died(self, cause: BaseException) -> None:
        if self.alive:
            self.alive = False
            code = self.proc.poll()
            for future in self.waiting.values():
                if not future.done():
                    future.set_exception(WorkerDied(f"worker exited ({code}): {cause!r}"))
            self.waiting.clear()

    async def call(self, name: str, args: tuple[Any, ...]) -> Any:
        if self.protocol.transport is None:
            if self.ready is None:
                self.loop = asyncio.get_running_loop()
                self.ready = self.loop.create_task(self._connect())
            try:
                await self.ready
            except Exception as e:  # the socket could not be set up
                self.died(e)
        if not self.alive:
            raise WorkerDied("worker is gone")
        # Pickled before anything is registered: arguments that do not pickle
        # make the caller run the call itself.
        try:
            frame = pickle.dumps((self.ids + 1, name, args), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:
            raise CannotSend(f"{type(e).__name__}: {e}") from e
        self.ids += 1
        future: asyncio.Future[Any] = self.loop.create_future()
        self.waiting[self.ids] = future
        protocol = self.protocol
        assert protocol.transport is not None  # connected (or not alive: raised above)
        protocol.transport.write(_HEADER.pack(len(frame)) + frame)
        if protocol.resumed is not None and not protocol.resumed.done():
            await protocol.resumed  # more than 4 MiB unsent: wait for the worker
        return await future

    def close(self, timeout: float = 10.0) -> None:
        self.alive = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # the worker reads EOF and exits
        if self.ids == 0 and self.proc.poll() is None:
            # Never called (a run with nothing new): it holds no work, only
            # its preloads, which a cron run should not wait ~0.2 s for.
            self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.protocol.transport is not None:
            self.protocol.transport.close()
        else:
            self.sock.close()


class Offload:
    """The crawl's workers (one set per crawler, shared by the stages)."""

    def __init__(
        self,
        workers: int,
        stats: Any,
        needs_reactor: bool = True,
        gc_threshold: int = 0,
        lane: str = "",
    ) -> None:
        self.size = max(0, workers)
        self.lane = lane
        self.gc_threshold = gc_threshold
        self.inc = counter(stats)
        self._names: dict[Callable[..., Any], str] = {}  # fn -> "module:function"
        self.needs_reactor = needs_reactor
        self.workers: list[_Worker] = []
        self.broken = False
        self._usable_loop: asyncio.AbstractEventLoop | None = None  # checked already

    @classmethod
    def for_crawler(cls, crawler: Any, lane: str = "", preload: str = "") -> Offload:
        """The crawler's workers for ``lane``: ``""`` (FINEWS_WORKERS processes,
        shared by the stages) or a named lane of its own (one process when
        FINEWS_WORKERS > 0, none otherwise), whose calls run one at a time in
        the order they were made (the database writes).

        ``preload``: a module the caller's calls will need (its own,
        ``__name__``). In a crawl on the asyncio reactor the workers start
        here and import it at once, while the crawl process is still starting
        up, instead of at the first article (~0.1-0.2 s each, on the clock)."""
        attr = f"_finews_offload_{lane}" if lane else "_finews_offload"
        offload = getattr(crawler, attr, None)
        if offload is None:
            from scrapy import signals

            from crawler.config import FinewsConfig

            cfg = FinewsConfig.from_settings(crawler.settings)
            size = min(cfg.workers, 1) if lane else cfg.workers
            offload = cls(size, crawler.stats, gc_threshold=cfg.gc_threshold, lane=lane)
            setattr(crawler, attr, offload)
            crawler.signals.connect(offload.close, signal=signals.spider_closed)
        if preload:
            offload.preload(preload)
        return offload

    def preload(self, module: str) -> None:
        """Start the workers now (asyncio reactor only) and have them import ``module``."""
        # No reactor yet (pipelines built by hand): calls will run here.
        if self.size == 0 or self.broken or not self._reactor_ok():
            return
        try:
            workers = self._started()
        except OSError as e:
            self._give_up(f"offload worker did not start ({e})")
            return
        for worker in workers:
            worker.preload(module)

    @property
    def enabled(self) -> bool:
        """True when calls go to workers: some are wanted, none has died, and
        this runs on an asyncio loop (a Scrapy crawl; not a plain test harness)."""
        if self.size == 0 or self.broken:
            return False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if loop is self._usable_loop:  # asked three times per article
            return True
        if not self._reactor_ok():
            return False
        self._usable_loop = loop
        return True

    def _reactor_ok(self) -> bool:
        """Scrapy's asyncio reactor is installed (or none is needed)."""
        if not self.needs_reactor:
            return True
        from scrapy.utils.reactor import is_asyncio_reactor_installed, is_reactor_installed

        return is_reactor_installed() and is_asyncio_reactor_installed()

    def _started(self) -> list[_Worker]:
        if not self.workers:
            self.workers = [_Worker(self.gc_threshold, self.lane) for _ in range(self.size)]
        return self.workers

    def _worker(self) -> _Worker:
        workers = self._started()
        if len(workers) == 1:
            return workers[0]
        return min(workers, key=lambda w: len(w.waiting))

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker (in this process when none can take it)."""
        if not self.enabled:
            return fn(*args)
        name = self._names.get(fn) or self._names.setdefault(fn, _name_of(fn))
        self.inc("finews/offload/calls")
        try:
            worker = self._worker()
        except OSError as e:  # no worker process could be started
            self._give_up(f"offload worker did not start ({e})")
        else:
            try:
                # An exception raised by fn itself in the worker comes back
                # here as it is: not a reason to redo the call.
                return await worker.call(name, args)
            except WorkerDied as e:
                self._give_up(f"offload worker died ({e})")
            except CannotSend as e:
                logger.warning("%s ran in the crawl process: %s", name, e)
        self.inc("finews/offload/local")
        return fn(*args)

    def _give_up(self, why: str) -> None:
        if not self.broken:
            self.broken = True
            self.inc("finews/offload/died")
            logger.error("%s; the crawl process does its work now", why)

    def close(self, *args: Any, **kwargs: Any) -> None:
        workers, self.workers = self.workers, []
        for worker in workers:
            worker.close()


def preload(module: str) -> None:
    """Import ``module`` in this worker (a finews module only)."""
    if not module.startswith(_ALLOWED):
        raise ValueError(f"refusing to import {module}")
    importlib.import_module(module)


def serve(fd: int) -> None:
    """The worker's loop: answer calls until the crawl closes the socket.

    Reads whatever has arrived (often several calls at once) and answers each
    call as soon as it is done, in the order the calls came.
    """
    sock = socket.socket(fileno=fd)
    functions: dict[str, Callable[..., Any]] = {}
    buffer = bytearray()
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionError:
            return
        if not chunk:
            return
        buffer += chunk
        for call_id, name, args in _frames(buffer):
            try:
                fn = functions.get(name) or functions.setdefault(name, _resolve(name))
                answer = (call_id, True, fn(*args))
            except Exception as e:
                answer = (call_id, False, e)
            try:
                frame = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as e:  # an exception that does not pickle
                frame = pickle.dumps((call_id, False, RuntimeError(f"{type(e).__name__}: {e}")))
            sock.sendall(_HEADER.pack(len(frame)) + frame)


if __name__ == "__main__":
    import signal

    # Ctrl-C reaches the whole process group: the crawl shuts down gracefully
    # and closes the socket; the worker leaves when it reads that EOF.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if len(sys.argv) > 2:
        from crawler.gctune import tune_gc

        tune_gc(int(sys.argv[2]))
    serve(int(sys.argv[1]))
