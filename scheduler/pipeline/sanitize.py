"""What comes from sites is hostile until trimmed (pure, but for the file checks).

Titles, descriptions, ids and error messages are capped in length and rid of control
and bidirectional-override characters (which can make an event log lie about what it
says). Ids too long for an index are replaced by a hash; an oversized info JSON by its
essentials; a "thumbnail" that is not an image is dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from scheduler.work import Listed, ListedVideo

MAX_ID = 255
MAX_TITLE = 1_000
MAX_TEXT = 10_000
MAX_URL = 8_192
MAX_INFO_JSON = 8 * 2**20
MAX_THUMBNAIL = 5 * 2**20
MAX_TAGS = 100
MAX_TAG = 100
# C0/C1 controls but tab and newline; bidi embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"GIF87a", ".gif"),
    (b"GIF89a", ".gif"),
)
_INFO_ESSENTIALS = ("id", "title", "description", "uploader", "uploader_id", "channel_id", "tags",
                    "upload_date", "timestamp", "duration", "webpage_url", "extractor", "ext")  # fmt: skip


def clean_text(text: str, limit: int) -> str:
    cleaned = _UNSAFE.sub("", text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def clean_id(foreign_id: str) -> str:
    """The id as it is when it is reasonable; else a stable hash of it."""
    if foreign_id and len(foreign_id) <= MAX_ID and not _UNSAFE.search(foreign_id):
        return foreign_id
    return "sha256-" + hashlib.sha256(foreign_id.encode("utf-8", "surrogatepass")).hexdigest()


def clean_listed(video: ListedVideo) -> ListedVideo | None:
    """The listed video fit to store, or None when its URL is beyond any real one."""
    if len(video.url) > MAX_URL:
        return None
    listed: Listed = {
        k: clean_text(v, MAX_TITLE if k == "title" else MAX_TEXT) if isinstance(v, str) else v
        for k, v in video.listed.items()
    }
    return replace(
        video,
        foreign_id=clean_id(video.foreign_id),
        title=clean_text(video.title, MAX_TITLE),
        listed=listed,
        tags=clean_tags(video.tags),
    )


def clean_tags(tags: Iterable[object]) -> tuple[str, ...]:
    """At most MAX_TAGS tags, each a cleaned string of at most MAX_TAG characters."""
    cleaned = (clean_text(str(t), MAX_TAG).strip() for t in tags if isinstance(t, str | int))
    return tuple(t for t in cleaned if t)[:MAX_TAGS]


def is_image(path: Path) -> bool:
    """Small enough, and starts like a JPEG, PNG, GIF or WebP."""
    if path.stat().st_size > MAX_THUMBNAIL:
        return False
    with path.open("rb") as file:
        return image_suffix(file.read(12)) is not None


def image_suffix(head: bytes) -> str | None:
    """ ".jpg", ".png", ".gif" or ".webp" for data that starts like one, else None."""
    for magic, suffix in _IMAGE_MAGIC:
        if head.startswith(magic):
            return suffix
    return ".webp" if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else None


def delivered_info_json(path: Path, info: dict[str, Any], category: str) -> Path:
    """The info JSON a Video Service receives, written beside yt-dlp's: yt-dlp's without
    any cookie, or, past MAX_INFO_JSON, its essentials; with the video's content category
    (`content_category`, which Horahora's Video Service has no other field for)."""
    if path.is_file() and path.stat().st_size <= MAX_INFO_JSON:
        delivered = without_cookies(json.loads(path.read_bytes()))
    else:
        delivered = {k: info[k] for k in _INFO_ESSENTIALS if k in info}
    delivered["content_category"] = category
    written = path.with_name("info.delivered.json")
    written.write_text(json.dumps(delivered, ensure_ascii=False, default=str)[:MAX_INFO_JSON])
    return written


def without_cookies(info: Any) -> Any:
    """yt-dlp's info without the cookies it carries (it writes the request's into its info
    JSON): every "cookies" field (the info's and each format's) and every Cookie header
    among "http_headers"."""
    if isinstance(info, list):
        return [without_cookies(item) for item in info]
    if not isinstance(info, dict):
        return info
    cleaned = {}
    for key, value in info.items():
        if key == "cookies":
            continue
        if key == "http_headers" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if str(k).lower() != "cookie"}
        cleaned[key] = without_cookies(value)
    return cleaned
