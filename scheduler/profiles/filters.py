"""Whether a category wants a video: its profile's filters against what is known of the
video, from its listing entry (some fields) or its metadata (all there is).

A filter never skips a video for a field the site does not give: from a listing entry
such a filter is undecided (the metadata decides it before any byte of video is
fetched); from the metadata it lets the video through."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from scheduler.profiles.model import Profile, duration_text, pattern

# The fields of a listing entry or an info dict the filters read (the listing keeps them).
FIELDS = ("upload_date", "timestamp", "release_timestamp", "duration", "live_status", "is_live", "was_live",
          "media_type")  # fmt: skip
_EIGHT_DIGITS = re.compile(r"[0-9]{8}")  # ASCII only: str.isdigit takes full-width digits too
# yt-dlp's live_status values of a live stream, a premiere, or their recordings.
_LIVE = frozenset(("is_live", "is_upcoming", "was_live", "post_live"))


@dataclass(frozen=True)
class Verdict:
    reason: str = ""  # why the video is skipped; "" when it is not
    undecided: bool = False  # a filter lacks its field: the metadata decides

    @property
    def skipped(self) -> bool:
        return bool(self.reason)


WANTED = Verdict()


def verdict(profile: Profile, video: Mapping[str, Any], *, complete: bool) -> Verdict:
    """`video`: a listing entry's fields (complete=False) or the video's metadata
    (complete=True), with its "title" and "url" (or "webpage_url")."""
    undecided = False
    for check in _CHECKS:
        known, reason = check(profile, video)
        if reason:
            return Verdict(reason)
        undecided = undecided or not known
    return Verdict(undecided=undecided and not complete)


def overall(profiles: Sequence[Profile], video: Mapping[str, Any], *, complete: bool) -> Verdict:
    """The verdict of every category listing the video together: wanted (or undecided)
    when one of them wants it; else skipped, for the first one's reason. No profile at all
    (no category subscribed) takes the video, as the service always did."""
    reasons = []
    for profile in profiles:
        each = verdict(profile, video, complete=complete)
        if not each.skipped:
            return each
        reasons.append(each.reason)
    return Verdict(reasons[0]) if reasons else WANTED


def _date(profile: Profile, video: Mapping[str, Any]) -> tuple[bool, str]:
    if not (profile.uploaded_after or profile.uploaded_before):
        return True, ""
    uploaded = upload_date(video)
    if uploaded is None:
        return False, ""
    if profile.uploaded_after and uploaded < profile.uploaded_after:
        return True, f"uploaded {uploaded}, before {profile.uploaded_after}"
    if profile.uploaded_before and uploaded > profile.uploaded_before:
        return True, f"uploaded {uploaded}, after {profile.uploaded_before}"
    return True, ""


def _duration(profile: Profile, video: Mapping[str, Any]) -> tuple[bool, str]:
    if not (profile.min_duration_s or profile.max_duration_s):
        return True, ""
    duration = video.get("duration")
    if not isinstance(duration, int | float) or isinstance(duration, bool) or duration <= 0:
        return False, ""
    if profile.max_duration_s and duration > profile.max_duration_s:
        return (
            True,
            f"{duration_text(round(duration))} long, more than {duration_text(profile.max_duration_s)}",
        )
    if duration < profile.min_duration_s:
        return (
            True,
            f"{duration_text(round(duration))} long, less than {duration_text(profile.min_duration_s)}",
        )
    return True, ""


def _live(profile: Profile, video: Mapping[str, Any]) -> tuple[bool, str]:
    if not profile.exclude_live:
        return True, ""
    status = video.get("live_status")
    if status in _LIVE or video.get("is_live") is True or video.get("was_live") is True:
        return True, f"a live stream ({status or 'live'})"
    if video.get("media_type") == "livestream":
        return True, "a live stream (livestream)"
    return status is not None or video.get("is_live") is False, ""


def _short(profile: Profile, video: Mapping[str, Any]) -> tuple[bool, str]:
    if not profile.exclude_shorts:
        return True, ""
    if video.get("media_type") == "short" or any(
        "/shorts/" in urlsplit(str(video.get(k) or "")).path for k in ("url", "webpage_url", "original_url")
    ):
        return True, "a short"
    return video.get("media_type") is not None, ""


def _title(profile: Profile, video: Mapping[str, Any]) -> tuple[bool, str]:
    if not (profile.title_match or profile.title_exclude):
        return True, ""
    title = video.get("title")
    if not isinstance(title, str):
        return False, ""
    match = _compiled(profile.title_match)
    if match is not None and match.search(title) is None:
        return True, f"title does not match {profile.title_match!r}"
    exclude = _compiled(profile.title_exclude)
    if exclude is not None and exclude.search(title) is not None:
        return True, f"title matches {profile.title_exclude!r}"
    return True, ""


@functools.lru_cache(maxsize=64)
def _compiled(text: str) -> Any:
    return pattern(text, "title")  # checked when the profile was stored


_CHECKS = (_date, _duration, _live, _short, _title)


def upload_date(video: Mapping[str, Any]) -> date | None:
    """yt-dlp's upload_date (YYYYMMDD), else the date of its timestamp or release
    timestamp (UTC, as yt-dlp derives upload_date)."""
    text = video.get("upload_date")
    if isinstance(text, str) and _EIGHT_DIGITS.fullmatch(text):
        try:
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            pass
    for key in ("timestamp", "release_timestamp"):
        stamp = video.get(key)
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            try:
                return datetime.fromtimestamp(stamp, UTC).date()
            except (OverflowError, OSError, ValueError):
                continue
    return None


def known_fields(entry: Mapping[str, Any]) -> dict[str, str | int | float]:
    """The filters' fields of a listing entry, as JSON scalars (kept with the video, so
    that a profile's change is decided again without asking the site)."""
    return {k: v for k in FIELDS if isinstance(v := entry.get(k), str | int | float) and _finite(v)}


def _finite(value: str | int | float) -> bool:
    """JSON (and PostgreSQL's jsonb) has no NaN or infinity."""
    return not isinstance(value, float) or math.isfinite(value)
