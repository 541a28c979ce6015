"""The download profile's command-line flags (`scheduler schedule`, `scheduler profile`):
each given flag changes its field of a profile, the others leave it as it was (pure)."""

from __future__ import annotations

import argparse

from scheduler.profiles.model import parse_duration
from scheduler.v1 import scheduler_pb2 as pb

# flag destination -> the DownloadProfile field it sets
_VALUES = {
    "max_height": "max_height",
    "format": "format",
    "after": "uploaded_after",
    "before": "uploaded_before",
    "min_duration": "min_duration_s",
    "max_duration": "max_duration_s",
    "title_match": "title_match",
    "title_exclude": "title_exclude",
}
_SWITCHES = {
    "audio_only": "audio_only",
    "auto_subtitles": "automatic_subtitles",
    "exclude_live": "exclude_live",
    "exclude_shorts": "exclude_shorts",
}


def _duration(text: str) -> int:
    try:
        return parse_duration(text) if text else 0
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _languages(text: str) -> list[str]:
    return [language.strip() for language in text.split(",") if language.strip()]


def add(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "download profile", "what the category archives (docs/operations.md); 0 or '' clears a value"
    )
    group.add_argument(
        "--max-height", type=int, metavar="PIXELS", help="the tallest video to take, e.g. 1080"
    )
    group.add_argument("--audio-only", action=argparse.BooleanOptionalAction, help="the best audio alone")
    group.add_argument("--format", metavar="SELECTOR", help="a yt-dlp format selector (-f), for experts")
    group.add_argument("--subtitles", type=_languages, metavar="LANGS", help="subtitle languages, e.g. ja,en")
    group.add_argument(
        "--auto-subtitles",
        action=argparse.BooleanOptionalAction,
        help="automatic captions count as subtitles",
    )
    group.add_argument("--after", metavar="YYYY-MM-DD", help="only videos uploaded on or after this day")
    group.add_argument("--before", metavar="YYYY-MM-DD", help="only videos uploaded on or before this day")
    group.add_argument(
        "--min-duration", type=_duration, metavar="D", help="only videos at least this long (90s, 5m)"
    )
    group.add_argument(
        "--max-duration", type=_duration, metavar="D", help="only videos at most this long (2h, 1h30m)"
    )
    group.add_argument(
        "--exclude-live", action=argparse.BooleanOptionalAction, help="skip live streams, premieres"
    )
    group.add_argument("--exclude-shorts", action=argparse.BooleanOptionalAction, help="skip shorts")
    group.add_argument("--title-match", metavar="REGEX", help="only titles matching (RE2, case-insensitive)")
    group.add_argument(
        "--title-exclude", metavar="REGEX", help="skip titles matching (RE2, case-insensitive)"
    )


def given(args: argparse.Namespace) -> bool:
    return any(getattr(args, dest) is not None for dest in (*_VALUES, *_SWITCHES, "subtitles"))


def apply(args: argparse.Namespace, base: pb.DownloadProfile) -> pb.DownloadProfile:
    """`base` with every flag given set."""
    profile = pb.DownloadProfile()
    profile.CopyFrom(base)
    for dest, field in (_VALUES | _SWITCHES).items():
        if (value := getattr(args, dest)) is not None:
            setattr(profile, field, value)
    if args.subtitles is not None:
        del profile.subtitles[:]
        profile.subtitles.extend(args.subtitles)
    return profile
