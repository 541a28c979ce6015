"""A yt-dlp worker process: `python -m scheduler.pipeline.ytdlp.worker`.

The service keeps yt-dlp out of its own process (docs/architecture.md, "yt-dlp in worker
processes"): each job runs here, and a job that must stop is stopped by killing the
process. The protocol is JSON lines, one job at a time, plain data both ways (no pickle:
nothing the worker sends is rebuilt into an object by the service):

  service -> stdin:  {"job": "setup", "settings": {...}}   (first: yt-dlp's one-time set-up)
                     {"job": "download", "url": ..., "workdir": ..., "settings": {...},
                      "allowed": [...], "cookies": [{...}, ...], "listed_thumbnail": ...,
                      "log_level": ...}
                     {"job": "list", "url": ..., "website": ..., "first": ..., "known":
                      [[website, foreign_id], ...] or null, "paged": ..., "page_entries":
                      ..., and settings, allowed, cookies, log_level as above}
                     {"job": "tags", "url": ..., and settings, allowed, cookies, log_level}
                     {"go_on": true}   (after each page of a paged listing: stored)
  worker -> stdout:  {"progress": [bytes_done, bytes_total]}   (at most every 0.1 s)
                     {"page": {"videos": [...], "refused": [...]}}  (then waits for go_on)
                     {"log": [level, logger, message]}  (records at the job's "log_level")
                     {"done": {"info": {...}, "video_path": ..., "info_json_path": ...,
                               "thumbnail_path": ... or null}}
                  or {"done": {"videos": [...], "refused": [...]}}   (a listing)
                  or {"done": {"tags": [...]}}
                  or {"failed": {"kind": "YtdlpError" | "RefusedUrl" | "TooLarge",
                                 "message": ...}}

The worker then waits for the next job; the end of stdin ends it, and so does the end of
the service (a killed service's download does not go on). Anything else that would write
to stdout (a library's print) goes to stderr instead.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from http.cookiejar import Cookie
from pathlib import Path
from typing import IO, Any

from scheduler.pipeline.ytdlp.download import Progress, download
from scheduler.pipeline.ytdlp.errors import RefusedUrl, TooLarge, YtdlpError
from scheduler.pipeline.ytdlp.listing import Listing, list_category, video_tags
from scheduler.pipeline.ytdlp.options import prepare, warm_up
from scheduler.settings import DownloaderSettings
from scheduler.work import ListedVideo

PROGRESS_INTERVAL_S = 0.1


def settings_as_data(settings: DownloaderSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def settings_from_data(data: dict[str, Any]) -> DownloaderSettings:
    return DownloaderSettings(**data | {"format_sort": tuple(data["format_sort"])})


_COOKIE_FIELDS = (
    "version", "name", "value", "port", "port_specified", "domain", "domain_specified",
    "domain_initial_dot", "path", "path_specified", "secure", "expires", "discard",
    "comment", "comment_url", "rfc2109",
)  # fmt: skip


def cookie_as_data(cookie: Cookie) -> dict[str, Any]:
    return {name: getattr(cookie, name) for name in _COOKIE_FIELDS} | {
        "rest": dict(vars(cookie).get("_rest", {}))
    }


def cookie_from_data(data: dict[str, Any]) -> Cookie:
    return Cookie(**{name: data[name] for name in _COOKIE_FIELDS}, rest=dict(data["rest"]))


class _ReportedProgress(Progress):
    """Progress that also sends itself to the service, at most every PROGRESS_INTERVAL_S,
    and the last of it before the job's answer (`flush`)."""

    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        super().__init__()
        self._send, self._sent_at, self._unsent = send, 0.0, False

    def update(self, bytes_done: int, bytes_total: int) -> None:
        super().update(bytes_done, bytes_total)
        self._unsent = True
        if time.monotonic() - self._sent_at >= PROGRESS_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        if self._unsent:
            self._send({"progress": [self.bytes_done, self.bytes_total]})
            self._sent_at, self._unsent = time.monotonic(), False


def listing_as_data(listing: Listing) -> dict[str, Any]:
    return {"videos": [dataclasses.asdict(v) for v in listing.videos], "refused": list(listing.refused)}


def listing_from_data(data: dict[str, Any]) -> Listing:
    videos = [
        ListedVideo(
            website=str(v["website"]),
            foreign_id=str(v["foreign_id"]),
            url=str(v["url"]),
            title=str(v["title"]),
            listed={str(k): str(value) for k, value in v["listed"].items()},
            tags=tuple(str(t) for t in v["tags"]),
        )
        for v in data["videos"]
    ]
    return Listing(videos, [str(r) for r in data["refused"]])


def run_job(
    job: dict[str, Any], send: Callable[[dict[str, Any]], None], receive: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """One job: its answer ("done" or "failed"); progress and pages are sent on the way,
    and after each page the service's go-ahead is awaited (`receive`)."""
    settings = settings_from_data(job["settings"])
    if job["job"] == "setup":  # yt-dlp's one-time set-up, once per worker
        prepare(settings)
        warm_up()
        return {"done": {}}
    allowed = tuple(job["allowed"])
    cookies = [cookie_from_data(c) for c in job["cookies"]]
    progress = _ReportedProgress(send)
    try:
        if job["job"] == "download":
            downloaded = download(
                job["url"],
                Path(job["workdir"]),
                settings,
                progress,
                allowed,
                cookies,
                job["listed_thumbnail"],
            )
            progress.flush()
            thumbnail = downloaded.thumbnail_path
            return {
                "done": {
                    "info": downloaded.info,
                    "video_path": str(downloaded.video_path),
                    "info_json_path": str(downloaded.info_json_path),
                    "thumbnail_path": None if thumbnail is None else str(thumbnail),
                }
            }
        if job["job"] == "list":

            def on_page(page: Listing) -> None:
                send({"page": listing_as_data(page)})
                receive()  # the page is stored: read on

            known = job["known"]
            listing = list_category(
                job["url"],
                job["website"],
                settings,
                allowed,
                job["first"],
                None if known is None else frozenset((str(w), str(f)) for w, f in known),
                on_page if job["paged"] else None,
                job["page_entries"],
                cookies,
            )
            return {"done": listing_as_data(listing)}
        if job["job"] == "tags":
            return {"done": {"tags": list(video_tags(job["url"], settings, allowed, cookies))}}
    except (TooLarge, RefusedUrl, YtdlpError) as error:
        progress.flush()
        return {"failed": {"kind": type(error).__name__, "message": str(error)}}
    raise ValueError(f"unknown job: {job['job']!r}")


class _ForwardedLog(logging.Handler):
    """The worker's log records (yt-dlp's among them), sent to the service to log."""

    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        super().__init__()
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        self._send({"log": [record.levelno, record.name, record.getMessage()]})


def serve(jobs: IO[str], answers: IO[str]) -> None:
    def send(message: dict[str, Any]) -> None:
        answers.write(json.dumps(message, ensure_ascii=False) + "\n")
        answers.flush()

    root = logging.getLogger()
    root.handlers = [_ForwardedLog(send)]

    def receive() -> dict[str, Any]:
        line = jobs.readline()
        if not line:
            sys.exit(0)  # the service is gone, or has given up on this job
        message: dict[str, Any] = json.loads(line)
        return message

    for line in iter(jobs.readline, ""):
        job = json.loads(line)
        root.setLevel(int(job.get("log_level", logging.WARNING)))
        send(run_job(job, send, receive))


def _exit_with_parent(interval_s: float = 0.5) -> None:
    """Ends the process once its service is gone (it is then another process's child): a
    killed service's download must not go on by itself. In a thread of its own, since the
    main thread may be blocked in a read."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main() -> None:
    # The service stops a worker by closing its input or killing it; a signal meant for the
    # service (Ctrl-C, a stop's SIGTERM to the whole group) must not end a download early.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _exit_with_parent()
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not break the protocol
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
