"""`scheduler serve`: the task tree.

    trio_asyncio loop (opened by the caller)
    └─ run()
       ├─ resources, opened in order and closed in reverse, each close shielded
       │  and bounded: embedded PostgreSQL / Redis (when no URL is set), migrations,
       │  the asyncpg pool, the Redlock clients, the site limiter, the Video Service
       └─ nursery
          ├─ registration: this instance's heartbeat row (scheduler/instances.py)
          ├─ cookie keeper: the sites' cookies re-read when changed, expiry warned of
          ├─ a warning for each problem `scheduler doctor` would report (once, at start)
          ├─ api: grpclib server (scheduler.v1.Scheduler + health + reflection)
          └─ pipeline (scheduler/pipeline/pipeline.py): syncers, pollers, downloaders

Every long-lived task is started with `nursery.start`, so `run` reports ready only
once the port listens and the workers wait. `Running.stop` drains the pipeline (the
graceful path); cancelling `run` stops everything at once; either way, the leases
and locks it holds are given back.
"""

from __future__ import annotations

import functools
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio
import trio_asyncio
from grpclib.health.check import ServiceStatus

from scheduler import doctor, embedded, logs
from scheduler.api.server import serve_api
from scheduler.cookie_keeper import keep_cookies
from scheduler.cookies import CookieJars
from scheduler.db.migrate import migrate
from scheduler.db.store import Store
from scheduler.doctor import Servers
from scheduler.findings import Finding
from scheduler.instances import instance_id, keep_registered, registration
from scheduler.limiter import SiteLimiter
from scheduler.metrics import Metrics, serve_metrics
from scheduler.pipeline import ytdlp
from scheduler.pipeline.pipeline import Pipeline
from scheduler.redlock import Redlock
from scheduler.settings import Settings, open_to_anyone
from scheduler.video_service.open import open_video_service

log = logging.getLogger(__name__)

# How long closing one resource may take before we give up on it.
CLOSE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Running:
    """What `run` reports once it is ready."""

    port: int
    stop: Callable[[], None]  # graceful: stop claiming, let downloads finish within the grace
    stopped: trio.Event  # set once `run` has given everything back


async def run(
    settings: Settings, *, task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED
) -> None:
    """Runs the service until stopped or cancelled; reports `Running` once the port listens
    and the workers wait."""
    stopped = trio.Event()
    jars = CookieJars(settings.sites.cookies)  # the files were checked with the settings
    ytdlp.prepare(settings.downloader)  # before any thread uses yt-dlp
    try:
        async with (
            open_database(settings) as dsn,
            open_redis(settings) as redis_urls,
            open_store(dsn, settings) as store,
            Redlock.open(redis_urls, settings.lock.ttl_s) as redlock,
            SiteLimiter.open(redis_urls, settings.sites.limits, settings.lock.ttl_s) as limiter,
            open_video_service(settings.video_service) as video_service,
            trio.open_nursery() as nursery,
        ):
            instance = instance_id()
            logs.set_instance(instance)
            me = registration(instance, settings.downloader.workers)
            await nursery.start(keep_registered, store, me, settings.schedule.lease_s)
            accepting = ServiceStatus()  # grpc.health.v1: NOT_SERVING from the start of a drain
            accepting.set(True)
            metrics = Metrics()
            if jars.sites:
                await nursery.start(keep_cookies, jars, store, metrics)
            servers = Servers(trio_asyncio.aio_as_trio(store.ping), redis_urls, video_service)
            diagnose = functools.partial(doctor.diagnose, settings, jars, servers)
            # The servicer runs in asyncio (grpclib); the checks are Trio code.
            diagnose_aio = trio_asyncio.trio_as_aio(diagnose)
            port = await nursery.start(
                serve_api, store, dsn, settings, accepting, metrics, jars, diagnose_aio
            )
            if warning := open_to_anyone(settings.grpc):
                log.warning("%s", warning)
            log.info("serving gRPC on %s:%d", settings.grpc.host, port)
            if settings.metrics.port:
                metrics_port = await nursery.start(
                    serve_metrics,
                    metrics,
                    settings.grpc.host,
                    settings.metrics.port,
                    trio_asyncio.aio_as_trio(store.count_by_status),
                )
                log.info("serving metrics on http://%s:%d/metrics", settings.grpc.host, metrics_port)
            nursery.start_soon(_warn_of_problems, diagnose)
            pipeline = Pipeline(
                settings, store, dsn, redlock, limiter, video_service, metrics, instance, jars
            )
            await nursery.start(_run_then_cancel, pipeline, nursery.cancel_scope)

            def stop() -> None:
                accepting.set(False)
                pipeline.drain(settings.shutdown.grace_s)

            task_status.started(Running(port, stop, stopped))
    finally:
        stopped.set()


async def _warn_of_problems(diagnose: Callable[[], Awaitable[list[Finding]]]) -> None:
    """At start, a warning for each thing the service lacks (as `scheduler doctor` says it)."""
    try:
        findings = await diagnose()
    except Exception as error:  # only advice: the service runs on without it
        log.warning("the checks of `scheduler doctor` failed at start: %r", error)
        return
    for finding in findings:
        if not finding.ok:
            log.warning("%s", finding.line())


async def _run_then_cancel(
    pipeline: Pipeline, scope: trio.CancelScope, *, task_status: trio.TaskStatus[None]
) -> None:
    """The pipeline; once it has drained (a graceful stop), the API stops too."""
    await pipeline.run(task_status=task_status)
    scope.cancel()


async def serve_until_signalled(settings: Settings) -> None:
    """`run` until SIGINT or SIGTERM: the first one stops gracefully, a second at once."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            running: Running = await nursery.start(run, settings)
            nursery.start_soon(_stop_on_signals, signals, running, nursery.cancel_scope)
            await running.stopped.wait()
            nursery.cancel_scope.cancel()


async def _stop_on_signals(signals: AsyncIterator[int], running: Running, scope: trio.CancelScope) -> None:
    first = True
    async for signum in signals:
        name = signal.Signals(signum).name
        if first:
            log.info("received %s: stopping gracefully (again to stop at once)", name)
            running.stop()
            first = False
        else:
            log.info("received %s again: stopping now", name)
            scope.cancel()


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[str]:
    """Yields the database URL, starting an embedded server when none is configured,
    and applies the migrations unless disabled."""
    if settings.database.url:
        dsn = settings.database.url
        server = None
    else:
        directory = settings.data_dir / "postgres"
        log.info("starting embedded PostgreSQL in %s", directory)
        server = await trio.to_thread.run_sync(embedded.start_postgres, directory)
        dsn = server.url
    try:
        if settings.database.migrate_on_start:
            await trio_asyncio.aio_as_trio(migrate)(dsn)
        yield dsn
    finally:
        if server is not None:
            with trio.CancelScope(shield=True):
                log.info("stopping embedded PostgreSQL")
                await trio.to_thread.run_sync(server.stop)


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[tuple[str, ...]]:
    """Yields the Redis URLs, starting an embedded server when none is configured."""
    if settings.redis.urls:
        yield settings.redis.urls
        return
    directory = settings.data_dir / "redis"
    log.info("starting embedded Redis in %s", directory)
    server = await trio.to_thread.run_sync(embedded.start_redis, directory)
    try:
        yield (server.url,)
    finally:
        with trio.CancelScope(shield=True):
            log.info("stopping embedded Redis")
            await trio.to_thread.run_sync(server.stop)


@asynccontextmanager
async def open_store(dsn: str, settings: Settings) -> AsyncIterator[Store]:
    store = await trio_asyncio.aio_as_trio(Store.open)(
        dsn,
        min_size=settings.database.pool_min_size,
        max_size=settings.database.pool_max_size,
        statement_timeout_s=settings.database.statement_timeout_s,
    )
    try:
        yield store
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT_S) as closing:
            await trio_asyncio.aio_as_trio(store.close)()
        if closing.cancelled_caught:
            log.warning("the database pool did not close in %ss; terminating it", CLOSE_TIMEOUT_S)
            store.terminate()
