"""What a failed download means, decided without I/O (as hypercorn keeps its protocol
state apart from its sockets): the pipeline asks the one question that needs the
database (does the site throttle us? `throttle`), then carries the decision out.

- The site throttles or blocks us: its breaker opens and the video waits for the probe,
  no attempt counted (Throttled).
- Anything else is a failed attempt (Attempt), recorded with its reason: retried after
  an exponential backoff while attempts remain, else failed for good. A file over the
  size limit stays over it: no attempt is left for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import trio

from scheduler.pipeline import sanitize, ytdlp
from scheduler.settings import DownloaderSettings

REASON_LENGTH = 500


@dataclass(frozen=True)
class Throttled:
    reason: str  # why the site's answer means it throttles us


@dataclass(frozen=True)
class Attempt:
    reason: str  # one line, for the event and the log
    attempts: int  # attempts allowed in all: at this many the video is failed
    retry_in_s: float  # when the next one may start, while attempts remain


Decision = Throttled | Attempt


def retry_delay(attempts: int, base_s: float, max_s: float) -> float:
    """Exponential backoff after the `attempts`-th failed attempt."""
    return float(min(max_s, base_s * 2 ** max(0, attempts - 1)))


def is_site_answer(error: Exception) -> bool:
    """Whether the error is the site's answer, which may mean it throttles us (asked of the
    site's breaker before `decide`)."""
    return isinstance(error, ytdlp.YtdlpError) and not isinstance(error, ytdlp.TooLarge)


def decide(
    error: Exception,
    attempts_made: int,
    throttle: str | None,
    settings: DownloaderSettings,
    explain: Callable[[str], str],
) -> Decision:
    """The decision for a download that failed with `error` after `attempts_made` earlier
    failed attempts; `throttle` is the breaker's reading of a site's answer (None: not
    throttled); `explain` leads a site's error with what to do (a login it wants)."""
    if throttle is not None:
        return Throttled(throttle)
    if isinstance(error, trio.TooSlowError):
        reason = f"timed out after {settings.timeout_s:g}s"
    else:
        reason = sanitize.clean_text(str(error).strip() or type(error).__name__, REASON_LENGTH)
        if isinstance(error, ytdlp.YtdlpError):
            reason = explain(reason)
    attempts = 0 if isinstance(error, ytdlp.TooLarge) else settings.attempts
    delay = retry_delay(attempts_made + 1, settings.retry_base_s, settings.retry_max_s)
    return Attempt(reason, attempts, delay)
