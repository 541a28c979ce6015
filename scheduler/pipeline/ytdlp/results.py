"""What yt-dlp's jobs give back, as the service holds it: plain values, free of yt-dlp, so
that the service's process never imports it (the jobs run in worker processes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scheduler.work import ListedVideo


@dataclass
class Progress:
    """Written by the download (in its worker, whose answers the pool reads into the
    service's copy), read by the keepers (plain attribute writes)."""

    bytes_done: int = 0
    bytes_total: int = 0

    def update(self, bytes_done: int, bytes_total: int) -> None:
        self.bytes_done, self.bytes_total = bytes_done, bytes_total


@dataclass(frozen=True)
class Downloaded:
    info: dict[str, Any]
    video_path: Path
    info_json_path: Path
    thumbnail_path: Path | None
    subtitle_paths: tuple[Path, ...] = ()  # video.<language>.<ext>, as the profiles asked


@dataclass(frozen=True)
class Skipped:
    """No category listing the video wants it (their profiles' filters, decided from its
    metadata before any byte of it was fetched)."""

    reason: str
    fields: dict[str, Any]  # what the filters read of the metadata (filters.known_fields)


@dataclass(frozen=True)
class Listing:
    videos: list[ListedVideo]  # oldest first
    refused: list[str]  # one line per entry dropped by check_url: its Refused reason


@dataclass(frozen=True)
class Programs:
    """What yt-dlp, set up as for a download, finds to run."""

    js_runtime: str | None  # "deno 2.9.8 at /path" when it would solve challenges with it
    js_runtime_problem: str  # why it would not ("" when it would)
    ffmpeg: str | None  # "ffmpeg 9.0.2 at /path" when it can merge streams
    solver_scripts: str | None  # the yt-dlp-ejs version, when installed
