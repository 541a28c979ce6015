"""A yt-dlp worker process: `python -m scheduler.pipeline.ytdlp.worker`.

The service keeps yt-dlp out of its own process (docs/architecture.md, "yt-dlp in worker
processes"): each job runs here, and a job that must stop is stopped by killing the
process. The protocol, and the plain data it carries, is protocol.py's.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from scheduler.pipeline.ytdlp.download import download, format_problem
from scheduler.pipeline.ytdlp.errors import YtdlpError
from scheduler.pipeline.ytdlp.listing import list_category, names_a_media_file, video_tags
from scheduler.pipeline.ytdlp.options import detect_programs, prepare, warm_up
from scheduler.pipeline.ytdlp.protocol import (
    cookie_from_data,
    downloaded_as_data,
    failure_as_data,
    listing_as_data,
    programs_as_data,
    settings_from_data,
    skipped_as_data,
)
from scheduler.pipeline.ytdlp.results import Listing, Progress, Skipped
from scheduler.profiles import from_json

PROGRESS_INTERVAL_S = 0.1


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


def run_job(
    job: dict[str, Any], send: Callable[[dict[str, Any]], None], receive: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """One job: its answer ("done" or "failed"); progress and pages are sent on the way,
    and after each page the service's go-ahead is awaited (`receive`)."""
    kind = job["job"]
    if kind == "media_file":
        return {"done": {"media_file": names_a_media_file(job["url"])}}
    if kind == "format":
        return {"done": {"problem": format_problem(job["selector"])}}
    settings = settings_from_data(job["settings"])
    if kind == "setup":  # yt-dlp's one-time set-up, once per worker
        prepare(settings)
        warm_up()
        return {"done": {}}
    if kind == "programs":
        return {"done": programs_as_data(detect_programs(settings))}
    allowed = tuple(job["allowed"])
    cookies = [cookie_from_data(c) for c in job["cookies"]]
    progress = _ReportedProgress(send)
    try:
        if kind == "download":
            workdir, thumbnail = Path(job["workdir"]), job["listed_thumbnail"]
            profiles = [from_json(p) for p in job["profiles"]]
            downloaded = download(
                job["url"], workdir, settings, progress, allowed, cookies, thumbnail, profiles, job["listed"]
            )
            progress.flush()
            if isinstance(downloaded, Skipped):
                return {"done": skipped_as_data(downloaded)}
            return {"done": downloaded_as_data(downloaded)}
        if kind == "list":

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
        if kind == "tags":
            return {"done": {"tags": list(video_tags(job["url"], settings, allowed, cookies))}}
    except YtdlpError as error:
        progress.flush()
        return failure_as_data(error)
    raise ValueError(f"unknown job: {kind!r}")


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
