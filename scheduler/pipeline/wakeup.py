"""Waking claimers: PostgreSQL NOTIFY as a hint, a poll interval as the fallback."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import trio
import trio_asyncio

from scheduler.cleanup import cleanup_scope
from scheduler.db import connector
from scheduler.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

WORK_CHANNEL = "scheduler_work"
CANCEL_CHANNEL = "scheduler_cancel"
RECONNECT_S = 2.0
# Bursts of notifications (a sync storing many videos, several instances) wake a claimer once.
DEBOUNCE_S = 0.02


class Wakeup:
    """A counter of notifications. A claimer remembers the count before it looks for
    work and waits only if nothing arrived since: a NOTIFY during a claim is not lost."""

    def __init__(self) -> None:
        self.generation = 0
        self._changed = trio.Event()

    def notify(self) -> None:
        self.generation += 1
        self._changed.set()
        self._changed = trio.Event()

    async def wait(self, seen: int, at_most_s: float) -> None:
        if self.generation == seen:
            with trio.move_on_after(at_most_s):
                await self._changed.wait()
        await trio.sleep(DEBOUNCE_S)


async def listen(
    dsn: str,
    handlers: Mapping[str, Callable[[str], None]],
    on_connect: Callable[[], None],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Holds a dedicated LISTEN connection for `handlers` (channel -> a function of the
    payload). It reconnects when the connection drops and calls `on_connect` each time,
    since notifications sent meanwhile are lost."""
    task_status.started()
    while True:
        lost = trio.Event()
        try:
            listener = await trio_asyncio.aio_as_trio(connector.listen)(dsn, handlers, lost.set)
        except DatabaseUnavailable as error:  # the poll interval covers us meanwhile
            log.warning("LISTEN connection failed (%s); retrying in %ss", error, RECONNECT_S)
            await trio.sleep(RECONNECT_S)
            continue
        on_connect()
        try:
            await lost.wait()
            log.warning("LISTEN connection lost; reconnecting")
        finally:
            with cleanup_scope():
                await trio_asyncio.aio_as_trio(listener.close)()
