"""Does the Chromium start? The launch check, remembered, and the choice per mode.

:func:`resolve_browser` answers for ``FINEWS_RENDER`` (``never`` | ``auto`` |
``always``, passed in as ``mode``): :func:`~crawler.browser.chromium.find_chromium`,
then :func:`browser_available` (a real headless launch), whose success is
remembered for a day in ``<archive>/.browser-probe.json``
(:func:`cached_browser_available`).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from contextlib import suppress
from importlib import metadata
from pathlib import Path
from typing import Any

from crawler.browser.chromium import find_chromium, is_executable, launch_args
from crawler.config import RENDER_MODES
from crawler.files import atomic_write


def browser_available(executable: str | None, timeout_s: float = 30.0) -> tuple[bool, str]:
    """Start ``executable`` once through Playwright, headless, and open a page.

    Returns ``(True, "<browser version>")`` or ``(False, reason)``. Runs the
    Playwright sync API in a thread of its own, so it also works when called
    from code that has an asyncio loop running.
    """
    if not executable:
        return (
            False,
            "no Chromium found (set FINEWS_CHROMIUM, or apt-get install chromium-headless-shell)",
        )
    if not is_executable(executable):
        return False, f"{executable}: not an executable file"
    try:
        proc = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=timeout_s
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{executable} --version failed: {exc}"
    if proc.returncode != 0:
        return (
            False,
            f"{executable} --version exited {proc.returncode}: {proc.stderr.strip()[:300]}",
        )

    outcome: list[tuple[bool, str]] = []

    def probe() -> None:
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=executable,
                    headless=True,
                    args=launch_args(),
                    timeout=timeout_s * 1000,
                )
                try:
                    page = browser.new_page()
                    page.set_content("<p id=x>ok</p>")
                    text = page.inner_text("#x", timeout=timeout_s * 1000)
                    version = browser.version
                finally:
                    browser.close()
            if text != "ok":
                outcome.append((False, f"page did not render (got {text!r})"))
            else:
                outcome.append((True, version))
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            outcome.append((False, f"launch failed: {str(exc).strip()[:500]}"))

    thread = threading.Thread(target=probe, name="finews-browser-probe", daemon=True)
    thread.start()
    thread.join(timeout_s * 3)
    if not outcome:
        return False, f"launch did not finish within {timeout_s * 3:.0f}s"
    return outcome[0]


class BrowserUnavailable(RuntimeError):
    """``FINEWS_RENDER=always`` but no working Chromium."""


#: A successful launch check is trusted this long for the same executable file.
PROBE_CACHE_HOURS = 24.0
PROBE_CACHE_NAME = ".browser-probe.json"


def _probe_key(executable: str) -> dict[str, Any]:
    """What must not have changed for a cached launch check to hold."""
    real = os.path.realpath(executable)
    st = os.stat(real)
    try:
        playwright = metadata.version("playwright")
    except metadata.PackageNotFoundError:  # pragma: no cover - installed with scrapy-playwright
        playwright = ""
    return {
        "executable": real,
        "mtime_ns": st.st_mtime_ns,
        "size": st.st_size,
        "playwright": playwright,
    }


def cached_browser_available(executable: str | None, cache: Path | None) -> tuple[bool, str]:
    """:func:`browser_available`, remembered in ``cache`` (a JSON file).

    Launching Chromium to check it takes ~0.75 s, at every start of a cron
    run. A successful check is kept for PROBE_CACHE_HOURS for the same file
    (real path, mtime, size) and the same Playwright; a failed one is never
    kept (it is retried next run). A cache that cannot be read or written is
    ignored: the check then runs as without one.
    """
    if executable is None or cache is None or not is_executable(executable):
        return browser_available(executable)
    try:
        key = _probe_key(executable)
        cached = json.loads(cache.read_text(encoding="utf-8"))
        age_h = (time.time() - float(cached.get("checked_at", 0))) / 3600
        if cached.get("key") == key and cached.get("ok") is True and 0 <= age_h < PROBE_CACHE_HOURS:
            return True, str(cached.get("detail") or "")
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    ok, detail = browser_available(executable)
    if ok:
        record = {
            "key": _probe_key(executable),
            "ok": True,
            "detail": detail,
            "checked_at": time.time(),
        }
        with suppress(OSError):
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(cache, json.dumps(record, indent=1).encode("utf-8"))
    return ok, detail


def resolve_browser(
    mode: str, preferred: str = "", probe_cache: Path | None = None
) -> tuple[str | None, str]:
    """The Chromium to use under ``FINEWS_RENDER=mode``: ``(executable or None, reason)``.

    ``never`` -> ``(None, "disabled")``; ``auto`` -> ``(None, reason)`` when
    none works; ``always`` raises :class:`BrowserUnavailable` then.
    ``probe_cache``: where a successful launch check is remembered
    (:func:`cached_browser_available`).
    """
    if mode not in RENDER_MODES:
        raise ValueError(f"FINEWS_RENDER must be one of {', '.join(RENDER_MODES)}, got {mode!r}")
    if mode == "never":
        return None, "disabled (FINEWS_RENDER=never)"
    exe = find_chromium(preferred)
    ok, reason = cached_browser_available(exe, probe_cache)
    if ok:
        return exe, reason
    if mode == "always":
        raise BrowserUnavailable(f"FINEWS_RENDER=always but {reason}")
    return None, reason
