"""Which errors mean a site is throttling or blocking us (pure). They open the site's
circuit breaker (migrations/0008, scheduler/pipeline/pipeline.py); every other error
is the video's own (removed, private, a broken file) and counts as a failed attempt.

The signs are data: add a pattern when a site finds a new way to say "slow down".
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ThrottleSign:
    reason: str  # what the events and `scheduler sites` say
    pattern: re.Pattern[str]  # searched in yt-dlp's error message
    only_if_served: bool = False  # a sign only from a site that has served us before


THROTTLE_SIGNS = (
    ThrottleSign("HTTP 429 Too Many Requests", re.compile(r"HTTP Error 429|Too Many Requests", re.I)),
    # A 403 from a site that never served us is more likely a private video or a bad URL.
    ThrottleSign("HTTP 403 Forbidden", re.compile(r"HTTP Error 403", re.I), only_if_served=True),
    ThrottleSign("rate limited", re.compile(r"rate[- ]?limit", re.I)),
    ThrottleSign("asked to sign in (bot check)", re.compile(r"sign in to confirm|not a bot", re.I)),
    ThrottleSign("asked to solve a captcha", re.compile(r"captcha", re.I)),
)


def throttle_reason(error: str, served: bool) -> str | None:
    """The reason an error means the site throttles or blocks us, or None if it does not."""
    for sign in THROTTLE_SIGNS:
        if sign.pattern.search(error) and (served or not sign.only_if_served):
            return sign.reason
    return None
