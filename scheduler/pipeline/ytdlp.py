"""yt-dlp as a library, for worker threads: list a category, download one video.

Everything here blocks; callers run it with `trio.to_thread.run_sync` (never
abandoning the thread). A YoutubeDL instance is not thread-safe, so each call makes
its own. The progress hook (downloads) and the logger (listings) ask Trio whether the
calling task was cancelled and stop yt-dlp if so: a cancelled Trio scope (a timeout,
CancelDownload, a shutdown) really stops the thread's work.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio
import yt_dlp
from yt_dlp.utils import DownloadCancelled, unsmuggle_url

from scheduler.db.store import ListedVideo
from scheduler.settings import DownloaderSettings

log = logging.getLogger(__name__)
VIDEO_STEM = "video"
THUMBNAIL_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")


class YtdlpError(Exception):
    """yt-dlp could not list or download; str() is its one-line reason."""


class TooLarge(YtdlpError):
    pass


def stop_if_cancelled() -> None:
    """Raises DownloadCancelled in the worker thread once the Trio task that runs it is cancelled."""
    try:
        trio.from_thread.check_cancelled()
    except trio.Cancelled:
        raise DownloadCancelled() from None
    except RuntimeError:
        pass  # called outside trio.to_thread (a plain call): nothing can cancel it


class _Logger:
    """yt-dlp's output goes to our log (never stdout), and every line is a chance to stop."""

    def debug(self, message: str) -> None:
        stop_if_cancelled()
        log.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        stop_if_cancelled()
        log.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)


def _common_options(settings: DownloaderSettings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "quiet": True,
        "noprogress": True,
        "no_warnings": True,
        "logger": _Logger(),
        "socket_timeout": settings.socket_timeout_s,
        "http_headers": {"Accept-Language": settings.accept_language} if settings.accept_language else {},
        "noplaylist": True,
        "color": {"stdout": "never", "stderr": "never"},
    }
    if settings.proxy:
        options["proxy"] = settings.proxy
    return options


def list_category(url: str, website: str, settings: DownloaderSettings, first: int = 0) -> list[ListedVideo]:
    """The category's videos, oldest first, from a flat listing (no page per video).
    `first` > 0 reads only that many entries from the top (the newest)."""
    options = _common_options(settings) | {"extract_flat": "in_playlist", "noplaylist": False}
    if first:
        options["playlistend"] = first
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(url, download=False)
    except DownloadCancelled:
        raise
    except Exception as error:  # yt-dlp raises many kinds; all mean "this listing failed"
        raise YtdlpError(_one_line(error)) from None
    if not isinstance(info, dict):
        raise YtdlpError("yt-dlp returned nothing")
    entries = info.get("entries") if info.get("_type") == "playlist" else [info]
    return listed_videos(entries or [], website)


def listed_videos(entries: Iterable[Any], website: str) -> list[ListedVideo]:
    """Flat entries (newest first, as sites and feeds list them) -> videos oldest first,
    each once. An entry without an id (a feed's enclosure) gets a stable one: the feed
    item's guid that yt-dlp smuggles into the URL, else a hash of the URL."""
    seen: set[tuple[str, str]] = set()
    videos = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        raw_url = entry.get("url") or entry.get("webpage_url")
        if not isinstance(raw_url, str) or not raw_url:
            continue
        url, smuggled = unsmuggle_url(raw_url, {})
        host = (urlsplit(url).hostname or "").lower() or website
        foreign_id = str(entry.get("id") or (smuggled or {}).get("force_videoid") or _url_id(url))
        if (host, foreign_id) in seen:
            continue
        seen.add((host, foreign_id))
        listed = {k: str(entry[k]) for k in ("title", "description", "uploader", "thumbnail") if entry.get(k)}
        videos.append(ListedVideo(host, foreign_id, url, listed.get("title", ""), listed))
    videos.reverse()
    return videos


def _url_id(url: str) -> str:
    return "url-" + hashlib.sha256(url.encode()).hexdigest()[:32]


@dataclass
class Progress:
    """Written by the download thread, read by Trio (plain attribute writes)."""

    bytes_done: int = 0
    bytes_total: int = 0


@dataclass(frozen=True)
class Downloaded:
    info: dict[str, Any]
    video_path: Path
    info_json_path: Path
    thumbnail_path: Path | None


def download(url: str, workdir: Path, settings: DownloaderSettings, progress: Progress) -> Downloaded:
    """Downloads one video with its info JSON and thumbnail into `workdir`."""

    def hook(status: dict[str, Any]) -> None:
        stop_if_cancelled()
        done = int(status.get("downloaded_bytes") or 0)
        total = int(status.get("total_bytes") or status.get("total_bytes_estimate") or 0)
        progress.bytes_done, progress.bytes_total = done, total
        limit = settings.max_filesize
        if limit and max(done, total) > limit:
            raise TooLarge(f"larger than the {limit}-byte limit")

    options = _common_options(settings) | {
        "outtmpl": str(workdir / f"{VIDEO_STEM}.%(ext)s"),
        "writeinfojson": True,
        "writethumbnail": True,
        "progress_hooks": [hook],
        "retries": 0,
        "fragment_retries": 0,
    }
    # No max_filesize option: yt-dlp then skips the file and says so only in its log.
    # The hook refuses it instead, at the first progress report (Content-Length known).
    if settings.format_sort:
        options["format_sort"] = list(settings.format_sort)
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(url, download=True)
            info = ydl.sanitize_info(info)
    except DownloadCancelled:
        raise
    except TooLarge:
        raise
    except yt_dlp.utils.DownloadError as error:
        cause = error.exc_info[1] if error.exc_info else None
        if isinstance(cause, TooLarge | DownloadCancelled):
            raise cause from None
        raise YtdlpError(_one_line(error)) from None
    except Exception as error:
        raise YtdlpError(_one_line(error)) from None
    return _collect(workdir, info)


def _collect(workdir: Path, info: dict[str, Any]) -> Downloaded:
    requested = info.get("requested_downloads") or []
    path = Path(requested[0]["filepath"]) if requested and requested[0].get("filepath") else None
    if path is None or not path.is_file():
        raise YtdlpError("yt-dlp finished without a video file")
    thumbnails = [p for p in workdir.iterdir() if p.stem == VIDEO_STEM and p.suffix in THUMBNAIL_SUFFIXES]
    return Downloaded(info, path, workdir / f"{VIDEO_STEM}.info.json", thumbnails[0] if thumbnails else None)


def _one_line(error: BaseException) -> str:
    """yt-dlp's message without its "ERROR:" prefix, on one line (it may carry a \r)."""
    lines = [line.strip() for line in str(error).replace("ERROR:", "", 1).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:500]
