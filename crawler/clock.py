"""Time stamps as finews writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """Now in UTC, ISO 8601 to the second: ``2026-11-24T02:16:58Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
