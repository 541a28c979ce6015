"""Downloading one video with yt-dlp: the video with its info JSON and thumbnail into a
work directory, its progress reported, stopped past the size limit or when cancelled."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from http.cookiejar import Cookie
from pathlib import Path
from typing import Any

import yt_dlp

from scheduler.pipeline.sanitize import MAX_THUMBNAIL, image_suffix, without_cookies
from scheduler.pipeline.ytdlp.errors import TooLarge, YtdlpError, check_allowed, failure
from scheduler.pipeline.ytdlp.options import common_options
from scheduler.pipeline.ytdlp.overrides import GuardedYoutubeDL
from scheduler.pipeline.ytdlp.results import Downloaded, Progress, Skipped
from scheduler.profiles import Profile, merged, verdict
from scheduler.profiles.filters import known_fields
from scheduler.profiles.model import DEFAULT
from scheduler.settings import DownloaderSettings

log = logging.getLogger(__name__)

VIDEO_STEM = "video"
THUMBNAIL_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")


def download(
    url: str,
    workdir: Path,
    settings: DownloaderSettings,
    progress: Progress,
    allowed: tuple[str, ...],
    cookies: Iterable[Cookie] = (),
    listed_thumbnail: str = "",
    profiles: Sequence[Profile] = (),
    listed: Mapping[str, Any] | None = None,
) -> Downloaded | Skipped:
    """Downloads one video with its info JSON and thumbnail into `workdir`, with the
    site's logged-in session (`cookies`); the info holds no cookie (the info JSON yt-dlp
    wrote does: it is cleaned on its way out, sanitize.delivered_info_json).
    When yt-dlp wrote no thumbnail, the info's or else the listing's (`listed_thumbnail`)
    is fetched. `profiles`: those of the categories listing the video; from its metadata,
    before any byte of it is fetched, the video is Skipped when none of them wants it,
    else downloaded as the most generous of those that do asks (profiles.merged); what
    the listing said of it (`listed`) fills in what the metadata lacks, and its title is
    the one a title filter reads (a feed's item title, where the metadata has a file name).
    Raises RefusedUrl when its URL, or a request of the download, is refused."""
    check_allowed(url, allowed)
    choice = _Choice(profiles, settings.format, listed or {})
    # Asked for before the filters decide (yt-dlp picks subtitles first): every language any
    # category listing the video wants.
    subtitles = merged(profiles, settings.format)

    def hook(status: dict[str, Any]) -> None:
        done = int(status.get("downloaded_bytes") or 0)
        total = int(status.get("total_bytes") or status.get("total_bytes_estimate") or 0)
        progress.update(done, total)
        limit = settings.max_filesize
        if limit and max(done, total) > limit:
            raise TooLarge(f"larger than the {limit}-byte limit")

    options = common_options(settings) | {
        "outtmpl": str(workdir / f"{VIDEO_STEM}.%(ext)s"),
        "writeinfojson": True,
        "writethumbnail": True,
        "progress_hooks": [hook],
        # yt-dlp formats a progress line for every block it reads, printed or not (about a
        # quarter of its CPU time on a fast download); it prints none for us. `hook` still
        # sees every block.
        "progress_delta": 3600.0,
        "retries": 0,
        "fragment_retries": 0,
        "format": settings.format,
        "match_filter": choice,
        # Separate streams merged by ffmpeg: into MP4 when their codecs allow it, else MKV.
        "merge_output_format": "mp4/mkv",
    }
    # No max_filesize option: yt-dlp then skips the file and says so only in its log.
    # The hook refuses it instead, at the first progress report (Content-Length known).
    if settings.format_sort:
        options["format_sort"] = list(settings.format_sort)
    if subtitles.subtitles:
        options |= {
            "writesubtitles": True,
            "writeautomaticsub": subtitles.automatic_subtitles,
            "subtitleslangs": list(subtitles.subtitles),
            "subtitlesformat": "vtt/srt/ass/best",
        }
    try:
        with GuardedYoutubeDL(options, allowed, cookies) as ydl:
            choice.ydl = ydl
            info = ydl.extract_info(url, download=True)
            if choice.skipped:
                return Skipped(choice.skipped, known_fields(info))
            info = without_cookies(ydl.sanitize_info(info))
            if _thumbnail_file(workdir) is None:
                _fetch_thumbnail(ydl, workdir, [str(info.get("thumbnail") or ""), listed_thumbnail])
    except TooLarge:
        raise
    except yt_dlp.utils.DownloadError as error:
        cause = error.exc_info[1] if error.exc_info else None
        if isinstance(cause, TooLarge):
            raise cause from None
        raise failure(error) from None
    except Exception as error:
        raise failure(error) from None
    return _collect(workdir, info)


class _Choice:
    """yt-dlp's match filter, called with the video's metadata before its formats are
    chosen: whether any category wants the video, and if so the format of the most
    generous of those that do (set as the selector yt-dlp is about to use)."""

    def __init__(self, profiles: Sequence[Profile], default_format: str, listed: Mapping[str, Any]) -> None:
        self._profiles = profiles
        self._default = default_format
        self._listed = listed
        self.ydl: GuardedYoutubeDL | None = None
        self.skipped = ""

    def __call__(self, info: dict[str, Any], *, incomplete: bool | set[str] = False) -> str | None:
        if all(p == DEFAULT for p in self._profiles):
            return None  # nothing to decide: the service's format
        video = {**self._listed, **{k: v for k, v in info.items() if v is not None}}
        if self._listed.get("title"):
            video["title"] = self._listed["title"]
        verdicts = [verdict(p, video, complete=True) for p in self._profiles]
        wanted = [p for p, v in zip(self._profiles, verdicts, strict=True) if not v.skipped]
        if not wanted:
            self.skipped = verdicts[0].reason  # every one skips it: the first category's reason
            return self.skipped
        self.skipped = ""
        if self.ydl is not None:
            self.ydl.format_selector = self.ydl.build_format_selector(merged(wanted, self._default).format)
        return None


def format_problem(selector: str) -> str:
    """What yt-dlp's parser finds wrong with a format selector ("" when nothing is)."""
    try:
        yt_dlp.YoutubeDL({"quiet": True}).build_format_selector(selector)
    except Exception as error:  # SyntaxError, or whatever else its parser meets
        return (str(error).splitlines() or [type(error).__name__])[0]
    return ""


def _collect(workdir: Path, info: dict[str, Any]) -> Downloaded:
    requested = info.get("requested_downloads") or []
    path = Path(requested[0]["filepath"]) if requested and requested[0].get("filepath") else None
    if path is None or not path.is_file():
        raise YtdlpError("yt-dlp finished without a video file")
    subtitles = tuple(
        Path(s["filepath"])
        for s in (info.get("requested_subtitles") or {}).values()
        if isinstance(s, dict) and s.get("filepath") and Path(s["filepath"]).is_file()
    )
    return Downloaded(info, path, workdir / f"{VIDEO_STEM}.info.json", _thumbnail_file(workdir), subtitles)


def _thumbnail_file(workdir: Path) -> Path | None:
    return next(
        (p for p in workdir.iterdir() if p.stem == VIDEO_STEM and p.suffix in THUMBNAIL_SUFFIXES), None
    )


def _fetch_thumbnail(ydl: GuardedYoutubeDL, workdir: Path, urls: list[str]) -> None:
    """The first of `urls` that gives an image of at most MAX_THUMBNAIL bytes, written as
    video.<ext>. Through yt-dlp's checked requests (the allow-list, the site's cookies);
    a thumbnail is optional, so a failure only moves on to the next URL."""
    for url in dict.fromkeys(u for u in urls if u):
        try:
            with ydl.urlopen(url) as response:
                data = response.read(MAX_THUMBNAIL + 1)
        except Exception as error:
            log.debug("thumbnail %s: %s", url, error)
            continue
        if len(data) <= MAX_THUMBNAIL and (suffix := image_suffix(data[:12])) is not None:
            (workdir / f"{VIDEO_STEM}{suffix}").write_bytes(data)
            return
