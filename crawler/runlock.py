"""One run at a time per archive: an exclusive ``flock`` on ``<archive>/.lock``.

The kernel drops the lock when the process dies, however it dies, so a lock
left by a killed run never blocks the next one. The file records who holds
it, for the message a second run prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class ArchiveLocked(RuntimeError):
    """Another finews run holds the archive."""


class ArchiveLock:
    def __init__(self, archive_dir: Path) -> None:
        self.path = archive_dir / ".lock"
        self._fd: int | None = None

    def acquire(self, what: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            raise ArchiveLocked(
                f"archive {self.path.parent} is locked by another finews run ({holder or 'unknown'})"
            ) from None
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}: {what}\n".encode(), 0)
        except OSError:
            pass  # a full disk: the lock is held all the same, without its note

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ArchiveLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
