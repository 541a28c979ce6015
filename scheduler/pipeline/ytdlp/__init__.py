"""yt-dlp, run in worker processes: list a category, read a video's tags, download one
video.

The service's process never imports yt-dlp. Its side is the pool of workers (pool.py,
imported by its own name, so that a worker does not load Trio), what their jobs give
back (results.py) and their failures (errors.py), handed on here; all free of yt-dlp.
The jobs themselves (listing.py, download.py, with options.py and overrides.py, every
reach into yt-dlp's private parts) run in a worker process (worker.py), one job at a
time; the protocol between the two is protocol.py's. The pool stops a job by killing
its worker.

Every URL fetched passes `netguard.check_url` (against SSRF): the listing's entries, the
video's URL, and every request yt-dlp then sends, each redirect included (see
`GuardedYoutubeDL`); and every connection, at the address it connects to
(`_CheckEveryConnection`, against DNS rebinding).
"""

from scheduler.pipeline.ytdlp.errors import RefusedUrl, TooLarge, YtdlpError
from scheduler.pipeline.ytdlp.results import Downloaded, Listing, Programs, Progress, Skipped

__all__ = [
    "Downloaded",
    "Listing",
    "Programs",
    "Progress",
    "RefusedUrl",
    "Skipped",
    "TooLarge",
    "YtdlpError",
]
