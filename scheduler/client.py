"""The client commands: call a running service over gRPC and print what it answered.

A one-shot client has no task tree to speak of, so it runs grpclib on plain asyncio.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from grpclib import GRPCError
from grpclib.client import Channel

from scheduler.v1 import scheduler_pb2 as pb
from scheduler.v1.scheduler_grpc import SchedulerStub
from scheduler.watch_view import WatchView

DEFAULT_TARGET = "127.0.0.1:7777"
TIMEOUT_S = 30.0


class ClientError(Exception):
    """One line for the user: the service refused, or could not be reached."""


def parse_target(target: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClientError(f"--target: expected HOST:PORT, got {target!r}")
    return host.strip("[]"), int(port)


def call(target: str, method: str, request: Message) -> Any:
    """Calls Scheduler.<method> at target and returns the response message."""
    host, port = parse_target(target)

    async def invoke() -> Any:
        channel = Channel(host, port)
        try:
            return await getattr(SchedulerStub(channel), method)(request, timeout=TIMEOUT_S)
        finally:
            channel.close()

    try:
        return asyncio.run(invoke())
    except GRPCError as error:
        raise ClientError(f"{error.status.name}: {error.message}") from None
    except (OSError, TimeoutError) as error:
        raise ClientError(f"cannot reach the scheduler at {target}: {error}") from None


def watch(target: str, write: Callable[[str], None], terminal: bool) -> None:
    """Streams WatchDownloads until interrupted: progress bars on a terminal, plain lines otherwise."""
    host, port = parse_target(target)
    view = WatchView()
    drawn = 0

    async def follow() -> None:
        nonlocal drawn
        channel = Channel(host, port)
        try:
            async with SchedulerStub(channel).WatchDownloads.open() as stream:
                await stream.send_message(pb.WatchDownloadsRequest(), end=True)
                async for download in stream:
                    line = view.update(download, time.monotonic())
                    if not terminal:
                        if line:
                            write(line + "\n")
                        continue
                    # Redraw the block of bars in place; state changes scroll above it.
                    text = "\x1b[1A\x1b[2K" * drawn + (f"{line}\n" if line else "")
                    bars = view.screen()
                    write(text + "".join(f"{bar}\n" for bar in bars))
                    drawn = len(bars)
        finally:
            channel.close()

    try:
        asyncio.run(follow())
    except KeyboardInterrupt:
        return
    except GRPCError as error:
        raise ClientError(f"{error.status.name}: {error.message}") from None
    except (OSError, TimeoutError) as error:
        raise ClientError(f"cannot reach the scheduler at {target}: {error}") from None


def as_json(message: Message) -> str:
    return json.dumps(
        MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True),
        indent=2,
        ensure_ascii=False,
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; the last column is left unpadded."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def status_name(value: int) -> str:
    return pb.VideoStatus.Name(value).lower()


def approval_name(value: int) -> str:
    return pb.Approval.Name(value).lower()


def describe(response: Message) -> str:
    """The human-readable form of each response."""
    render: Callable[[Any], str] = _RENDERERS[type(response)]
    return render(response)


def _scheduled(r: pb.ScheduleCategoryResponse) -> str:
    what = "created category" if r.created else "category"
    sub = "subscribed" if r.subscribed else "already subscribed"
    return f"{what} {r.category_id} ({r.url}): {sub}"


def _categories(r: pb.ListCategoriesResponse) -> str:
    if not r.categories:
        return "no subscriptions"
    return table(
        ["ID", "ARCHIVED", "TOTAL", "FAILED", "SUBSCRIBERS", "BACKOFF", "LAST SYNCED", "URL"],
        [
            [
                c.id,
                c.archived_videos,
                c.total_videos,
                c.undownloadable_videos,
                c.subscribers,
                f"x{c.backoff_factor}",
                c.last_synced or "never",
                c.url,
            ]
            for c in r.categories
        ],
    )


def _events(r: pb.ListEventsResponse) -> str:
    if not r.events:
        return "no events"
    return table(
        ["TIME", "CATEGORY", "VIDEO", "MESSAGE"],
        [[e.time, e.category_id or "-", e.video_url or "-", e.message] for e in r.events],
    )


def _downloads(r: pb.ListDownloadsResponse) -> str:
    if not r.downloads:
        return "nothing queued or downloading"

    def progress(d: pb.Download) -> str:
        if not d.bytes_total:
            return f"{d.bytes_done} B" if d.bytes_done else "-"
        return f"{100 * d.bytes_done // d.bytes_total}% of {d.bytes_total} B"

    return table(
        ["VIDEO", "STATUS", "PROGRESS", "ATTEMPTS", "INSTANCE", "WEBSITE", "FOREIGN ID"],
        [
            [d.video_id, status_name(d.status), progress(d), d.attempts, d.instance, d.website, d.foreign_id]
            for d in r.downloads
        ],
    )


def _videos(r: pb.ListUnapprovedVideosResponse) -> str:
    if not r.videos:
        return "no videos wait for approval"
    return table(["VIDEO", "WEBSITE", "TITLE", "URL"], [[v.id, v.website, v.title, v.url] for v in r.videos])


def _video(r: pb.ApproveVideoResponse | pb.RejectVideoResponse) -> str:
    return f"video {r.video.id} ({r.video.url}): {approval_name(r.video.approval)}"


def _inference(r: pb.ListInferenceCategoriesResponse) -> str:
    if not r.inference_categories:
        return "no inference rules"
    return table(["ID", "TAG", "CATEGORY"], [[i.id, i.tag, i.category] for i in r.inference_categories])


_RENDERERS: dict[type, Callable[[Any], str]] = {
    pb.ScheduleCategoryResponse: _scheduled,
    pb.ListCategoriesResponse: _categories,
    pb.ListEventsResponse: _events,
    pb.UnsubscribeResponse: lambda r: f"unsubscribed; {r.remaining_subscribers} subscribers remain",
    pb.RetryFailedResponse: lambda r: f"{r.retried} failed videos put back to pending",
    pb.ListDownloadsResponse: _downloads,
    pb.ListUnapprovedVideosResponse: _videos,
    pb.ApproveVideoResponse: _video,
    pb.RejectVideoResponse: _video,
    pb.ListInferenceCategoriesResponse: _inference,
    pb.CancelDownloadResponse: lambda r: "cancelled" if r.was_running else "not running; nothing to cancel",
    pb.AddInferenceCategoryResponse: lambda r: (
        f"{'added' if r.created else 'updated'} rule {r.inference_category.id}: "
        f"{r.inference_category.tag} -> {r.inference_category.category}"
    ),
}
