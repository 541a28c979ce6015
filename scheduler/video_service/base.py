"""What every Video Service offers the downloaders: `exists` and `upload`.

Implementations are Trio code (asyncio-based clients cross trio-asyncio's bridge
inside them, one whole coroutine per call). Each raises `VideoServiceError` for any
failure of the service or the way to it; the downloader records it and retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class VideoServiceError(Exception):
    """The Video Service failed or could not be reached; str() is one line."""


@dataclass(frozen=True)
class VideoMetadata:
    website: str  # the origin site's host name, e.g. www.nicovideo.jp
    foreign_id: str  # the video's id on its origin site
    url: str  # the video's URL on its origin site
    title: str
    description: str
    uploader: str
    uploader_id: str  # info uploader_id, or channel_id where that is empty
    tags: tuple[str, ...]
    category: str = "General"  # the content category, from the inference rules
    upload_date: str = ""  # YYYYMMDD as yt-dlp gives it; "" when unknown


@dataclass(frozen=True)
class DownloadedVideo:
    metadata: VideoMetadata
    video_path: Path
    info_json_path: Path  # yt-dlp's info JSON
    thumbnail_path: Path | None
    # Each named `<anything>.<language>.<ext>`, as yt-dlp names them (video.ja.vtt).
    subtitle_paths: tuple[Path, ...] = ()


class VideoService(Protocol):
    async def exists(self, website: str, foreign_id: str) -> bool:
        """Whether the service already has this video."""
        ...

    async def upload(self, video: DownloadedVideo) -> str:
        """Streams the video (constant memory) and returns the id the service gave it."""
        ...
