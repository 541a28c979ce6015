"""The metadata a Video Service receives (pure)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from scheduler.db.store import ClaimedVideo
from scheduler.pipeline.sanitize import MAX_TEXT, MAX_TITLE, clean_text
from scheduler.video_service.base import VideoMetadata

MAX_TAGS = 100
MAX_TAG = 100


def video_metadata(video: ClaimedVideo, info: dict[str, Any]) -> VideoMetadata:
    """From the downloaded video's info, except where that only repeats the video's id
    or file name (yt-dlp's generic extractor does so for feed enclosures) and the
    listed entry has a real value: a feed item's <title> is the video's title."""
    placeholders = _placeholders(video, info)

    def field(key: str) -> str:
        value = info.get(key)
        text = str(value).strip() if value is not None else ""
        if text and text not in placeholders:
            return text
        return video.listed.get(key, "") or text

    tags = info.get("tags") or []
    return VideoMetadata(
        website=video.website,
        foreign_id=video.foreign_id,
        url=video.url,
        title=clean_text(field("title") or video.foreign_id, MAX_TITLE),
        description=clean_text(field("description"), MAX_TEXT),
        uploader=clean_text(field("uploader"), MAX_TITLE),
        uploader_id=clean_text(str(info.get("uploader_id") or info.get("channel_id") or ""), MAX_TITLE),
        tags=tuple(clean_text(str(t), MAX_TAG) for t in tags[:MAX_TAGS] if isinstance(t, str | int)),
    )


def _placeholders(video: ClaimedVideo, info: dict[str, Any]) -> set[str]:
    names = {str(info.get("id") or ""), video.foreign_id}
    for url in (video.url, str(info.get("url") or ""), str(info.get("webpage_url") or "")):
        path = PurePosixPath(urlsplit(url).path)
        names |= {path.name, path.stem}
    return {n for n in names if n}
