"""`scheduler serve`: the task tree.

    trio_asyncio loop (opened by the caller)
    └─ run()
       ├─ resources, opened in order and closed in reverse, each close shielded
       │  and bounded: embedded PostgreSQL / Redis (when no URL is set), migrations,
       │  the asyncpg pool
       └─ nursery
          └─ api: grpclib server (scheduler.v1.Scheduler + health + reflection)

Every long-lived task is started with `nursery.start`, so `run` reports ready only
once the port listens. Cancelling `run` is the one shutdown path.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio_asyncio

from scheduler import embedded
from scheduler.api.server import serve_api
from scheduler.db.migrate import migrate
from scheduler.db.store import Store
from scheduler.settings import Settings

log = logging.getLogger(__name__)

# How long closing one resource may take before we give up on it.
CLOSE_TIMEOUT_S = 5.0


async def run(settings: Settings, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Runs the service until cancelled; reports the gRPC port once it listens."""
    async with (
        open_database(settings) as dsn,
        open_redis(settings),
        open_store(dsn, settings) as store,
        trio.open_nursery() as nursery,
    ):
        port = await nursery.start(serve_api, store, settings)
        log.info("serving gRPC on %s:%d", settings.grpc.host, port)
        task_status.started(port)


async def serve_until_signalled(settings: Settings) -> None:
    """`run`, stopped by the first SIGINT or SIGTERM; returns normally (exit code 0)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(run, settings)
            async for signum in signals:
                log.info("received %s, stopping", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break


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
