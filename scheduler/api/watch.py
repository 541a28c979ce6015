"""WatchDownloads' source: one LISTEN connection per process, fanned out to every stream.

asyncio code, like the servicer that uses it. A trigger on `videos` NOTIFYs the ids each
statement changed (migrations/0003), from whichever instance made the change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from scheduler.db import connector
from scheduler.errors import ResourceExhausted

log = logging.getLogger(__name__)

CHANNEL = "scheduler_videos"
EVERYTHING = "*"  # a large change: reload everything in flight
QUEUE_SIZE = 1000


class VideoChanges:
    def __init__(self, dsn: str, max_watchers: int) -> None:
        self._dsn = dsn
        self._max_watchers = max_watchers
        self._connection: connector.Listener | None = None
        self._connecting = asyncio.Lock()
        self._queues: set[asyncio.Queue[str]] = set()

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[str]]:
        """A queue of payloads: comma-separated video ids, or EVERYTHING."""
        if len(self._queues) >= self._max_watchers:
            raise ResourceExhausted(
                f"{self._max_watchers} WatchDownloads streams are open already; try later"
            )
        await self._ensure_listening()
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()

    async def _ensure_listening(self) -> None:
        async with self._connecting:
            if self._connection is not None and not self._connection.is_closed():
                return
            # A watcher that joins after a reconnect missed nothing it could have seen;
            # the others reload everything.
            self._connection = await connector.listen(
                self._dsn, {CHANNEL: self._broadcast}, lambda: self._broadcast(EVERYTHING)
            )

    def _broadcast(self, payload: str) -> None:
        for queue in self._queues:
            try:
                queue.put_nowait(payload)
            except asyncio.QueueFull:
                # A slow client: drop the backlog and tell it to reload.
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(EVERYTHING)
