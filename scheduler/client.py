"""The client commands: call a running service over gRPC and print what it answered.

A one-shot client has no task tree to speak of, so it runs grpclib on plain asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

from scheduler.findings import Finding
from scheduler.v1 import scheduler_pb2 as pb
from scheduler.v1.scheduler_grpc import SchedulerStub
from scheduler.watch_view import WatchView

TIMEOUT_S = 10.0
# Where a client on this host reaches a service listening on every interface.
_THIS_HOST = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class ClientError(Exception):
    """One line for the user: the service refused, or could not be reached."""


def local_target(host: str, port: int) -> str:
    """HOST:PORT of a service on this host that listens on host:port."""
    host = _THIS_HOST.get(host, host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_target(target: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClientError(f"--target: expected HOST:PORT, got {target!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Connection:
    """How to reach the service: where, with which token, over TLS or not."""

    target: str
    token: str = field(default="", repr=False)
    ca: Path | None = None  # trust this CA (or this certificate): speaks TLS
    cert: Path | None = None  # with key: a client certificate, for mutual TLS
    key: Path | None = None
    timeout_s: float = TIMEOUT_S  # for an answer, reaching the service included

    def channel(self) -> Channel:
        host, port = parse_target(self.target)
        context = None
        if self.ca is not None:
            context = ssl.create_default_context(cafile=self.ca)
            # The service's own certificate (its TLS_CERT) is trusted as it is, without its
            # issuer; the host name is checked all the same.
            context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
            context.set_alpn_protocols(["h2"])
            if self.cert is not None:
                context.load_cert_chain(self.cert, self.key)
        return Channel(host, port, ssl=context)

    @property
    def metadata(self) -> dict[str, str] | None:
        return {"authorization": f"Bearer {self.token}"} if self.token else None


def call(connection: Connection, method: str, request: Message) -> Any:
    """Calls Scheduler.<method> and returns the response message."""

    async def invoke() -> Any:
        channel = connection.channel()
        try:
            stub_method = getattr(SchedulerStub(channel), method)
            return await stub_method(request, timeout=connection.timeout_s, metadata=connection.metadata)
        finally:
            channel.close()

    with _client_errors(connection):
        return asyncio.run(invoke())


def health(connection: Connection) -> str:
    """The service's overall status from grpc.health.v1 (SERVING, NOT_SERVING, UNKNOWN):
    SERVING only while it is up, not draining, and its database answers."""

    async def check() -> str:
        channel = connection.channel()
        try:
            response = await HealthStub(channel).Check(
                HealthCheckRequest(service=""), timeout=connection.timeout_s, metadata=connection.metadata
            )
            return str(HealthCheckResponse.ServingStatus.Name(response.status))
        finally:
            channel.close()

    with _client_errors(connection):
        return asyncio.run(check())


@contextmanager
def _client_errors(connection: Connection) -> Iterator[None]:
    try:
        yield
    except GRPCError as error:
        raise ClientError(f"{error.status.name}: {error.message}") from None
    except (OSError, TimeoutError) as error:
        why = unreachable(error, connection.timeout_s)
        raise ClientError(f"cannot reach the service at {connection.target} ({why})") from None


def unreachable(error: OSError | TimeoutError, timeout_s: float) -> str:
    """Why the service could not be reached, in a few words."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(error, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(error, ssl.SSLError):
        return f"TLS: {error.reason or error}"
    return error.strerror or str(error) or type(error).__name__


def watch(connection: Connection, write: Callable[[str], None], terminal: bool) -> None:
    """Streams WatchDownloads until interrupted: progress bars on a terminal, plain lines otherwise."""
    view = WatchView()
    drawn = 0

    async def follow() -> None:
        nonlocal drawn
        channel = connection.channel()
        try:
            async with SchedulerStub(channel).WatchDownloads.open(metadata=connection.metadata) as stream:
                # Reaching the service is bounded; the stream then runs until interrupted.
                await asyncio.wait_for(
                    stream.send_message(pb.WatchDownloadsRequest(), end=True), connection.timeout_s
                )
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

    with contextlib.suppress(KeyboardInterrupt), _client_errors(connection):
        asyncio.run(follow())


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


def instance_state_name(value: int) -> str:
    """alive, dead or stopped; "" for an instance that never registered."""
    return "" if value == pb.INSTANCE_STATE_UNSPECIFIED else pb.InstanceState.Name(value).lower()


def age(moment: str, now: str) -> str:
    """How long before `now` an RFC 3339 `moment` was, roughly: "42s ago", "3h05m ago"."""
    seconds = max(0, int((datetime.fromisoformat(now) - datetime.fromisoformat(moment)).total_seconds()))
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    if days:
        return f"{days}d{hour:02d}h ago"
    if hours:
        return f"{hours}h{minute:02d}m ago"
    return f"{minutes}m{second:02d}s ago" if minutes else f"{second}s ago"


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

    def instance(d: pb.Download) -> str:
        state = instance_state_name(d.instance_state)
        return f"{d.instance} ({state})" if state and state != "alive" else d.instance

    return table(
        ["VIDEO", "STATUS", "PROGRESS", "ATTEMPTS", "INSTANCE", "WEBSITE", "FOREIGN ID", "CATEGORY"],
        [
            [
                d.video_id,
                status_name(d.status),
                progress(d),
                d.attempts,
                instance(d),
                d.website,
                d.foreign_id,
                d.category,
            ]
            for d in r.downloads
        ],
    )


def _stats(r: pb.GetStatsResponse) -> str:
    def counts(c: pb.VideoCounts, name: str) -> list[object]:
        oldest = age(c.oldest_pending, r.as_of) if c.oldest_pending else "-"
        return [name, c.pending, c.queued, c.downloading, c.uploading, c.done, c.failed, oldest]

    videos = table(
        ["WEBSITE", "PENDING", "QUEUED", "DOWNLOADING", "UPLOADING", "DONE", "FAILED", "OLDEST PENDING"],
        [*(counts(w, w.website) for w in r.websites), counts(r.total, "all")],
    )
    instances = (
        table(
            ["INSTANCE", "STATE", "LAST HEARTBEAT", "DOWNLOADS", "LISTINGS", "WORKERS", "VERSION", "STARTED"],
            [
                [
                    i.id,
                    instance_state_name(i.state),
                    age(i.last_heartbeat, r.as_of),
                    i.downloads,
                    i.listings,
                    i.workers,
                    i.version,
                    i.started,
                ]
                for i in r.instances
            ],
        )
        if r.instances
        else "no instance registered"
    )
    return f"{r.categories} categories subscribed, as of {r.as_of}\n\n{videos}\n\n{instances}"


def _videos(r: pb.ListUnapprovedVideosResponse) -> str:
    if not r.videos:
        return "no videos wait for approval"
    return table(
        ["VIDEO", "WEBSITE", "CATEGORY", "TITLE", "URL"],
        [[v.id, v.website, v.category, v.title, v.url] for v in r.videos],
    )


def _video(r: pb.ApproveVideoResponse | pb.RejectVideoResponse) -> str:
    return f"video {r.video.id} ({r.video.url}): {approval_name(r.video.approval)}"


def _inference(r: pb.ListInferenceCategoriesResponse) -> str:
    if not r.inference_categories:
        return "no inference rules"
    return table(["ID", "TAG", "CATEGORY"], [[i.id, i.tag, i.category] for i in r.inference_categories])


def _sites(r: pb.ListSitesResponse) -> str:
    def breaker(s: pb.SiteState) -> list[object]:
        state = pb.BreakerState.Name(s.breaker).lower()
        if s.breaker == pb.CLOSED:
            return [state, "-", "-"]
        probe = f"{'lapses' if s.breaker == pb.PROBING else 'at'} {s.probe_at}"
        return [f"{state} x{s.openings}", s.reason, probe]

    def cookies(s: pb.SiteState) -> str:
        if not s.cookies_file:
            return "-"
        return f"until {s.cookies_expire_at}" if s.cookies_expire_at else "session"

    rows = [[s.site, s.downloads, s.listings, f"{s.interval_s:g}s", *breaker(s), cookies(s)] for s in r.sites]
    lines = table(
        ["SITE", "DOWNLOADS", "LISTINGS", "INTERVAL", "BREAKER", "REASON", "PROBE", "COOKIES"], rows
    )
    return "\n".join([lines, *(f"! {s.cookies_problem}" for s in r.sites if s.cookies_problem)])


def _diagnosis(r: pb.DiagnoseResponse) -> str:
    """One line per finding: what was found, or the problem and what to do."""
    lines = [Finding(f.check, f.ok, f.detail, f.fix).line() for f in r.findings]
    problems = sum(not f.ok for f in r.findings)
    lines.append("nothing is wrong" if r.healthy else f"{problems} problem{'s' * (problems != 1)}")
    return "\n".join(lines)


def _reset(r: pb.ResetSiteResponse) -> str:
    return f"site {r.site}: breaker closed" if r.was_open else f"site {r.site}: breaker was not open"


_RENDERERS: dict[type, Callable[[Any], str]] = {
    pb.ScheduleCategoryResponse: _scheduled,
    pb.ListCategoriesResponse: _categories,
    pb.ListEventsResponse: _events,
    pb.UnsubscribeResponse: lambda r: f"unsubscribed; {r.remaining_subscribers} subscribers remain",
    pb.RetryFailedResponse: lambda r: f"{r.retried} failed videos put back to pending",
    pb.GetStatsResponse: _stats,
    pb.ListSitesResponse: _sites,
    pb.ResetSiteResponse: _reset,
    pb.DiagnoseResponse: _diagnosis,
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
