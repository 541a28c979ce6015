"""Each `serve` process registers itself in the database and beats while it lives, so
`scheduler stats` lists the instances alive, and ListDownloads tells whether the
instance holding a video still beats (a dead one's leases expire and its work is
claimed again)."""

from __future__ import annotations

import logging
import os
import secrets
import socket

import trio

from scheduler import __version__
from scheduler.cleanup import shielded
from scheduler.db.records import Registration
from scheduler.db.trio_store import TrioStore
from scheduler.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


def instance_id() -> str:
    """<host>-<pid>-<random>: unique, and it tells which work directories are a dead process's."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def registration(instance: str, workers: int) -> Registration:
    return Registration(instance, socket.gethostname(), os.getpid(), __version__, workers)


async def keep_registered(
    db: TrioStore, me: Registration, ttl_s: float, *, task_status: trio.TaskStatus[None]
) -> None:
    """Registers `me`, then beats every ttl_s / 3 until cancelled; then says it stopped.

    The first write must succeed (the service starts only with its database); later
    ones may fail while the database is away, and the next beat writes the row again.
    """
    await db.beat_instance(me, ttl_s)
    task_status.started()
    try:
        while True:
            await trio.sleep(ttl_s / 3)
            try:
                await db.beat_instance(me, ttl_s)
            except DatabaseUnavailable as error:
                log.warning("the instance heartbeat failed: %s", error)
    finally:
        await shielded(db.stop_instance, me.id)  # else its row expires
