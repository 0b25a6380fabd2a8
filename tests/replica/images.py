"""The replica's picture host (``np-newspic.dfcfw.com/download/<name>``).

Real small JPEG and PNG bytes (Python's own test pictures, in ``images/``), and
the bad answers the images stage must record as failures, chosen by the name:

| name ends with | answer |
|---|---|
| ``_wrongtype.jpg`` | 200, ``text/html`` (a page where a picture was expected) |
| ``_oversize.png`` | 200, ``image/png``, 6 MiB (over FINEWS_IMAGE_MAX_BYTES' default 5 MiB) |
| ``_missing.jpg`` | 404 |
| ``_slow.jpg`` | the JPEG after 3 s (past a short FINEWS_IMAGE_TIMEOUT) |
| other ``.jpg`` / ``.png`` | 200, the JPEG (``image/jpeg``) / the PNG (``image/png``) |
"""

from __future__ import annotations

import re
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent / "images"
JPEG = (HERE / "photo.jpg").read_bytes()
PNG = (HERE / "chart.png").read_bytes()
PATH = re.compile(r"/download/([A-Za-z0-9_.-]+)")
OVERSIZE = 6 * 1024 * 1024
SLOW = 3.0


def picture(path: str) -> tuple[int, str, bytes] | None:
    """``(status, content type, body)`` for a picture path, None for another path."""
    match = PATH.fullmatch(path)
    if match is None:
        return None
    name = match.group(1)
    if name.endswith("_wrongtype.jpg"):
        return 200, "text/html; charset=utf-8", b"<html><body>not a picture</body></html>"
    if name.endswith("_oversize.png"):
        return 200, "image/png", PNG + b"\0" * (OVERSIZE - len(PNG))
    if name.endswith("_missing.jpg"):
        return 404, "text/html; charset=utf-8", b"<html><body>404</body></html>"
    if name.endswith("_slow.jpg"):
        time.sleep(SLOW)
        return 200, "image/jpeg", JPEG
    if name.endswith(".jpg"):
        return 200, "image/jpeg", JPEG
    if name.endswith(".png"):
        return 200, "image/png", PNG
    return None
