"""Checks every request field before anything touches the database (pure).

Each function raises `InvalidArgument` naming the field by its proto name, so a
rejected request writes nothing.
"""

from __future__ import annotations

import re
from datetime import date

from scheduler.categories import CategoryTarget, Kind, Site, from_seed, from_url, required_text
from scheduler.errors import InvalidArgument
from scheduler.profiles import Profile
from scheduler.profiles.model import checked
from scheduler.v1 import scheduler_pb2 as pb

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_NAME_LENGTH = 200
MAX_HOST_LENGTH = 253
MAX_URL_ECHO = 2000  # what an answer repeats of a refused URL
# A host name or IP address, as videos' websites are stored (lower case, no port).
_HOST = re.compile(r"[a-z0-9.:-]+")

_SITES = {pb.NICONICO: Site.NICONICO, pb.YOUTUBE: Site.YOUTUBE, pb.BILIBILI: Site.BILIBILI}
_KINDS = {pb.TAG: Kind.TAG, pb.CHANNEL: Kind.CHANNEL, pb.PLAYLIST: Kind.PLAYLIST}


MAX_ID = 2**63 - 1  # the database's bigint (an unsigned field could hold more)


def positive_id(value: int, field: str) -> int:
    if value <= 0:
        raise InvalidArgument(field, "must be positive")
    if value > MAX_ID:
        raise InvalidArgument(field, f"must be at most {MAX_ID}")
    return value


def optional_id(value: int, field: str) -> int | None:
    """0 means "not given"."""
    if value < 0:
        raise InvalidArgument(field, "must not be negative")
    return positive_id(value, field) if value else None


def limit(value: int, field: str = "limit") -> int:
    if value < 0:
        raise InvalidArgument(field, "must not be negative")
    if value > MAX_LIMIT:
        raise InvalidArgument(field, f"must be at most {MAX_LIMIT}")
    return value or DEFAULT_LIMIT


def optional_website(value: str, field: str = "website") -> str | None:
    """A website as videos carry it (www.nicovideo.jp); "" means "not given"."""
    host = value.strip().lower()
    if not host:
        return None
    if len(host) > MAX_HOST_LENGTH or not _HOST.fullmatch(host):
        raise InvalidArgument(field, f"must be a host name such as www.nicovideo.jp, got {value[:100]!r}")
    return host


def site(value: str, field: str = "site") -> str:
    """A site as ListSites names it ("*.nicovideo.jp", "127.0.0.1") or a host under it."""
    text = value.strip().lower()
    host = text.removeprefix("*.")
    if not text:
        raise InvalidArgument(field, "must not be empty")
    if len(host) > MAX_HOST_LENGTH or not _HOST.fullmatch(host):
        raise InvalidArgument(
            field, f'must be a site such as "*.nicovideo.jp" or a host name, got {value[:100]!r}'
        )
    return text


def name(value: str, field: str) -> str:
    return required_text(value, field, MAX_NAME_LENGTH)


def category_target(request: pb.ScheduleCategoryRequest, allowed: tuple[str, ...]) -> CategoryTarget:
    """The URL form, or the seed's (site, kind, value) form; never both."""
    seed_given = bool(request.site or request.kind or request.value)
    if request.url:
        if seed_given:
            raise InvalidArgument("url", "give either url or site/kind/value, not both")
        return from_url(request.url, allowed)
    if not seed_given:
        raise InvalidArgument("url", "must not be empty (or give site, kind and value)")
    if request.site not in _SITES:
        raise InvalidArgument("site", f"must be one of NICONICO, YOUTUBE, BILIBILI, got {request.site}")
    if request.kind not in _KINDS:
        raise InvalidArgument("kind", f"must be one of TAG, CHANNEL, PLAYLIST, got {request.kind}")
    return from_seed(_SITES[request.site], _KINDS[request.kind], request.value, allowed)


def profile(message: pb.DownloadProfile, field: str = "profile") -> Profile:
    """The message's profile, every field checked (scheduler.profiles.model.checked)."""
    return checked(
        Profile(
            max_height=message.max_height,
            audio_only=message.audio_only,
            format=message.format.strip(),
            subtitles=tuple(language.strip() for language in message.subtitles),
            automatic_subtitles=message.automatic_subtitles,
            uploaded_after=_day(message.uploaded_after, f"{field}.uploaded_after"),
            uploaded_before=_day(message.uploaded_before, f"{field}.uploaded_before"),
            min_duration_s=message.min_duration_s,
            max_duration_s=message.max_duration_s,
            exclude_live=message.exclude_live,
            exclude_shorts=message.exclude_shorts,
            title_match=message.title_match,
            title_exclude=message.title_exclude,
        ),
        field,
    )


def _day(text: str, field: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument(field, f"must be a day as YYYY-MM-DD, got {text[:40]!r}") from None
