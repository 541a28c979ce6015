"""yt-dlp as a library, for worker threads: list a category, download one video.

Everything here blocks; callers run it with `trio.to_thread.run_sync` (never
abandoning the thread). A YoutubeDL instance is not thread-safe, so each call makes
its own. The progress hook (downloads) and the logger (listings) ask Trio whether the
calling task was cancelled and stop yt-dlp if so: a cancelled Trio scope (a timeout,
CancelDownload, a shutdown) really stops the thread's work.

Every URL fetched passes `netguard.check_url` (against SSRF): the listing's entries, the
video's URL, and every request yt-dlp then sends, each redirect included (see
`GuardedYoutubeDL`); and every connection, at the address it connects to
(`_CheckEveryConnection`, against DNS rebinding).

The package: errors.py (what its failures mean), overrides.py (every reach into yt-dlp's
private parts), options.py (the shared options and one-time set-up), listing.py and
download.py. What the rest of the service uses is handed on here.
"""

from scheduler.pipeline.ytdlp.download import Downloaded, Progress, download
from scheduler.pipeline.ytdlp.errors import RefusedUrl, TooLarge, YtdlpError
from scheduler.pipeline.ytdlp.listing import (
    Listing,
    list_category,
    listed_videos,
    names_a_media_file,
    video_tags,
)
from scheduler.pipeline.ytdlp.options import Programs, detect_programs, prepare, stop_if_cancelled, warm_up

__all__ = [
    "Downloaded",
    "Listing",
    "Programs",
    "Progress",
    "RefusedUrl",
    "TooLarge",
    "YtdlpError",
    "detect_programs",
    "download",
    "list_category",
    "listed_videos",
    "names_a_media_file",
    "prepare",
    "stop_if_cancelled",
    "video_tags",
    "warm_up",
]
