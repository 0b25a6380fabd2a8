"""How a run ended: its status and exit code, from the run's stats.

| status       | exit | when |
|--------------|------|------|
| ok           | 0    | finished, within the thresholds below |
| failed       | 1    | the spider did not finish (error, shutdown, killed), a callback raised (``spider_exceptions/count``), a database write failed (``finews/index/errors``) or the database failed its check (``finews/fatal``), or fetched articles did not all reach the database |
| unreachable  | 3    | no list answer could be downloaded (DNS, refused, timeouts) |
| blocked      | 4    | the upstream showed a block page (captcha, HTML for JSON, 403: stat ``finews/blocked``) even once, or list answers unusable (refused, changed shape), or new items were listed and nothing could be archived |
| partial      | 5    | field coverage (title, date, body) of the listed articles under FINEWS_MIN_COVERAGE, or more than FINEWS_MAX_FAILED_SHARE of requests failed, or given ids that are not article ids |
| stopped      | 5    | stopped by SIGTERM/SIGINT (close reason ``stopped``): what was fetched is kept, the rest is left for the next run |
| locked       | 75   | another run holds the archive (EX_TEMPFAIL: try later) |

A run stopped at its budget (close reason ``budget``, :mod:`crawler.extensions.budget`)
is ``blocked`` if it met block pages, else ``partial``; one stopped after
FINEWS_BLOCKED_STOP_AFTER push-backs in a row (close reason ``blocked``) is ``blocked``.

Block pages: a run that met one is ``blocked`` even when it archived
everything after backing off. A captcha means the crawl rate is too high for
the upstream: the operator (cron mail on exit 4) should lower it before the
upstream blocks harder. What was archived is kept, and what was not is retried
on later runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EXIT_CODES = {
    "ok": 0,
    "failed": 1,
    "unreachable": 3,
    "blocked": 4,
    "partial": 5,
    "stopped": 5,
    "locked": 75,
}
#: Close reasons of a run stopped cleanly (crawler.stopping): not a failure.
STOP_REASONS = ("budget", "blocked", "stopped")


@dataclass(frozen=True)
class Outcome:
    status: str
    reasons: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


def outcome(
    stats: dict[str, Any], finish_reason: str, min_coverage: float, max_failed_share: float
) -> Outcome:
    def n(key: str) -> int:
        return int(stats.get(key, 0) or 0)

    if fatal := stats.get("finews/fatal"):
        return Outcome("failed", (str(fatal),))
    if finish_reason != "finished" and finish_reason not in STOP_REASONS:
        return Outcome("failed", (f"finish reason {finish_reason}",))
    if n("spider_exceptions/count"):
        kinds = ", ".join(
            f"{k.rsplit('/', 1)[1]} {int(v)}"
            for k, v in sorted(stats.items())
            if k.startswith("spider_exceptions/") and k != "spider_exceptions/count"
        )
        return Outcome("failed", (f"{n('spider_exceptions/count')} callbacks raised ({kinds})",))
    if n("finews/index/errors"):
        return Outcome("failed", (f"{n('finews/index/errors')} database writes failed",))
    indexed = n("finews/index/archived") + n("finews/index/updated")
    to_index = (
        n("finews/validate/ok")
        - n("finews/dedupe/dropped_in_run")
        - n("finews/dedupe/dropped_archived")
        # Nothing left after cleaning: a recorded failure, not a lost row.
        - n("finews/clean/empty")
    )
    if to_index > indexed:
        # Articles were fetched but not all reached the database.
        return Outcome("failed", (f"{to_index - indexed} fetched articles not indexed",))
    if finish_reason in STOP_REASONS:
        return _stopped(stats, finish_reason)
    list_ok = n("finews/list/pages") - n("finews/list/errors")
    if n("finews/blocked"):
        # Before "unreachable": list requests that ended on block pages also
        # count as unreachable, but the cause is the block.
        kinds = ", ".join(
            f"{k.rsplit('/', 1)[1]} {int(v)}"
            for k, v in sorted(stats.items())
            if k.startswith("finews/blocked/") and k != "finews/blocked/gave_up"
        )
        reasons = [
            f"{n('finews/blocked')} block pages met ({kinds})"
            if kinds
            else f"{n('finews/blocked')} block pages met"
        ]
        if n("finews/blocked/gave_up"):
            reasons.append(f"{n('finews/blocked/gave_up')} requests still blocked after retries")
        return Outcome("blocked", tuple(reasons))
    if n("finews/list/unreachable") and n("finews/list/pages") == 0:
        return Outcome("unreachable", (f"{n('finews/list/unreachable')} list requests failed",))
    if n("finews/list/errors") and list_ok <= 0:
        return Outcome("blocked", (f"{n('finews/list/errors')} unusable list answers",))
    wanted = n("finews/article/requested")
    done = n("finews/validate/ok")
    if wanted and done == 0 and n("finews/list/pages"):
        return Outcome("blocked", (f"{wanted} articles listed, none archived",))
    reasons = []
    if wanted and done / wanted < min_coverage:
        reasons.append(f"field coverage {done}/{wanted} = {done / wanted:.1%} < {min_coverage:.0%}")
    requests = n("downloader/request_count")
    failed = n("downloader/exception_count") + sum(
        int(v) for k, v in stats.items() if k.startswith("downloader/response_status_count/5")
    )
    if requests and failed / requests > max_failed_share:
        reasons.append(f"{failed}/{requests} requests failed")
    if n("finews/input/invalid"):
        reasons.append(f"{n('finews/input/invalid')} given ids are not article ids or URLs")
    if reasons:
        return Outcome("partial", tuple(reasons))
    return Outcome("ok", ())


def _stopped(stats: dict[str, Any], reason: str) -> Outcome:
    """A run stopped cleanly: at its budget, blocked past the threshold, or by a signal."""
    left = int(stats.get("finews/stop/left", 0) or 0)
    rest = f"{left} requests left for the next run"
    if reason == "stopped":
        return Outcome("stopped", (f"stopped by a signal; {rest}",))
    blocked = int(stats.get("finews/blocked", 0) or 0)
    if reason == "blocked":
        streak = int(stats.get("finews/stop/streak", 0) or 0)
        return Outcome(
            "blocked",
            (f"stopped after {streak} push-backs in a row ({blocked} block pages); {rest}",),
        )
    minutes = stats.get("finews/budget/minutes", "?")
    why = f"run budget of {minutes} min reached; {rest}"
    if blocked:
        return Outcome("blocked", (f"{blocked} block pages met", why))
    return Outcome("partial", (why,))
