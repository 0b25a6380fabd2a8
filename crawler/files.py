"""Safe file writes: every archive file is written whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


class UnsafePathError(ValueError):
    """A derived path would leave the archive directory."""


def inside(root: Path, relpath: str) -> Path:
    """``root / relpath``, refusing anything that resolves outside ``root``."""
    root_resolved = root.resolve()
    path = (root / relpath).resolve()
    if path != root_resolved and root_resolved not in path.parents:
        raise UnsafePathError(f"{relpath!r} is outside {root}")
    return path


def atomic_write(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` via a temp file and ``os.replace``.

    Returns False (and writes nothing) when the file already holds exactly
    these bytes, so unchanged posts keep their mtime.
    """
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return True
