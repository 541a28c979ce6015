"""Whether Redis and the Video Service answer, and if not, why, in an operator's words
(PostgreSQL's probe is scheduler/db/probe.py): their clients' errors mapped, at this edge,
to ServerUnavailable (try again) or ServerRefused (only a setting mends it)."""

from __future__ import annotations

from urllib.parse import urlsplit

import redis.exceptions
import trio
import trio_asyncio

from scheduler import redis_clients
from scheduler.errors import ServerRefused, ServerUnavailable, network_problem
from scheduler.video_service.base import VideoService, VideoServiceError


def redis_where(url: str) -> str:
    """host:port of a Redis URL (its path for a Unix socket), without its password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    try:
        return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    except ValueError:
        return "(a URL that is not valid)"


def classify_redis(error: Exception, timeout_s: float) -> ServerUnavailable | ServerRefused:
    if isinstance(error, redis.exceptions.AuthenticationError):
        return ServerRefused(f"authentication failed: {error}")
    if isinstance(error, redis.exceptions.ResponseError) and str(error).startswith(("NOAUTH", "WRONGPASS")):
        return ServerRefused(f"authentication failed: {error}")
    if isinstance(error, redis.exceptions.TimeoutError):
        return ServerUnavailable(f"no answer within {timeout_s:g} s")
    problem = network_problem(error, timeout_s)
    return ServerUnavailable(problem or " ".join(str(error).split()) or type(error).__name__)


async def probe_redis(url: str, timeout_s: float) -> None:
    """One PING; raises ServerUnavailable or ServerRefused."""

    async def ping() -> None:
        pinging = redis_clients.client(url, timeout_s)
        try:
            await pinging.ping()
        finally:
            await pinging.aclose()

    try:
        with trio.fail_after(timeout_s + 1):  # the client's own timeouts should come first
            await trio_asyncio.aio_as_trio(ping)()
    except trio.TooSlowError:
        raise ServerUnavailable(f"no answer within {timeout_s:g} s") from None
    except Exception as error:
        raise classify_redis(error, timeout_s) from error


async def probe_redis_quorum(urls: tuple[str, ...], timeout_s: float) -> None:
    """A majority of the Redis servers answer (what Redlock needs), or ServerUnavailable
    naming those that do not; ServerRefused as soon as one refuses us."""
    failures: dict[str, Exception] = {}

    async def one(url: str) -> None:
        try:
            await probe_redis(url, timeout_s)
        except (ServerUnavailable, ServerRefused) as error:
            failures[url] = error

    async with trio.open_nursery() as nursery:
        for url in urls:
            nursery.start_soon(one, url)

    def named(url: str, error: Exception) -> str:
        return f"{redis_where(url)}: {error}" if len(urls) > 1 else str(error)

    for url, error in failures.items():
        if isinstance(error, ServerRefused):
            raise ServerRefused(named(url, error))
    if len(urls) - len(failures) < len(urls) // 2 + 1:
        raise ServerUnavailable("; ".join(named(url, error) for url, error in failures.items()))


async def probe_video_service(video_service: VideoService, timeout_s: float) -> None:
    """One existence check of a video no service holds; raises ServerUnavailable."""
    try:
        with trio.fail_after(timeout_s):
            await video_service.exists("doctor.invalid", "scheduler-probe")
    except trio.TooSlowError:
        raise ServerUnavailable(f"no answer within {timeout_s:g} s") from None
    except VideoServiceError as error:
        raise ServerUnavailable(network_problem(error, timeout_s) or str(error)) from error
