"""Prometheus metrics: what the pipeline counts, and the endpoint that serves them.

Each service has a registry of its own (two services in one process, as in the tests, do
not share counters), with the process collectors Prometheus' default one has. The queue
depth comes from the database when scraped, at most every QUEUE_TTL_S.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import trio
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from scheduler.programs import release_age_days

log = logging.getLogger(__name__)

QUEUE_TTL_S = 10.0
REQUEST_TIMEOUT_S = 10.0
# Seconds: a claim or a lock takes milliseconds, a download minutes.
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SLOW = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        r = self.registry
        self.downloads = Counter(
            "scheduler_downloads",
            "Videos finished by a downloader, by outcome",
            ["website", "outcome"],
            registry=r,
        )
        self.notifications = Counter(
            "scheduler_notifications",
            "Digests of events for notification URLs, by kind and outcome (sent, retried, dropped)",
            ["kind", "outcome"],
            registry=r,
        )
        self.bytes_downloaded = Counter(
            "scheduler_downloaded_bytes", "Bytes of video downloaded", ["website"], registry=r
        )
        self.bytes_uploaded = Counter(
            "scheduler_uploaded_bytes", "Bytes of video handed to the Video Service", ["website"], registry=r
        )
        self.download_seconds = Histogram(
            "scheduler_download_seconds",
            "yt-dlp's download of one video",
            ["website"],
            buckets=_SLOW,
            registry=r,
        )
        self.upload_seconds = Histogram(
            "scheduler_upload_seconds",
            "The Video Service's upload of one video",
            ["website"],
            buckets=_SLOW,
            registry=r,
        )
        self.claim_seconds = Histogram(
            "scheduler_claim_seconds", "One claim statement of a poller", buckets=_FAST, registry=r
        )
        self.sync_seconds = Histogram(
            "scheduler_sync_seconds",
            "Listing and storing one category",
            ["website", "result"],
            buckets=_SLOW,
            registry=r,
        )
        self.lock_skips = Counter(
            "scheduler_lock_skips",
            "Videos skipped for now: the lock was held or unavailable",
            ["reason"],
            registry=r,
        )
        self.lease_losses = Counter(
            "scheduler_lease_losses", "Videos whose lease was lost mid-work", registry=r
        )
        self.retries = Counter(
            "scheduler_retries", "Failed attempts that will be retried", ["website"], registry=r
        )
        self.video_service_errors = Counter(
            "scheduler_video_service_errors", "Errors from the Video Service", registry=r
        )
        self.api_requests = Counter(
            "scheduler_api_requests", "RPCs answered, by method and status", ["method", "code"], registry=r
        )
        self.api_seconds = Histogram(
            "scheduler_api_request_seconds",
            "RPCs from request to status",
            ["method"],
            buckets=_FAST,
            registry=r,
        )
        self.site_breaker_open = Gauge(
            "scheduler_site_breaker_open",
            "1 while the site's circuit breaker is open or probing (it throttled us), as last seen here",
            ["site"],
            registry=r,
        )
        self.site_cookies_expiry = Gauge(
            "scheduler_site_cookies_expiry_seconds",
            "Seconds until the nearest expiry of the site's cookies (SCHEDULER_SITES__COOKIES); "
            "negative once expired, +Inf for session cookies",
            ["site"],
            registry=r,
        )
        self.ytdlp_release_age = Gauge(
            "scheduler_ytdlp_release_age_days",
            "Days since the release of the yt-dlp this instance runs (update past 60: sites change)",
            registry=r,
        )
        self.ytdlp_release_age.set_function(release_age_days)
        self.videos = Gauge(
            "scheduler_videos", "Videos by status (the queue), every instance's", ["status"], registry=r
        )
        self._queue_read_at = -QUEUE_TTL_S

    async def refresh_queue(self, count_by_status: Callable[[], Awaitable[dict[str, int]]]) -> None:
        """Reads the videos by status from the database, unless it did less than QUEUE_TTL_S ago."""
        if time.monotonic() - self._queue_read_at < QUEUE_TTL_S:
            return
        self._queue_read_at = time.monotonic()
        for status, count in (await count_by_status()).items():
            self.videos.labels(status).set(count)


async def serve_metrics(
    metrics: Metrics,
    host: str,
    port: int,
    count_by_status: Callable[[], Awaitable[dict[str, int]]],
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A plain HTTP/1.0 endpoint: any GET answers the metrics. Reports the bound port."""

    async def handle(stream: trio.SocketStream) -> None:
        with trio.move_on_after(REQUEST_TIMEOUT_S):
            try:
                request = await stream.receive_some(8192)
                if not request.startswith(b"GET "):
                    await stream.send_all(b"HTTP/1.0 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    return
                try:
                    await metrics.refresh_queue(count_by_status)
                except Exception as error:  # the database is down: serve the rest
                    log.warning("metrics: cannot count videos by status: %s", error)
                body = generate_latest(metrics.registry)
                head = f"HTTP/1.0 200 OK\r\nContent-Type: {CONTENT_TYPE_LATEST}\r\n"
                await stream.send_all(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            except trio.BrokenResourceError:
                pass  # the scraper went away
            finally:
                await stream.aclose()

    listeners = await trio.open_tcp_listeners(port, host=host)
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handle, listeners)
        task_status.started(listeners[0].socket.getsockname()[1])
