"""The protocol between the service and its yt-dlp worker processes (worker.py), and the
plain data its messages carry. Free of yt-dlp: the service's side (pool.py) imports this,
never yt-dlp.

JSON lines, one job at a time, plain data both ways (no pickle: nothing the worker sends
is rebuilt into an object by the service):

  service -> stdin:  {"job": "setup", "settings": {...}}   (first: yt-dlp's one-time set-up)
                     {"job": "download", "url": ..., "workdir": ..., "settings": {...},
                      "allowed": [...], "cookies": [{...}, ...], "listed_thumbnail": ...,
                      "profiles": [{...}, ...] (profiles.to_json's), "listed": {...}
                      (what the listing said of it), "log_level": ...}
                     {"job": "list", "url": ..., "website": ..., "first": ..., "known":
                      [[website, foreign_id], ...] or null, "paged": ..., "page_entries":
                      ..., and settings, allowed, cookies, log_level as above}
                     {"job": "tags", "url": ..., and settings, allowed, cookies, log_level}
                     {"job": "media_file", "url": ...}
                     {"job": "format", "selector": ...}   (a format selector to check)
                     {"job": "programs", "settings": {...}}
                     {"go_on": true}   (after each page of a paged listing: stored)
  worker -> stdout:  {"progress": [bytes_done, bytes_total]}   (at most every 0.1 s)
                     {"page": {"videos": [...], "refused": [...]}}  (then waits for go_on)
                     {"log": [level, logger, message]}  (records at the job's "log_level")
                     {"done": {"info": {...}, "video_path": ..., "info_json_path": ...,
                               "thumbnail_path": ... or null, "subtitle_paths": [...]}}
                  or {"done": {"skipped": reason, "fields": {...}}}   (no category wants it)
                  or {"done": {"videos": [...], "refused": [...]}}   (a listing)
                  or {"done": {"tags": [...]}}
                  or {"done": {"media_file": true | false}}
                  or {"done": {"problem": ""}}   (what is wrong with the format selector)
                  or {"done": {"js_runtime": ..., "js_runtime_problem": ..., "ffmpeg": ...,
                               "solver_scripts": ...}}   (what `scheduler doctor` shows)
                  or {"failed": {"kind": "YtdlpError" | "RefusedUrl" | "TooLarge",
                                 "message": ...}}

The worker then waits for the next job; the end of stdin ends it, and so does the end of
the service (a killed service's download does not go on). Anything else that would write
to stdout (a library's print) goes to stderr instead.
"""

from __future__ import annotations

import dataclasses
from http.cookiejar import Cookie
from pathlib import Path
from typing import Any

from scheduler.pipeline.ytdlp.errors import RefusedUrl, TooLarge, YtdlpError
from scheduler.pipeline.ytdlp.results import Downloaded, Listing, Programs, Skipped
from scheduler.settings.model import DownloaderSettings
from scheduler.work import ListedVideo

FAILURES: dict[str, type[YtdlpError]] = {cls.__name__: cls for cls in (YtdlpError, RefusedUrl, TooLarge)}


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


def listing_as_data(listing: Listing) -> dict[str, Any]:
    return {"videos": [dataclasses.asdict(v) for v in listing.videos], "refused": list(listing.refused)}


def listing_from_data(data: dict[str, Any]) -> Listing:
    videos = [
        ListedVideo(
            website=str(v["website"]),
            foreign_id=str(v["foreign_id"]),
            url=str(v["url"]),
            title=str(v["title"]),
            listed=_scalars(v["listed"]),
            tags=tuple(str(t) for t in v["tags"]),
        )
        for v in data["videos"]
    ]
    return Listing(videos, [str(r) for r in data["refused"]])


def _scalars(data: dict[str, Any]) -> dict[str, str | int | float]:
    """The entries of a worker's mapping that are plain values (a listing entry's fields)."""
    return {str(k): v for k, v in data.items() if isinstance(v, str | int | float)}


def downloaded_as_data(downloaded: Downloaded) -> dict[str, Any]:
    thumbnail = downloaded.thumbnail_path
    return {
        "info": downloaded.info,
        "video_path": str(downloaded.video_path),
        "info_json_path": str(downloaded.info_json_path),
        "thumbnail_path": None if thumbnail is None else str(thumbnail),
        "subtitle_paths": [str(p) for p in downloaded.subtitle_paths],
    }


def skipped_as_data(skipped: Skipped) -> dict[str, Any]:
    return {"skipped": skipped.reason, "fields": skipped.fields}


def downloaded_from_data(data: dict[str, Any]) -> Downloaded | Skipped:
    if "skipped" in data:
        return Skipped(str(data["skipped"]), _scalars(data["fields"]))
    thumbnail = data["thumbnail_path"]
    return Downloaded(
        info=dict(data["info"]),
        video_path=Path(data["video_path"]),
        info_json_path=Path(data["info_json_path"]),
        thumbnail_path=None if thumbnail is None else Path(thumbnail),
        subtitle_paths=tuple(Path(p) for p in data["subtitle_paths"]),
    )


def programs_as_data(programs: Programs) -> dict[str, Any]:
    return dataclasses.asdict(programs)


def programs_from_data(data: dict[str, Any]) -> Programs:
    def text(name: str) -> str | None:
        return None if data[name] is None else str(data[name])

    return Programs(
        text("js_runtime"), str(data["js_runtime_problem"]), text("ffmpeg"), text("solver_scripts")
    )


def failure_as_data(error: YtdlpError) -> dict[str, Any]:
    return {"failed": {"kind": type(error).__name__, "message": str(error)}}


def raise_failure(failed: dict[str, Any]) -> None:
    """A job's failure raised as the error yt-dlp raised in the worker."""
    raise FAILURES.get(str(failed.get("kind")), YtdlpError)(str(failed.get("message", "")))
