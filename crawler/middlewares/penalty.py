"""The arithmetic of backing off, pure (no Scrapy), tested on its own.

:class:`DomainBackoff` is one domain's penalty, AIMD like TCP's congestion
window but on the delay: a push-back halves the domain's rate (doubles the delay
floor, once per burst), every good answer adds a fixed step of rate back
(``1 / (base × recover_after)``; the delay at most halves per answer), so under
a steady share ``p`` of push-backs the floor settles near
``base × recover_after × p / (2 (1 - p))`` instead of climbing to the cap and
staying there. A lone 503 without ``Retry-After`` is an error to retry, not a
push-back (:meth:`DomainBackoff.is_push_back`). Its times are ``time.monotonic()``. :func:`retry_backoff` is the wait before a retry,
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
    request before this time; ``good``: good answers since the last push-back;
    ``streak``: push-backs since the last good answer (a run blocked past
    FINEWS_BLOCKED_STOP_AFTER of them stops); ``penalized_at``: when the floor
    last went up; ``last_503``: the domain's last answer was a 503.
    """

    base: float
    cap: float
    recover_after: int
    floor: float = 0.0
    resume_at: float = 0.0
    good: int = 0
    streak: int = 0
    penalized_at: float = float("-inf")
    last_503: bool = False
    saved_delays: dict[str, float] = field(default_factory=dict)

    def is_push_back(self, status: int, retry_after: float | None, repeated: bool) -> bool:
        """Is this 429/503 the upstream asking us to slow down?

        A 429 always is, and so is a 503 with ``Retry-After``. A 503 without it is
        one only when it repeats: the same request's retry got a 503 again
        (``repeated``) or the domain's previous answer was a 503 too. A single
        503 is an error Scrapy retries after its own backoff.
        """
        if status == 429 or retry_after is not None:
            return True
        pushed = repeated or self.last_503
        self.last_503 = True
        return pushed

    def penalize(
        self, now: float, wait: float | None = None, sent_at: float | None = None
    ) -> float:
        """Double the floor (at least ``base``), pause for ``max(wait, floor)``; the pause.

        A push-back to a request sent before the last raise (``sent_at``) answers the
        old rate, which was already dealt with: it extends the pause but does not
        double the floor again (one raise per burst, like TCP's one decrease per
        window). Never lowers the floor or moves ``resume_at`` earlier: under a
        stream of push-backs the delay only grows.
        """
        if sent_at is None or sent_at >= self.penalized_at:
            self.floor = min(self.cap, max(self.base, self.floor * 2))
            self.penalized_at = now
            self.streak += 1  # answers to the old rate are not counted twice either
        self.good = 0
        pause = min(self.cap, max(wait or 0.0, self.floor))
        self.resume_at = max(self.resume_at, now + pause)
        return pause

    def success(self) -> bool:
        """Count a good answer; True when the floor came down.

        Additive increase of the rate: ``1 / floor`` grows by ``1 / (base ×
        recover_after)`` (the delay at most halves in one step); under ``base``
        the penalty is off.
        """
        self.streak = 0
        self.last_503 = False
        if self.floor <= 0:
            return False
        self.good += 1
        rate = 1.0 / self.floor + 1.0 / (self.base * self.recover_after)
        self.floor = max(1.0 / rate, self.floor / 2)
        if self.floor < self.base:
            self.floor = 0.0
        return True

    def restore(self, floor: float, now: float) -> None:
        """Start where the last run ended: its floor, and a first pause of that floor."""
        self.floor = min(self.cap, max(0.0, floor))
        if self.floor > 0:
            self.penalized_at = now
            self.resume_at = max(self.resume_at, now + self.floor)


def retry_backoff(base: float, cap: float, retries: int, rng: random.Random | None = None) -> float:
    """Wait before retry number ``retries + 1``: ``base × 2^retries``, capped, jittered 50–100 %."""
    wait = min(cap, base * (2 ** min(retries, 30)))
    return wait * (rng or random).uniform(0.5, 1.0)
