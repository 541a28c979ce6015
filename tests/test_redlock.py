"""Redlock against real Redis servers: the session's one, and three embedded ones for quorums."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
import trio
import trio_asyncio

from scheduler.embedded import EmbeddedRedis, start_redis
from scheduler.redlock import KEY_PREFIX, Lock, Redlock

TTL_S = 10.0


@pytest.fixture
def three_servers(tmp_path: Path) -> Iterator[list[EmbeddedRedis]]:
    servers: list[EmbeddedRedis] = []
    try:
        for i in range(3):
            servers.append(start_redis(tmp_path / f"r{i}"))
        yield servers
    finally:
        for server in servers:
            server.stop()


def new_key() -> str:
    return f"test:{uuid.uuid4().hex}"


async def command(url: str, *args: Any) -> Any:
    """One Redis command on a client of its own, to look at what the lock left on a server."""

    async def run() -> Any:
        client = redis.asyncio.from_url(url)
        try:
            return await client.execute_command(*args)
        finally:
            await client.aclose()

    return await trio_asyncio.aio_as_trio(run)()


async def stored_token(url: str, key: str) -> bytes | None:
    token: bytes | None = await command(url, "GET", KEY_PREFIX + key)
    return token


async def stop(server: EmbeddedRedis) -> None:
    await trio.to_thread.run_sync(server.stop)


async def test_a_held_key_cannot_be_acquired_again(redis_url: str) -> None:
    key = new_key()
    async with Redlock.open([redis_url], ttl_s=TTL_S) as redlock:
        lock = await redlock.acquire(key)
        assert lock is not None
        assert lock.key == key
        assert await redlock.acquire(key) is None
        assert await stored_token(redis_url, key) == lock.token.encode()


async def test_different_keys_are_independent(redis_url: str) -> None:
    async with Redlock.open([redis_url], ttl_s=TTL_S) as redlock:
        first = await redlock.acquire(new_key())
        second = await redlock.acquire(new_key())
        assert first is not None
        assert second is not None
        assert first.token != second.token


async def test_release_lets_the_key_be_acquired_again(redis_url: str) -> None:
    key = new_key()
    async with Redlock.open([redis_url], ttl_s=TTL_S) as redlock:
        lock = await redlock.acquire(key)
        assert lock is not None
        await redlock.release(lock)
        assert await stored_token(redis_url, key) is None
        again = await redlock.acquire(key)
        assert again is not None
        assert again.token != lock.token


async def test_a_wrong_token_neither_releases_nor_extends(redis_url: str) -> None:
    key = new_key()
    async with Redlock.open([redis_url], ttl_s=TTL_S) as redlock:
        lock = await redlock.acquire(key)
        assert lock is not None
        impostor = Lock(key, "not-the-token", lock.valid_until)
        await command(redis_url, "PEXPIRE", KEY_PREFIX + key, 5000)

        assert await redlock.extend(impostor) is None
        await redlock.release(impostor)

        assert await stored_token(redis_url, key) == lock.token.encode()
        assert await command(redis_url, "PTTL", KEY_PREFIX + key) <= 5000
        assert await redlock.acquire(key) is None
        assert await redlock.extend(lock) is not None


async def test_extend_refreshes_the_ttl(redis_url: str) -> None:
    key = new_key()
    async with Redlock.open([redis_url], ttl_s=TTL_S) as redlock:
        lock = await redlock.acquire(key)
        assert lock is not None
        await command(redis_url, "PEXPIRE", KEY_PREFIX + key, 1000)

        extended = await redlock.extend(lock)

        assert extended is not None
        assert extended.token == lock.token
        assert extended.valid_until > lock.valid_until
        assert await command(redis_url, "PTTL", KEY_PREFIX + key) > 9000


async def test_the_lock_expires_by_itself(redis_url: str) -> None:
    key = new_key()
    async with Redlock.open([redis_url], ttl_s=0.3) as redlock:
        lock = await redlock.acquire(key)
        assert lock is not None
        assert lock.valid_until <= trio.current_time() + 0.3
        await trio.sleep(0.4)  # Redis expires keys on its own, real clock
        assert await redlock.extend(lock) is None
        assert await redlock.acquire(key) is not None


async def test_a_quorum_of_two_out_of_three_holds_the_lock(three_servers: list[EmbeddedRedis]) -> None:
    key = new_key()
    urls = [server.url for server in three_servers]
    async with Redlock.open(urls, ttl_s=TTL_S) as redlock:
        assert redlock.quorum == 2
        warm_up = await redlock.acquire(new_key())  # pooled connections, which the stop breaks
        assert warm_up is not None
        await stop(three_servers[0])

        lock = await redlock.acquire(key)

        assert lock is not None
        for url in urls[1:]:
            assert await stored_token(url, key) == lock.token.encode()
        assert await redlock.acquire(key) is None
        assert await redlock.extend(lock) is not None
        await redlock.release(lock)
        for url in urls[1:]:
            assert await stored_token(url, key) is None


async def test_one_server_out_of_three_is_no_quorum(three_servers: list[EmbeddedRedis]) -> None:
    key = new_key()
    urls = [server.url for server in three_servers]
    await stop(three_servers[0])
    await stop(three_servers[1])
    async with Redlock.open(urls, ttl_s=TTL_S) as redlock:
        with trio.fail_after(3):  # no retries, short timeouts: the answer comes fast
            assert await redlock.acquire(key) is None
        assert await stored_token(urls[2], key) is None


async def test_a_minority_left_by_someone_else_blocks_no_quorum(three_servers: list[EmbeddedRedis]) -> None:
    key = new_key()
    urls = [server.url for server in three_servers]
    await command(urls[0], "SET", KEY_PREFIX + key, "someone-else", "PX", 60_000)
    async with Redlock.open(urls, ttl_s=TTL_S) as redlock:
        lock = await redlock.acquire(key)
        assert lock is not None
        assert await stored_token(urls[0], key) == b"someone-else"
        await redlock.release(lock)
        assert await stored_token(urls[0], key) == b"someone-else"
        assert await stored_token(urls[1], key) is None


async def test_a_majority_held_by_someone_else_is_not_acquired(three_servers: list[EmbeddedRedis]) -> None:
    key = new_key()
    urls = [server.url for server in three_servers]
    for url in urls[:2]:
        await command(url, "SET", KEY_PREFIX + key, "someone-else", "PX", 60_000)
    async with Redlock.open(urls, ttl_s=TTL_S) as redlock:
        assert await redlock.acquire(key) is None
        assert await stored_token(urls[2], key) is None  # the one granted vote was given back


async def test_no_server_is_no_lock_not_an_error(tmp_path: Path) -> None:
    server = await trio.to_thread.run_sync(start_redis, tmp_path / "gone")
    await stop(server)
    async with Redlock.open([server.url], ttl_s=TTL_S) as redlock:
        with trio.fail_after(3):
            assert await redlock.acquire(new_key()) is None
