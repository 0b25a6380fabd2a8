"""Safe file writes: every archive file is written whole or not at all.

Durability is batched: :func:`atomic_write` does not ``fsync`` each file (2–3
per article, each one stalling the Twisted reactor for 0.5–8 ms); the index
stage calls :func:`sync_filesystem` before it commits a batch of rows, so "a
row means its snapshot and post are on disk" still holds. A crash before that
loses at most files whose rows were never written: the next run fetches those
articles again and writes the same bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
from pathlib import Path


class UnsafePathError(ValueError):
    """A derived path would leave the archive directory."""


@functools.lru_cache(maxsize=64)
def _resolved_root(root: str) -> str:
    return os.path.realpath(root)


def inside(root: Path, relpath: str) -> Path:
    """``root / relpath``, refusing anything that leaves ``root``.

    Lexical (``normpath``), with the root resolved once: the relative paths
    are derived from ids and dates and finews makes no symlinks, so resolving
    every component of every path (an ``lstat`` each, three paths an article)
    buys nothing.
    """
    base = _resolved_root(os.fspath(root))
    path = os.path.normpath(os.path.join(base, relpath))
    if path != base and not path.startswith(base.rstrip(os.sep) + os.sep):
        raise UnsafePathError(f"{relpath!r} is outside {root}")
    return Path(path)


#: Directories this process made or found (``atomic_write`` makes each once).
_DIRECTORIES: set[str] = set()


def atomic_write(path: Path, data: bytes, durable: bool = True) -> bool:
    """Write ``data`` to ``path`` via a temp file and ``os.replace``.

    Returns False (and writes nothing) when the file already holds exactly
    these bytes, so unchanged posts keep their mtime. ``durable`` fsyncs the
    file before the rename; the archive pipelines turn it off and rely on the
    index stage's :func:`sync_filesystem` per batch.
    """
    name = os.fspath(path)
    try:
        if os.stat(name).st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    directory, base = os.path.split(name)
    directory = directory or os.curdir
    if directory not in _DIRECTORIES:
        os.makedirs(directory, exist_ok=True)
        _DIRECTORIES.add(directory)
    # One writer per archive (the archive lock): a per-process temp name is
    # unique, and cheaper than mkstemp's random ones. A dotfile, so Jekyll
    # never publishes a leftover of a killed write.
    tmp = os.path.join(directory, f".{base}.{os.getpid()}.tmp")
    # 0o666 less the umask, as any new file (mkstemp's 0o600 made posts
    # unreadable to a web server running as another user).
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    except FileNotFoundError:  # the directory was removed since: make it again
        _DIRECTORIES.discard(directory)
        os.makedirs(directory, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return True


_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def sync_filesystem(directory: Path) -> None:
    """Flush everything written to the file system holding ``directory``
    (Linux ``syncfs(2)``; ``os.sync()`` where there is none)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        if getattr(_LIBC, "syncfs", None) is None or _LIBC.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)
