"""A category's download profile: the value, its checks (each naming the field it
refuses, as the API shows it) and its JSON form in the database."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any

import re2

from scheduler.errors import InvalidArgument

MAX_HEIGHT = 10_000
MAX_DURATION_S = 100 * 24 * 3600
MAX_PATTERN = 1000
MAX_FORMAT = 500
MAX_LANGUAGES = 20
# A subtitle language as yt-dlp names it: "en", "pt-BR", "zh-Hans", "ja-orig"; "all" for every one.
_LANGUAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
# What a yt-dlp format selector is written with ("bv*[height<=720][ext=mp4]+ba/b").
_FORMAT = re.compile(r"[A-Za-z0-9_*+/\[\]<>=!^$~?:.,()| -]+")


@dataclass(frozen=True)
class Profile:
    """What a category archives. The defaults take everything, as the service is set up to."""

    max_height: int = 0  # 0: no cap
    audio_only: bool = False
    format: str = ""  # a yt-dlp format selector; instead of max_height / audio_only
    subtitles: tuple[str, ...] = ()  # languages to deliver beside the video
    automatic_subtitles: bool = False  # whether a site's automatic captions count
    uploaded_after: date | None = None  # inclusive, as yt-dlp's --dateafter
    uploaded_before: date | None = None  # inclusive, as yt-dlp's --datebefore
    min_duration_s: int = 0
    max_duration_s: int = 0  # 0: no bound
    exclude_live: bool = False  # live streams, premieres and their recordings
    exclude_shorts: bool = False
    title_match: str = ""  # RE2, case-insensitive, anywhere in the title
    title_exclude: str = ""


DEFAULT = Profile()


def checked(profile: Profile, field: str = "profile") -> Profile:
    """The profile if every field is valid; else InvalidArgument naming the first bad one
    (`profile.max_height`). Languages are de-duplicated in order."""
    if not 0 <= profile.max_height <= MAX_HEIGHT:
        raise InvalidArgument(f"{field}.max_height", f"must be between 0 and {MAX_HEIGHT}")
    if profile.format:
        if profile.max_height or profile.audio_only:
            raise InvalidArgument(f"{field}.format", "give a format selector or max_height / audio_only")
        if len(profile.format) > MAX_FORMAT or not _FORMAT.fullmatch(profile.format):
            raise InvalidArgument(
                f"{field}.format", f"not a yt-dlp format selector: {profile.format[:100]!r}"
            )
    if profile.audio_only and profile.max_height:
        raise InvalidArgument(f"{field}.max_height", "means nothing for audio_only")
    languages = tuple(dict.fromkeys(profile.subtitles))
    if len(languages) > MAX_LANGUAGES:
        raise InvalidArgument(f"{field}.subtitles", f"at most {MAX_LANGUAGES} languages")
    for language in languages:
        if not _LANGUAGE.fullmatch(language):
            raise InvalidArgument(
                f"{field}.subtitles", f'must be language codes such as "en" or "pt-BR", got {language[:40]!r}'
            )
    if profile.automatic_subtitles and not languages:
        raise InvalidArgument(f"{field}.automatic_subtitles", "name the languages in subtitles")
    after, before = profile.uploaded_after, profile.uploaded_before
    if after and before and after > before:
        raise InvalidArgument(f"{field}.uploaded_before", f"is before uploaded_after ({after})")
    for name in ("min_duration_s", "max_duration_s"):
        if not 0 <= getattr(profile, name) <= MAX_DURATION_S:
            raise InvalidArgument(f"{field}.{name}", f"must be between 0 and {MAX_DURATION_S}")
    if profile.max_duration_s and profile.min_duration_s > profile.max_duration_s:
        raise InvalidArgument(f"{field}.min_duration_s", "is more than max_duration_s")
    for name in ("title_match", "title_exclude"):
        pattern(getattr(profile, name), f"{field}.{name}")
    return replace(profile, subtitles=languages)


def pattern(text: str, field: str) -> Any:
    """The title pattern compiled by RE2, which matches in time linear in the title
    whatever the pattern (no backtracking); a pattern RE2 refuses (a back-reference, a
    look-around) or that is too large is refused here. Case-insensitive, as youtube-dl's
    --match-title was."""
    if not text:
        return None
    if len(text) > MAX_PATTERN:
        raise InvalidArgument(field, f"at most {MAX_PATTERN} characters")
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = 1 << 20  # the compiled program's memory: bounds a pattern's cost
    options.log_errors = False
    try:
        return re2.compile(text, options)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise InvalidArgument(field, f"not a pattern RE2 can match in linear time: {reason}") from None


def to_json(profile: Profile) -> str:
    """Only what differs from the default: "{}" for a category that takes everything."""
    values = {
        f.name: getattr(profile, f.name)
        for f in fields(profile)
        if getattr(profile, f.name) != getattr(DEFAULT, f.name)
    }
    for name in ("uploaded_after", "uploaded_before"):
        if name in values:
            values[name] = values[name].isoformat()
    if "subtitles" in values:
        values["subtitles"] = list(values["subtitles"])
    return json.dumps(values, sort_keys=True)


def from_json(data: str | dict[str, Any]) -> Profile:
    values = json.loads(data) if isinstance(data, str) else dict(data)
    known = {f.name for f in fields(Profile)}
    values = {k: v for k, v in values.items() if k in known}  # a newer release's field: ignored
    for name in ("uploaded_after", "uploaded_before"):
        if values.get(name):
            values[name] = date.fromisoformat(values[name])
    if "subtitles" in values:
        values["subtitles"] = tuple(values["subtitles"])
    return Profile(**values)


def describe(profile: Profile) -> str:
    """One line a person reads: "max 1080p, after 2024-01-01, at most 2h, no live"."""
    parts = []
    if profile.format:
        parts.append(f"format {profile.format}")
    if profile.max_height:
        parts.append(f"max {profile.max_height}p")
    if profile.audio_only:
        parts.append("audio only")
    if profile.subtitles:
        auto = " (with automatic)" if profile.automatic_subtitles else ""
        parts.append(f"subtitles {','.join(profile.subtitles)}{auto}")
    if profile.uploaded_after:
        parts.append(f"after {profile.uploaded_after}")
    if profile.uploaded_before:
        parts.append(f"before {profile.uploaded_before}")
    if profile.min_duration_s:
        parts.append(f"at least {duration_text(profile.min_duration_s)}")
    if profile.max_duration_s:
        parts.append(f"at most {duration_text(profile.max_duration_s)}")
    if profile.exclude_live:
        parts.append("no live")
    if profile.exclude_shorts:
        parts.append("no shorts")
    if profile.title_match:
        parts.append(f"title ~ {profile.title_match}")
    if profile.title_exclude:
        parts.append(f"title !~ {profile.title_exclude}")
    return ", ".join(parts) or "everything"


def duration_text(seconds: int) -> str:
    """90 -> "1m30s", 7200 -> "2h"."""
    hours, rest = divmod(seconds, 3600)
    minutes, second = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{second}s" if second else ""]
    return "".join(parts) or "0s"


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?")


def parse_duration(text: str) -> int:
    """ "2h", "90m", "1h30m", "45s", "3600" -> seconds; ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or match is None:
        raise ValueError(f"not a duration such as 2h, 90m or 45s: {text!r}")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds
