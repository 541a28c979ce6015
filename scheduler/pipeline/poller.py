"""The poller: claims due videos, as many as there are idle downloaders, and hands each
through the channel to one.

Pollers claim only as many videos as there are idle downloaders (a semaphore of slots,
released by the downloader that finishes a video), so nothing waits in the channel with
a lease ticking. A video whose site has no room goes back to the queue unheld.
"""

from __future__ import annotations

import logging
import time

import trio

from scheduler.cleanup import shielded
from scheduler.errors import DatabaseUnavailable
from scheduler.pipeline.inflight import InFlight, Job
from scheduler.pipeline.shared import Backoff, Shared, pause_after, video_context

log = logging.getLogger(__name__)

# Videos claimed in one statement at most.
CLAIM_BATCH = 16


class Poller:
    def __init__(self, shared: Shared, slots: trio.Semaphore, inflight: InFlight) -> None:
        self._shared = shared
        self._settings, self._db, self._sites = shared.settings, shared.db, shared.sites
        self._wakeup, self._metrics, self._cookies = shared.wakeup, shared.metrics, shared.cookies
        self._slots, self._inflight = slots, inflight

    async def run(self, send: trio.MemorySendChannel[Job], *, task_status: trio.TaskStatus[None]) -> None:
        schedule = self._settings.schedule
        backoff = Backoff()
        async with send:
            task_status.started()
            while True:
                seen = self._wakeup.generation
                await self._slots.acquire()
                wanted = 1
                while wanted < CLAIM_BATCH and self._slots.value > 0:
                    self._slots.acquire_nowait()
                    wanted += 1
                try:
                    await self._sites.refresh()
                    began = time.perf_counter()
                    claimed = await self._db.claim_videos(
                        wanted,
                        schedule.lease_s,
                        self._settings.approval.required,
                        self._sites.busy_websites(),
                    )
                    claim_s = (time.perf_counter() - began) / max(1, len(claimed))  # each video's share
                    self._metrics.claim_seconds.observe(time.perf_counter() - began)
                    backoff.succeeded()
                except DatabaseUnavailable as error:
                    claimed = []
                    await pause_after(backoff, "claiming videos", error)
                for _ in range(wanted - len(claimed)):
                    self._slots.release()
                waits = await self._sites.enter(
                    "downloads", [(v.website, self._shared.holder(v)) for v in claimed]
                )
                for video, wait in zip(claimed, waits, strict=True):
                    if wait is not None:
                        # Back to the queue unheld (no attempt, no event): this downloader takes
                        # another site's video.
                        await shielded(self._db.defer_video, video, wait)
                        self._slots.release()
                        continue
                    log.info(
                        "claimed video %d (%s %s)",
                        video.id,
                        video.website,
                        video.foreign_id,
                        extra=video_context(video),
                    )
                    try:
                        await send.send(self._inflight.add(video, claim_s))
                    except BaseException:
                        await self._sites.leave("downloads", video.website, self._shared.holder(video), None)
                        raise
                if len(claimed) < wanted:
                    await self._wakeup.wait(seen, self._sites.poll_wait(schedule.poll_interval_s))
