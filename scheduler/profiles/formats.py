"""What to download of a video the categories `wanted` it want: the most generous of their
profiles (docs/operations.md, "A video in several categories")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.profiles.model import Profile


@dataclass(frozen=True)
class Download:
    format: str  # yt-dlp's format selector
    subtitles: tuple[str, ...] = ()
    automatic_subtitles: bool = False


def selector(profile: Profile, default: str) -> str:
    """A profile's yt-dlp format selector. A height cap takes the best video no taller,
    else the smallest there is (yt-dlp's own example for a cap); audio only the best
    audio, else the best format with audio."""
    if profile.format:
        return profile.format
    if profile.audio_only:
        return "ba/b"
    if profile.max_height:
        cap = profile.max_height
        return f"bv*[height<={cap}]+ba/b[height<={cap}]/wv*+ba/w"
    return default


def _generosity(profile: Profile) -> tuple[int, int]:
    """An expert's selector first, then the whole video, then the higher cap, audio last."""
    if profile.format:
        return (3, 0)
    if profile.audio_only:
        return (0, 0)
    if profile.max_height:
        return (1, profile.max_height)
    return (2, 0)


def merged(wanted: Sequence[Profile], default: str) -> Download:
    """One download for every category that wants the video: the most generous format
    (on a tie, the first profile's: they come in category order), and every subtitle
    language any of them asks for."""
    if not wanted:
        return Download(default)
    best = max(wanted, key=_generosity)  # max keeps the first of equals
    languages = tuple(dict.fromkeys(language for p in wanted for language in p.subtitles))
    return Download(
        selector(best, default), languages, any(p.automatic_subtitles for p in wanted if p.subtitles)
    )
