"""yt-dlp set up as a worker runs it: the options every call shares, its log in ours, the
one-time set-up, and the programs it finds to run."""

from __future__ import annotations

import logging
from typing import Any

from yt_dlp.dependencies import yt_dlp_ejs
from yt_dlp.postprocessor.ffmpeg import FFmpegMergerPP

from scheduler import programs
from scheduler.pipeline.ytdlp.overrides import FeedAwareGenericIE, GuardedYoutubeDL, default_extractors
from scheduler.pipeline.ytdlp.results import Programs
from scheduler.settings import DownloaderSettings

log = logging.getLogger(__name__)


class _Logger:
    """yt-dlp's output goes to our log, never to stdout."""

    def debug(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)


def common_options(settings: DownloaderSettings) -> dict[str, Any]:
    runtime, ffmpeg = programs.js_runtime(settings.js_runtime), programs.ffmpeg(settings.ffmpeg)
    options: dict[str, Any] = {
        "quiet": True,
        "noprogress": True,
        "no_warnings": True,
        "logger": _Logger(),
        "socket_timeout": settings.socket_timeout_s,
        "http_headers": {"Accept-Language": settings.accept_language} if settings.accept_language else {},
        "noplaylist": True,
        "color": {"stdout": "never", "stderr": "never"},
        # yt-dlp's default is a deno from PATH: name the one we ship, or none at all.
        "js_runtimes": {"deno": {"path": runtime}} if runtime else {},
    }
    if ffmpeg:
        options["ffmpeg_location"] = ffmpeg
    if settings.proxy:
        options["proxy"] = settings.proxy
    return options


def detect_programs(settings: DownloaderSettings) -> Programs:
    """yt-dlp's own detection (it runs each program's --version), for `scheduler doctor`."""
    with GuardedYoutubeDL(common_options(settings), ()) as ydl:
        runtime = ydl._js_runtimes.get("deno")
        info = runtime.info if runtime is not None else None
        if info is None:
            problem = "none configured" if runtime is None else "it does not run"
        else:
            problem = "" if info.supported else f"version {info.version} is older than yt-dlp supports"
        merger = FFmpegMergerPP(ydl)
        ffmpeg = f"ffmpeg {merger._versions['ffmpeg']} at {merger.executable}" if merger.available else None
    js = f"deno {info.version} at {info.path}" if info is not None else None
    return Programs(js, problem, ffmpeg, getattr(yt_dlp_ejs, "version", None) if yt_dlp_ejs else None)


def prepare(settings: DownloaderSettings) -> None:
    """What yt-dlp sets up lazily on first use (its extractor registry) and where the
    programs it runs are, done once per worker process, at its start (the setup job)."""
    default_extractors()
    programs.js_runtime(settings.js_runtime)
    programs.ffmpeg(settings.ffmpeg)


def warm_up() -> None:
    """What a worker's first job would otherwise pay for, done at the worker's start:
    yt-dlp compiles an extractor's URL patterns the first time it tries it, and a URL only
    the generic extractor takes is tried against ~1,800 (0.4 s of CPU)."""
    for ie in (*default_extractors(), FeedAwareGenericIE):
        try:
            ie.suitable("")
        except Exception as error:  # only a head start: the download would try it again
            log.debug("warming up %s: %r", ie.ie_key(), error)
