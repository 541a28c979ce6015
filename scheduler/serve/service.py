"""`scheduler serve`: resources opened in order, then the API and the workers (the task
tree: docs/architecture.md, "The task tree").

Every long-lived task is started with `nursery.start`, so `run` reports ready only
once the ports listen and the workers wait. A start that cannot succeed raises
StartupFailure: the one line `serve` ends with, and its exit code. `Running.stop`
drains the pipeline (the graceful path); cancelling `run` stops everything at once;
either way, the leases and locks it holds are given back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio
import trio_asyncio
from grpclib.health.check import ServiceStatus

from scheduler import embedded, logs, startup
from scheduler.api.security import tls_context
from scheduler.api.server import serve_api
from scheduler.cleanup import CLEANUP_S, cleanup_scope
from scheduler.db import probe
from scheduler.db.migrate import MigrationError, migrate
from scheduler.db.store import Store
from scheduler.errors import ServerRefused
from scheduler.findings import Finding
from scheduler.metrics import Metrics, serve_metrics
from scheduler.notify.notifier import keep_notifying
from scheduler.pipeline.pipeline import Pipeline
from scheduler.pipeline.ytdlp.pool import WorkerPool
from scheduler.redlock import Redlock
from scheduler.serve import doctor, probes
from scheduler.serve.doctor import Servers
from scheduler.serve.instances import instance_id, keep_registered, registration
from scheduler.settings import Settings, VideoServiceSettings, open_to_anyone, variable
from scheduler.sites.cookie_keeper import keep_cookies
from scheduler.sites.cookies import CookieJars
from scheduler.sites.limiter import SiteLimiter
from scheduler.startup import Patience, StartupFailure
from scheduler.video_service.base import VideoService
from scheduler.video_service.open import open_video_service

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Running:
    """What `run` reports once it is ready."""

    port: int
    stop: Callable[[], None]  # graceful: stop claiming, let downloads finish within the grace
    stopped: trio.Event  # set once `run` has given everything back


async def run(
    settings: Settings,
    stop_requested: trio.Event | None = None,
    *,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Runs the service until stopped or cancelled; reports `Running` once the ports
    listen and the workers wait. While it waits for its servers, `stop_requested` ends the
    wait (StopRequested)."""
    stopped = trio.Event()
    asyncio.get_running_loop().set_exception_handler(_log_asyncio_error)
    jars = CookieJars(settings.sites.cookies)  # the files were checked with the settings
    tls = _tls_context(settings)
    patience = Patience(settings.startup.wait_s, stop_requested)
    try:
        async with (
            open_database(settings, patience) as dsn,
            open_redis(settings, patience) as redis_urls,
            open_store(dsn, settings) as store,
            Redlock.open(redis_urls, settings.lock.ttl_s) as redlock,
            SiteLimiter.open(redis_urls, settings.sites.limits, settings.lock.ttl_s) as limiter,
            WorkerPool.open(settings.downloader) as ytdlp_workers,
            open_video_service(settings.video_service) as video_service,
            trio.open_nursery() as nursery,
        ):
            await wait_for_video_service(settings.video_service, video_service, patience)
            instance = instance_id()
            logs.set_instance(instance)
            me = registration(instance, settings.downloader.workers)
            db = store.for_trio(instance)
            await nursery.start(keep_registered, db, me, settings.schedule.lease_s)
            accepting = ServiceStatus()  # grpc.health.v1: NOT_SERVING from the start of a drain
            accepting.set(True)
            metrics = Metrics()
            if jars.sites:
                await nursery.start(keep_cookies, jars, db, metrics)
            if settings.notify.targets:
                await nursery.start(keep_notifying, db, settings.notify, metrics)
            servers = Servers(db.ping, redis_urls, video_service)
            diagnose = functools.partial(doctor.diagnose, settings, jars, servers, ytdlp_workers)
            # The servicer runs in asyncio (grpclib); the checks are Trio code.
            diagnose_aio = trio_asyncio.trio_as_aio(diagnose)
            format_problem = trio_asyncio.trio_as_aio(ytdlp_workers.format_problem)
            port = await nursery.start(
                serve_api, store, dsn, settings, tls, accepting, metrics, jars, diagnose_aio, format_problem
            )
            metrics_port = 0
            if settings.metrics.port:
                try:
                    metrics_port = await nursery.start(
                        serve_metrics,
                        metrics,
                        settings.grpc.host,
                        settings.metrics.port,
                        db.count_by_status,
                    )
                except OSError as error:
                    raise startup.cannot_listen(
                        error,
                        settings.grpc.host,
                        settings.metrics.port,
                        variable("grpc", "host"),
                        variable("metrics", "port"),
                    ) from error
            # Only now that everything it serves is bound.
            if warning := open_to_anyone(settings.grpc):
                log.warning("%s", warning)
            log.info("serving gRPC on %s:%d", settings.grpc.host, port)
            if metrics_port:
                log.info("serving metrics on http://%s:%d/metrics", settings.grpc.host, metrics_port)
            nursery.start_soon(_warn_of_problems, diagnose)
            pipeline = Pipeline(
                settings, db, dsn, redlock, limiter, video_service, ytdlp_workers, metrics, jars
            )
            await nursery.start(_run_then_cancel, pipeline, nursery.cancel_scope)

            def stop() -> None:
                accepting.set(False)
                pipeline.drain(settings.shutdown.grace_s)

            task_status.started(Running(port, stop, stopped))
    finally:
        stopped.set()


def _log_asyncio_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """An error no asyncio code awaited, such as the exception of a connection attempt that
    was cancelled half-way (the database driver's, when a stop cancels it): logged, as
    plain asyncio does. trio-asyncio's own handler raises it into the loop instead, which cancels
    everything and leaves the shielded give-backs waiting on a loop that is going away."""
    error = context.get("exception")
    message = context.get("message", "an error in the event loop")
    # A future nobody awaited any more: what a cancellation leaves behind, not news.
    level = logging.DEBUG if message.startswith("Future exception was never retrieved") else logging.WARNING
    log.log(
        level,
        "asyncio: %s%s",
        message,
        f": {error!r}" if error is not None else "",
        exc_info=error if log.isEnabledFor(logging.DEBUG) else None,
    )


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
    """`run` until SIGINT or SIGTERM: the first one stops gracefully, a second at once. A
    first one while it starts stops it as soon as it has started, or at once while it
    waits for its servers. A start that fails raises StartupFailure."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            stopper = _Stopper(nursery.cancel_scope)
            nursery.start_soon(stopper.follow, signals)
            try:
                running: Running = await nursery.start(run, settings, stopper.requested)
            except Exception as error:
                if startup.find(error, startup.StopRequested):
                    nursery.cancel_scope.cancel()
                    return
                raise startup.as_failure(error) from error
            stopper.started(running)
            await running.stopped.wait()
            nursery.cancel_scope.cancel()


@dataclass
class _Stopper:
    """What a signal does: the first asks `run` to stop gracefully (once it has started),
    the next stops everything at once."""

    scope: trio.CancelScope
    requested: trio.Event = field(default_factory=trio.Event)
    running: Running | None = None

    def started(self, running: Running) -> None:
        self.running = running
        if self.requested.is_set():
            running.stop()

    async def follow(self, signals: AsyncIterator[int]) -> None:
        async for signum in signals:
            name = signal.Signals(signum).name
            if self.requested.is_set():
                log.info("received %s again: stopping now", name)
                self.scope.cancel()
                continue
            self.requested.set()
            if self.running is None:
                log.info("received %s while starting: stopping (again to stop at once)", name)
            else:
                log.info("received %s: stopping gracefully (again to stop at once)", name)
                self.running.stop()


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    try:
        return tls_context(settings.grpc)
    except (OSError, ssl.SSLError) as error:
        names = ", ".join(variable("grpc", name) for name in ("tls_cert", "tls_key", "tls_client_ca"))
        raise StartupFailure(
            f"cannot load the TLS certificate, key or client CA: {error} ({names})", startup.EXIT_SETTING
        ) from error


def _database(dsn: str) -> startup.Server:
    return startup.Server(probe.where(dsn), variable("database", "url"))


def _database_failure(dsn: str, error: Exception) -> StartupFailure:
    """The database failed after it answered the start's probe: the same one line."""
    server, problem = _database(dsn), probe.classify(error)
    code = startup.EXIT_SETTING if isinstance(problem, ServerRefused) else startup.EXIT_UNAVAILABLE
    return StartupFailure(f"{server.what}: {problem} ({server.setting})", code)


@asynccontextmanager
async def open_database(settings: Settings, patience: Patience) -> AsyncIterator[str]:
    """Yields the database URL, starting an embedded server when none is configured (else
    waiting for it to answer), and applies the migrations unless disabled."""
    if settings.database.url:
        dsn = settings.database.url
        server = None
        await startup.wait_for(_database(dsn), functools.partial(_aio_probe, dsn), patience)
    else:
        directory = settings.data_dir / "postgres"
        log.info("starting embedded PostgreSQL in %s", directory)
        server = await trio.to_thread.run_sync(embedded.start_postgres, directory)
        dsn = server.url
    try:
        if settings.database.migrate_on_start:
            try:
                await trio_asyncio.aio_as_trio(migrate)(dsn)
            except MigrationError as error:
                raise StartupFailure(
                    f"{error} (fix it, then `scheduler migrate`)", startup.EXIT_MIGRATION
                ) from error
            except Exception as error:
                raise _database_failure(dsn, error) from error
        yield dsn
    finally:
        if server is not None:
            with trio.CancelScope(shield=True):  # unbounded: a thread is waited for anyway
                log.info("stopping embedded PostgreSQL")
                await trio.to_thread.run_sync(server.stop)


async def _aio_probe(dsn: str, timeout_s: float) -> None:
    await trio_asyncio.aio_as_trio(probe.probe)(dsn, timeout_s)


@asynccontextmanager
async def open_redis(settings: Settings, patience: Patience) -> AsyncIterator[tuple[str, ...]]:
    """Yields the Redis URLs, starting an embedded server when none is configured, else
    waiting for a quorum of them to answer."""
    if urls := settings.redis.urls:
        where = ", ".join(probes.redis_where(url) for url in urls)
        what = f"Redis at {where}" if len(urls) == 1 else f"Redis ({len(urls) // 2 + 1} of {where})"
        quorum = startup.Server(what, variable("redis", "urls"))
        await startup.wait_for(quorum, functools.partial(probes.probe_redis_quorum, urls), patience)
        yield urls
        return
    directory = settings.data_dir / "redis"
    log.info("starting embedded Redis in %s", directory)
    server = await trio.to_thread.run_sync(embedded.start_redis, directory)
    try:
        yield (server.url,)
    finally:
        with trio.CancelScope(shield=True):  # unbounded: a thread is waited for anyway
            log.info("stopping embedded Redis")
            await trio.to_thread.run_sync(server.stop)


@asynccontextmanager
async def open_store(dsn: str, settings: Settings) -> AsyncIterator[Store]:
    try:
        store = await trio_asyncio.aio_as_trio(Store.open)(
            dsn,
            min_size=settings.database.pool_min_size,
            max_size=settings.database.pool_max_size,
            statement_timeout_s=settings.database.statement_timeout_s,
        )
    except Exception as error:
        raise _database_failure(dsn, error) from error
    try:
        yield store
    finally:
        with cleanup_scope() as closing:
            await trio_asyncio.aio_as_trio(store.close)()
        if closing.cancelled_caught:
            log.warning("the database pool did not close in %ss; terminating it", CLEANUP_S)
            store.terminate()


async def wait_for_video_service(
    settings: VideoServiceSettings, video_service: VideoService, patience: Patience
) -> None:
    """A Video Service across the network answers before the service starts (a directory
    was made when it opened)."""
    if settings.kind == "horahora":
        where, setting = settings.address, variable("video_service", "address")
    elif settings.kind == "http":
        where, setting = settings.url, variable("video_service", "url")
    else:
        return
    server = startup.Server(f"the {settings.kind} Video Service at {where}", setting)
    await startup.wait_for(server, functools.partial(probes.probe_video_service, video_service), patience)
