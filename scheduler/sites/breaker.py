"""Which errors mean a site is throttling or blocking us, and which mean it wants a
logged-in session (pure).

A throttle opens the site's circuit breaker (migrations/0008,
scheduler/pipeline/site_gate.py). A login sign is the video's (or the category's) own
failure, counted as an attempt like any other, but its reason says which setting fixes it
(SCHEDULER_SITES__COOKIES). Throttle signs are read first: YouTube's bot check ("Sign in
to confirm you're not a bot") asks for a sign-in but is about our rate, not the video.

The signs are data: add a pattern when a site finds a new way to say "slow down" or
"log in".
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


@dataclass(frozen=True)
class LoginSign:
    reason: str
    pattern: re.Pattern[str]


LOGIN_SIGNS = (
    LoginSign("members only", re.compile(r"members[- ]only|channel'?s? members|premium members", re.I)),
    LoginSign(
        "login required",
        re.compile(
            # yt-dlp's raise_login_required ("... Use --cookies-from-browser or --cookies for
            # the authentication"), Niconico's and YouTube's own words.
            r"--cookies|registered users|log-?in required|re-?login|sign in to confirm your age"
            r"|sign in if you've been granted access",
            re.I,
        ),
    ),
    LoginSign("HTTP 401 Unauthorized", re.compile(r"HTTP Error 401", re.I)),
)


def login_reason(error: str) -> str | None:
    """The reason an error means the site wants a logged-in session, or None."""
    return next((sign.reason for sign in LOGIN_SIGNS if sign.pattern.search(error)), None)
