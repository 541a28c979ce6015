"""Redlock (redis.io's distributed-locks pattern) over redis.asyncio, called from Trio.

PostgreSQL leases already stop two workers of one database from claiming one video.
This is the cross-process lock on (website, foreign id) the product asks for, for
several deployments or tools that share Redis servers: a lock is held by a quorum of them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio
import trio
import trio_asyncio
from redis.exceptions import RedisError

from scheduler.cleanup import cleanup_scope
from scheduler.redis_clients import redis_clients

log = logging.getLogger(__name__)

KEY_PREFIX = "scheduler:lock:"

# Compare-and-delete, compare-and-pexpire: only the holder of the token touches the key.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


@dataclass(frozen=True)
class Lock:
    key: str  # as given to acquire(), without KEY_PREFIX
    token: str
    valid_until: float  # trio.current_time() deadline of validity


class Redlock:
    def __init__(self, clients: Sequence[redis.asyncio.Redis], ttl_s: float) -> None:
        if not clients or ttl_s <= 0:
            raise ValueError("Redlock needs at least one client and a positive ttl")
        self._clients = tuple(clients)
        self._release_scripts = [client.register_script(_RELEASE) for client in self._clients]
        self._extend_scripts = [client.register_script(_EXTEND) for client in self._clients]
        self._ttl_s = ttl_s
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._drift_s = ttl_s * 0.01 + 0.002
        self.quorum = len(self._clients) // 2 + 1
        # Whether enough servers answered the last call: a refused lock is then held
        # elsewhere, not unavailable.
        self.quorum_reachable = True

    @classmethod
    @asynccontextmanager
    async def open(cls, urls: Sequence[str], ttl_s: float) -> AsyncIterator[Redlock]:
        async with redis_clients(urls) as clients:
            yield cls(clients, ttl_s)

    async def acquire(self, key: str) -> Lock | None:
        """The lock, or None when a quorum of servers did not grant it in time."""
        name, token = KEY_PREFIX + key, secrets.token_hex(16)
        start = trio.current_time()
        try:
            granted = await trio_asyncio.aio_as_trio(self._on_all)(
                "acquire", lambda i: self._clients[i].set(name, token, nx=True, px=self._ttl_ms)
            )
        except BaseException:  # cancelled half-way: some servers may hold it
            await self._release(name, token)
            raise
        lock = self._if_quorum(key, token, start, granted)
        if lock is None:
            await self._release(name, token)
        return lock

    async def extend(self, lock: Lock) -> Lock | None:
        """The lock with a fresh ttl, or None: it is lost (and released where it is left)."""
        name = KEY_PREFIX + lock.key
        start = trio.current_time()
        extended = await trio_asyncio.aio_as_trio(self._on_all)(
            "extend", lambda i: self._extend_scripts[i](keys=[name], args=[lock.token, self._ttl_ms])
        )
        new = self._if_quorum(lock.key, lock.token, start, extended)
        if new is None:
            await self._release(name, lock.token)
        return new

    async def release(self, lock: Lock) -> None:
        """Deletes the key where it still holds this lock's token; errors are logged, not raised."""
        await self._release(KEY_PREFIX + lock.key, lock.token)

    def _if_quorum(self, key: str, token: str, start: float, votes: int) -> Lock | None:
        valid_until = start + self._ttl_s - self._drift_s
        if votes < self.quorum or valid_until <= trio.current_time():
            return None
        return Lock(key, token, valid_until)

    async def _release(self, name: str, token: str) -> None:
        # Shielded: releasing is what a cancelled holder does on its way out.
        with cleanup_scope():
            await trio_asyncio.aio_as_trio(self._on_all)(
                "release", lambda i: self._release_scripts[i](keys=[name], args=[token])
            )

    async def _on_all(self, what: str, call: Callable[[int], Awaitable[object]]) -> int:
        """asyncio: `call(i)` on every server at once; how many said yes (an error is a no)."""

        async def vote(i: int) -> bool | None:
            try:
                return bool(await call(i))
            except (RedisError, OSError) as error:
                log.warning("Redis lock server %r: %s failed: %r", self._clients[i], what, error)
                return None

        votes = await asyncio.gather(*(vote(i) for i in range(len(self._clients))))
        self.quorum_reachable = sum(v is not None for v in votes) >= self.quorum
        return sum(v is True for v in votes)
