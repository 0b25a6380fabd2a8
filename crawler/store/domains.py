"""The backoff state of each politeness domain, kept between runs (``domain_backoff``).

:class:`crawler.middlewares.backoff.BackoffMiddleware` reads it when a run opens
(:func:`load_domains`) and writes it when the run closes (:func:`save_domains`):
a cron run starts as slow as the last one ended, so a site that just blocked
finews is not hit at full speed five minutes later. Written by the crawl process
itself, once per run (not through the index lane: it is one row per domain).
"""

from __future__ import annotations

from pathlib import Path

from crawler.clock import utc_now
from crawler.store.schema import connect


def load_domains(db_path: Path) -> dict[str, tuple[float, int]]:
    """``domain -> (delay floor, push-back streak)`` as the last run left them."""
    if not db_path.exists():
        return {}
    db = connect(db_path)
    try:
        rows = db.execute("SELECT domain, delay, streak FROM domain_backoff").fetchall()
    finally:
        db.close()
    return {domain: (float(delay or 0), int(streak or 0)) for domain, delay, streak in rows}


def save_domains(db_path: Path, states: dict[str, tuple[float, int]]) -> None:
    """Record each domain's floor and streak (a domain back to no penalty is kept at 0)."""
    if not states:
        return
    db = connect(db_path)
    try:
        now = utc_now()
        with db.atomic():
            db["domain_backoff"].upsert_all(
                [
                    {"domain": d, "delay": round(f, 3), "streak": s, "updated_at": now}
                    for d, (f, s) in sorted(states.items())
                ],
                pk="domain",
            )
    finally:
        db.close()
