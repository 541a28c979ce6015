"""Every Redis client the service makes, made here: one per server URL, made and closed
in the trio-asyncio loop (redis.asyncio is asyncio code), with the timeouts each use
wants. Redlock (redlock.py) and the site limits (sites/limiter.py) share one set; the
start's probes (serve/probes.py) make one for a PING."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import redis.asyncio
import trio_asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from scheduler.cleanup import CLEANUP_S, cleanup_scope

log = logging.getLogger(__name__)

# A dead server must answer "no" fast: a quorum decision (a lock) waits for every server.
CLIENT_TIMEOUT_S = 0.5


def client(url: str, timeout_s: float = CLIENT_TIMEOUT_S) -> redis.asyncio.Redis:
    """A client with short timeouts and no retries (made in asyncio code)."""
    return redis.asyncio.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0)
    )


@asynccontextmanager
async def redis_clients(urls: Sequence[str]) -> AsyncIterator[list[redis.asyncio.Redis]]:
    """One client per URL, for Trio code; closed (bounded) on the way out."""
    clients = await trio_asyncio.aio_as_trio(_connect)(urls)
    try:
        yield clients
    finally:
        with cleanup_scope() as closing:
            await trio_asyncio.aio_as_trio(_close)(clients)
        if closing.cancelled_caught:
            log.warning("the Redis clients did not close in %ss", CLEANUP_S)


async def _connect(urls: Sequence[str]) -> list[redis.asyncio.Redis]:
    return [client(url) for url in urls]


async def _close(clients: Sequence[redis.asyncio.Redis]) -> None:
    await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
