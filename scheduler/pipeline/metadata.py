"""The metadata a Video Service receives (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from scheduler.pipeline.sanitize import MAX_TEXT, MAX_TITLE, clean_tags, clean_text
from scheduler.profiles import filters
from scheduler.video_service.base import VideoMetadata
from scheduler.work import ClaimedVideo


def video_metadata(video: ClaimedVideo, info: dict[str, Any], category: str = "General") -> VideoMetadata:
    """From the downloaded video's info, except where that only repeats the video's id
    or file name (yt-dlp's generic extractor does so for feed enclosures) and the
    listed entry has a real value: a feed item's <title> is the video's title. `category`:
    its content category (the inference rules)."""
    placeholders = _placeholders(video, info)

    def field(key: str) -> str:
        value = info.get(key)
        text = str(value).strip() if value is not None else ""
        if text and text not in placeholders:
            return text
        return str(video.listed.get(key, "") or text)

    return VideoMetadata(
        website=video.website,
        foreign_id=video.foreign_id,
        url=video.url,
        title=clean_text(field("title") or video.foreign_id, MAX_TITLE),
        description=clean_text(field("description"), MAX_TEXT),
        uploader=clean_text(field("uploader"), MAX_TITLE),
        uploader_id=clean_text(str(info.get("uploader_id") or info.get("channel_id") or ""), MAX_TITLE),
        tags=info_tags(info),
        category=category,
        upload_date=upload_date(info) or upload_date(video.listed),
    )


def upload_date(info: Mapping[str, Any]) -> str:
    """The upload day of a video's info or listing entry as yt-dlp writes it (YYYYMMDD;
    profiles.filters.upload_date reads it), else "": it ends up in file names and NFOs. A
    feed's enclosure has a date only in its listing entry (the item's pubDate)."""
    day = filters.upload_date(info)
    return f"{day.year:04}{day.month:02}{day.day:02}" if day is not None else ""


def info_tags(info: dict[str, Any]) -> tuple[str, ...]:
    """The downloaded video's tags, cleaned."""
    tags = info.get("tags")
    return clean_tags(tags) if isinstance(tags, list) else ()


def _placeholders(video: ClaimedVideo, info: dict[str, Any]) -> set[str]:
    names = {str(info.get("id") or ""), video.foreign_id}
    for url in (video.url, str(info.get("url") or ""), str(info.get("webpage_url") or "")):
        path = PurePosixPath(urlsplit(url).path)
        names |= {path.name, path.stem}
    return {n for n in names if n}
