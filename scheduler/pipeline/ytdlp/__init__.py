"""yt-dlp as a library, run in worker processes: list a category, read a video's tags,
download one video.

Everything here blocks, and runs in a yt-dlp worker process (worker.py), one job at a
time; the service reaches it through the pool (pool.py), which stops a job by killing
its worker. A YoutubeDL instance is made per call.

Every URL fetched passes `netguard.check_url` (against SSRF): the listing's entries, the
video's URL, and every request yt-dlp then sends, each redirect included (see
`GuardedYoutubeDL`); and every connection, at the address it connects to
(`_CheckEveryConnection`, against DNS rebinding).

The package: errors.py (what its failures mean), overrides.py (every reach into yt-dlp's
private parts), options.py (the shared options and one-time set-up), listing.py and
download.py, worker.py (a worker process and its protocol) and pool.py (the service's
side). What the rest of the service uses is handed on here.
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
from scheduler.pipeline.ytdlp.options import Programs, detect_programs, prepare, warm_up

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
    "video_tags",
    "warm_up",
]
