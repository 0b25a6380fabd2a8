"""Which Chromium to drive, and with which flags.

:func:`find_chromium`: ``FINEWS_CHROMIUM`` (passed in as ``preferred``), else
Playwright's bundled Chromium of this release, else Debian's; whether it
starts is :mod:`crawler.browser.probe`'s question.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

SYSTEM_CHROMIUMS = (
    "/usr/bin/chromium-headless-shell",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
)
WHICH_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")

#: Chromium flags: no GPU, no background traffic of the browser's own (updates,
#: sync, safe browsing lists), no QUIC (the site's HTTP/3 hints are not needed),
#: /tmp instead of a small /dev/shm in containers.
CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
)


def _playwright_browsers_dirs() -> list[Path]:
    env = os.environ.get("PLAYWRIGHT_BROWSERS_PATH", "")
    if env == "0":
        try:
            import playwright

            return [Path(playwright.__file__).parent / "driver" / "package" / ".local-browsers"]
        except ImportError:
            return []
    if env:
        return [Path(env).expanduser()]
    dirs = []
    if os.environ.get("XDG_CACHE_HOME"):
        dirs.append(Path(os.environ["XDG_CACHE_HOME"]) / "ms-playwright")
    dirs.append(Path.home() / ".cache" / "ms-playwright")
    return dirs


def _playwright_revision(name: str) -> str | None:
    """The browser revision this playwright release expects (``browsers.json``)."""
    try:
        import json

        import playwright

        path = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
        for browser in json.loads(path.read_text())["browsers"]:
            if browser.get("name") == name:
                return str(browser["revision"])
    except (ImportError, OSError, ValueError, KeyError, TypeError):
        pass
    return None


def bundled_chromium() -> str | None:
    """Playwright's own Chromium (``playwright install chromium``), if present.

    Only the revision this playwright release was built for: the headless
    shell first (faster, smaller), then the full browser.
    """
    wanted = [
        (
            "chromium-headless-shell",
            "chromium_headless_shell-{rev}",
            ("chrome-headless-shell", "headless_shell"),
        ),
        ("chromium", "chromium-{rev}", ("chrome",)),
    ]
    for base in _playwright_browsers_dirs():
        for name, folder, exes in wanted:
            rev = _playwright_revision(name)
            if rev is None:
                continue
            for exe in exes:
                for path in sorted(glob.glob(str(base / folder.format(rev=rev) / "*" / exe))):
                    if is_executable(path):
                        return path
    return None


def is_executable(path: str) -> bool:
    """An existing file this process may run."""
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_chromium(preferred: str = "") -> str | None:
    """The Chromium to drive, or None.

    ``preferred`` (``FINEWS_CHROMIUM``) when it is an executable file or a
    command on PATH; else Playwright's bundled Chromium; else Debian's
    ``/usr/bin/chromium-headless-shell``, ``/usr/bin/chromium``,
    ``/usr/bin/chromium-browser``; else one of those names on PATH.
    """
    preferred = (preferred or "").strip()
    if preferred:
        path = os.path.expanduser(preferred)
        if is_executable(path):
            return path
        found = shutil.which(preferred)
        if found:
            return found
        logger.warning("FINEWS_CHROMIUM=%r is not an executable; looking elsewhere", preferred)
    bundled = bundled_chromium()
    if bundled:
        return bundled
    for path in SYSTEM_CHROMIUMS:
        if is_executable(path):
            return path
    for name in WHICH_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def launch_args() -> list[str]:
    """Chromium flags; ``--no-sandbox`` only when running as root (where it is required)."""
    args = list(CHROMIUM_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.insert(0, "--no-sandbox")
    return args
