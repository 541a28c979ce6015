"""The downloads' keepers, one of each per instance: the heartbeat that renews the leases
and locks of every video in flight (and stops one whose lease, lock or user says so),
and the progress writer that WatchDownloads and ListDownloads read."""

from __future__ import annotations

import logging

import trio

from scheduler.db.trio_store import TrioStore
from scheduler.errors import DatabaseUnavailable
from scheduler.pipeline.inflight import CANCELLED_BY_USER, InFlight
from scheduler.redlock import Redlock

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 1.0


async def keep_leases(
    db: TrioStore,
    redlock: Redlock,
    inflight: InFlight,
    lease_s: float,
    lock_ttl_s: float,
    *,
    task_status: trio.TaskStatus[None],
) -> None:
    """Every third of the shorter of the lease and the lock's lifetime."""
    interval = min(lease_s, lock_ttl_s) / 3
    task_status.started()
    while True:
        await trio.sleep(interval)
        jobs = inflight.jobs()
        if not jobs:
            continue
        try:
            owned = await db.renew_leases([j.video.id for j in jobs], lease_s)
        except DatabaseUnavailable as error:
            log.warning("renewing leases failed: %s", error)
            continue
        for job in jobs:
            if job.video.id not in owned:
                job.cancel("lease lost")
            elif (requested := owned[job.video.id]) is not None:
                job.cancel(CANCELLED_BY_USER, to_failed=requested == "failed")
            elif job.lock is not None:
                job.lock = await redlock.extend(job.lock)
                if job.lock is None:
                    job.cancel("lock lost")


async def report_progress(db: TrioStore, inflight: InFlight, *, task_status: trio.TaskStatus[None]) -> None:
    """Each download's bytes so far, written when they changed, once a PROGRESS_INTERVAL_S."""
    task_status.started()
    reported: dict[int, tuple[int, int]] = {}
    while True:
        await trio.sleep(PROGRESS_INTERVAL_S)
        for job in inflight.jobs():
            now = (job.progress.bytes_done, job.progress.bytes_total)
            if job.status == "downloading" and reported.get(job.video.id) != now:
                reported[job.video.id] = now
                try:
                    await db.set_progress(job.video.id, job.status, *now)
                except DatabaseUnavailable as error:
                    log.debug("writing progress failed: %s", error)
