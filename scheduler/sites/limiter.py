"""Per-site limits across every instance (SCHEDULER_SITES__LIMITS), kept in Redis.

Two mechanisms, each one round trip (a Lua script, with Redis' own clock so instances'
clocks need not agree):

- a counting semaphore per site and kind (downloads, listings): a sorted set of holders
  scored by when each expires. A holder renews its place while it works (`keep_alive`);
  a crashed instance's places lapse after `holder_ttl_s`. Taking a place never waits: a
  refusal says when to look again, and the caller gives the work back meanwhile.
- a start gate per site: the least interval between two starts (downloads and listings
  together). `wait_turn` waits for it; it is taken just before the request goes out.

The limits live on the first Redis server that answers (SCHEDULER_REDIS__URLS, in
order). A site is politeness, not safety: if that server is lost, the next one starts
counting afresh, and the limits may be exceeded for one holder TTL.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio
import trio
import trio_asyncio
from redis.exceptions import RedisError

from scheduler.cleanup import cleanup_scope
from scheduler.redis_clients import redis_clients
from scheduler.sites.limits import SiteLimits

log = logging.getLogger(__name__)

Kind = Literal["downloads", "listings"]
KEY_PREFIX = "scheduler:site:"
# A full site is looked at again after this long (sooner when a place here frees).
FULL_RECHECK_S = 2.0
# No limiter server answers: the work waits this long, then tries again.
UNAVAILABLE_RECHECK_S = 5.0

# KEYS: a site's holders per place asked for; ARGV: ttl (ms), then a holder and its site's
# limit per key. Returns 1 (a place taken, or held already) or 0 per key, in order.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local taken = {}
for i, key in ipairs(KEYS) do
    local holder, limit = ARGV[2 * i], tonumber(ARGV[2 * i + 1])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if redis.call('ZSCORE', key, holder) or redis.call('ZCARD', key) < limit then
        redis.call('ZADD', key, now + ttl, holder)
        redis.call('PEXPIRE', key, ttl)
        taken[i] = 1
    else
        taken[i] = 0
    end
end
return taken
"""
# KEYS: holder sets; ARGV[1]: ttl (ms); ARGV[2..]: one holder per key. Renewed (or put
# back, should the place have lapsed: the work is still running).
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, now + tonumber(ARGV[1]), ARGV[i + 1])
    redis.call('PEXPIRE', key, ARGV[1])
end
return #KEYS
"""
_RELEASE = "return redis.call('ZREM', KEYS[1], ARGV[1])"
# KEYS[1]: the site's next allowed start. ARGV[1]: the interval (ms). 0: go now (the next
# start is pushed back by the interval); otherwise the milliseconds to wait.
_TURN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local next_start = tonumber(redis.call('GET', KEYS[1]) or '0')
if next_start > now then return next_start - now end
local interval = tonumber(ARGV[1])
if interval > 0 then redis.call('SET', KEYS[1], now + interval, 'PX', interval) end
return 0
"""


@dataclass(frozen=True)
class Refusal:
    """No place now: give the work back until `retry_after_s` from now."""

    site: str  # the limit's key (SiteLimits.site_of)
    reason: str
    retry_after_s: float


class SiteLimiter:
    def __init__(
        self, clients: Sequence[redis.asyncio.Redis], limits: SiteLimits, holder_ttl_s: float
    ) -> None:
        self._clients = tuple(clients)
        scripts = {"acquire": _ACQUIRE, "renew": _RENEW, "release": _RELEASE, "turn": _TURN}
        self._scripts = [{name: c.register_script(s) for name, s in scripts.items()} for c in self._clients]
        self.limits = limits
        self._ttl_ms = max(1, round(holder_ttl_s * 1000))
        self._renew_every_s = holder_ttl_s / 3
        self._held: dict[tuple[Kind, str, str], None] = {}  # (kind, site, holder), in order taken

    @classmethod
    @asynccontextmanager
    async def open(
        cls, urls: Sequence[str], limits: SiteLimits, holder_ttl_s: float
    ) -> AsyncIterator[SiteLimiter]:
        async with redis_clients(urls) as clients:
            yield cls(clients, limits, holder_ttl_s)

    async def acquire(self, kind: Kind, wanted: list[tuple[str, str]]) -> list[Refusal | None]:
        """Places for (website, holder) pairs (a holder: "<instance>:video:12"), in one round
        trip; for each, None when taken, else why not and when to look again."""
        if not wanted:
            return []
        sites = [self.limits.site_of(website) for website, _ in wanted]
        limits = [getattr(self.limits.limit_of(site), kind) for site in sites]
        args: list[Any] = [self._ttl_ms]
        for (_, holder), limit in zip(wanted, limits, strict=True):
            args += [holder, limit]
        taken = await self._call("acquire", [_key(site, kind) for site in sites], args)
        if taken is None:
            return [
                Refusal(site, "the limiter's Redis is unavailable", UNAVAILABLE_RECHECK_S) for site in sites
            ]
        refusals: list[Refusal | None] = []
        for (_, holder), site, limit, got in zip(wanted, sites, limits, taken, strict=True):
            if got:
                self._held[(kind, site, holder)] = None
                refusals.append(None)
            else:
                refusals.append(Refusal(site, f"{limit} {kind} at once", FULL_RECHECK_S))
        return refusals

    async def release(self, kind: Kind, website: str, holder: str) -> None:
        """Gives the place back; shielded and bounded (a lapse frees it otherwise)."""
        site = self.limits.site_of(website)
        self._held.pop((kind, site, holder), None)
        with cleanup_scope():
            await self._call("release", [_key(site, kind)], [holder])

    async def wait_turn(self, website: str) -> None:
        """Waits until the site's interval since the last start (on any instance) has passed."""
        site = self.limits.site_of(website)
        interval_ms = round(self.limits.limit_of(site).interval_s * 1000)
        if not interval_ms:
            return
        # Another instance may start in between: the script tells how long, each time.
        while wait_ms := await self._call("turn", [KEY_PREFIX + site + ":next"], [interval_ms]):  # noqa: ASYNC110
            await trio.sleep(wait_ms / 1000)
        # None (no server answers): go; the place taken already bounds the load.

    async def keep_alive(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Renews every place this instance holds, in one call per beat."""
        task_status.started()
        while True:
            await trio.sleep(self._renew_every_s)
            if held := list(self._held):
                keys = [_key(site, kind) for kind, site, _ in held]
                await self._call("renew", keys, [self._ttl_ms, *(holder for _, _, holder in held)])

    async def _call(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """The script on the first server that answers; None when none does."""
        return await trio_asyncio.aio_as_trio(self._on_first)(name, keys, args)

    async def _on_first(self, name: str, keys: list[str], args: list[Any]) -> Any:
        for client, scripts in zip(self._clients, self._scripts, strict=True):
            try:
                return await scripts[name](keys=keys, args=args)
            except (RedisError, OSError) as error:
                log.warning("limiter Redis server %r: %s failed: %r", client, name, error)
        return None


def _key(site: str, kind: Kind) -> str:
    return f"{KEY_PREFIX}{site}:{kind}"
