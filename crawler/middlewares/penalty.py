"""The arithmetic of backing off, pure (no Scrapy), tested on its own.

:class:`DomainBackoff` is one domain's penalty: a delay floor that doubles on a
push-back and halves only after a run of good answers (its times are
``time.monotonic()``). :func:`retry_backoff` is the wait before a retry,
:func:`retry_after_seconds` reads ``Retry-After``, :func:`domain_of` says which
hosts are one site. :class:`crawler.middlewares.backoff.BackoffMiddleware` builds
them from FINEWS_BACKOFF_BASE, FINEWS_BACKOFF_MAX and FINEWS_BACKOFF_RECOVER and
puts the penalty on Scrapy's downloader slots.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from crawler.eastmoney import urls


def retry_after_seconds(value: bytes | str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP-date; None if absent/bad."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def domain_of(host: str) -> str:
    """The politeness domain of a host: every ``*.eastmoney.com`` host is one."""
    host = (host or "").lower()
    return urls.DOMAIN if urls.is_eastmoney(host) else host


@dataclass
class DomainBackoff:
    """The penalty state of one domain (pure logic; times are ``time.monotonic()``).

    ``floor``: the least delay between requests (0 = no penalty); ``resume_at``: no
    request before this time; ``good``: good answers since the last penalty;
    ``penalized_at``: when the floor last went up.
    """

    base: float
    cap: float
    recover_after: int
    floor: float = 0.0
    resume_at: float = 0.0
    good: int = 0
    penalized_at: float = float("-inf")
    saved_delays: dict[str, float] = field(default_factory=dict)

    def penalize(
        self, now: float, wait: float | None = None, sent_at: float | None = None
    ) -> float:
        """Double the floor (at least ``base``), pause for ``max(wait, floor)``; the pause.

        A push-back to a request sent before the last raise (``sent_at``) answers the
        old rate, which was already dealt with: it extends the pause but does not
        double the floor again (one raise per burst, like TCP's one decrease per
        window). Never lowers the floor or moves ``resume_at`` earlier: under a
        stream of 429s the delay only grows.
        """
        if sent_at is None or sent_at >= self.penalized_at:
            self.floor = min(self.cap, max(self.base, self.floor * 2))
            self.penalized_at = now
        self.good = 0
        pause = min(self.cap, max(wait or 0.0, self.floor))
        self.resume_at = max(self.resume_at, now + pause)
        return pause

    def success(self) -> bool:
        """Count a good answer; True when the floor came down (halved, or off below ``base``)."""
        if self.floor <= 0:
            return False
        self.good += 1
        if self.good < self.recover_after:
            return False
        self.good = 0
        self.floor /= 2
        if self.floor < self.base:
            self.floor = 0.0
        return True


def retry_backoff(base: float, cap: float, retries: int, rng: random.Random | None = None) -> float:
    """Wait before retry number ``retries + 1``: ``base × 2^retries``, capped, jittered 50–100 %."""
    wait = min(cap, base * (2 ** min(retries, 30)))
    return wait * (rng or random).uniform(0.5, 1.0)
