"""Runs the grpclib server inside Trio (through trio-asyncio) as a `nursery.start` task."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable

import trio
import trio_asyncio
from grpclib.health.check import ServiceCheck, ServiceStatus
from grpclib.health.service import Health
from grpclib.reflection.service import ServerReflection
from grpclib.server import Server

from scheduler.api import observe, security
from scheduler.api.horahora import HorahoraScheduler
from scheduler.api.servicer import SchedulerService
from scheduler.api.watch import VideoChanges
from scheduler.cleanup import CLEANUP_S
from scheduler.db.store import Store
from scheduler.findings import Finding
from scheduler.metrics import Metrics
from scheduler.settings import Settings, variable
from scheduler.sites.cookies import CookieJars
from scheduler.startup import cannot_listen

log = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket made with IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted
    connections only when the protocol says TCP, and without it every small response
    waits for Nagle's algorithm and a delayed ACK (measured: ~45 ms per call, not ~3)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


# grpc.health.v1 asks the database at most this often (a probe every few seconds costs one
# `SELECT 1` per interval, whatever the number of probes), and gives it this long to answer.
HEALTH_CHECK_TTL_S = 5.0
HEALTH_CHECK_TIMEOUT_S = 2.0


async def serve_api(
    store: Store,
    dsn: str,
    settings: Settings,
    tls: ssl.SSLContext | None,
    accepting: ServiceStatus,
    metrics: Metrics,
    cookies: CookieJars,
    diagnose: Callable[[], Awaitable[list[Finding]]],
    format_problem: Callable[[str], Awaitable[str]],
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serves until cancelled; reports the bound port once it listens. The health service
    says SERVING while `accepting` is set (not draining) and the database answers."""
    changes = VideoChanges(dsn, settings.grpc.max_watchers)
    scheduler = SchedulerService(store, settings.sites, changes, cookies, diagnose, format_problem)
    horahora = HorahoraScheduler(store, settings.sites.allowed)  # Horahora's API, beside ours
    database = ServiceCheck(store.ping, check_ttl=HEALTH_CHECK_TTL_S, check_timeout=HEALTH_CHECK_TIMEOUT_S)
    checks = [accepting, database]
    services = ServerReflection.extend([scheduler, horahora, Health({scheduler: checks, horahora: checks})])
    server = Server(services)
    observe.install(server, metrics)  # first: it counts what security refuses too
    security.install(server, settings.grpc)
    try:
        sock = bind(settings.grpc.host, settings.grpc.port)
    except OSError as error:
        raise cannot_listen(
            error, settings.grpc.host, settings.grpc.port, variable("grpc", "host"), variable("grpc", "port")
        ) from error
    await trio_asyncio.aio_as_trio(server.start)(sock=sock, ssl=tls)
    try:
        task_status.started(sock.getsockname()[1])
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):  # bounded inside, in asyncio (CLEANUP_S each)
            await trio_asyncio.aio_as_trio(_close)(server, changes)


async def _close(server: Server, changes: VideoChanges) -> None:
    server.close()
    try:  # grpclib's wait_closed() can hang on idle client connections (grpclib #107)
        await asyncio.wait_for(server.wait_closed(), CLEANUP_S)
    except TimeoutError:
        log.warning("gRPC connections still open after %ss; closing anyway", CLEANUP_S)
    try:
        await asyncio.wait_for(changes.close(), CLEANUP_S)
    except (TimeoutError, OSError) as error:
        log.warning("closing the WatchDownloads connection failed: %r", error)
