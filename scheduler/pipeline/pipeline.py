"""The pipeline: the task tree of one instance's workers (docs/architecture.md, "The task
tree"), started in order and stopped in order.

Each kind of worker has its own module: the poller (poller.py) claims videos and hands
them through a bounded channel to the downloaders (downloader.py), whose leases, locks
and progress the keepers (keepers.py) look after; the syncers (syncer.py) list
categories; the tagger (tagger.py) reads tags for videos awaiting approval. Channel ends
are cloned per task and closed by their owners: when the pollers stop, the downloaders'
loops end.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import socket
from pathlib import Path

import trio

from scheduler.db.trio_store import TrioStore
from scheduler.metrics import Metrics
from scheduler.pipeline.downloader import Downloader, StopTally
from scheduler.pipeline.inflight import CANCELLED_BY_USER, InFlight, Job
from scheduler.pipeline.keepers import keep_leases, report_progress
from scheduler.pipeline.poller import Poller
from scheduler.pipeline.shared import Shared, request_lease_s
from scheduler.pipeline.site_gate import SiteGate
from scheduler.pipeline.syncer import Syncer
from scheduler.pipeline.tagger import fetch_tags
from scheduler.pipeline.wakeup import CANCEL_CHANNEL, WORK_CHANNEL, Wakeup, listen
from scheduler.pipeline.ytdlp.pool import WorkerPool
from scheduler.redlock import Redlock
from scheduler.settings import Settings
from scheduler.sites.cookies import CookieJars
from scheduler.sites.limiter import SiteLimiter
from scheduler.video_service.base import VideoService

log = logging.getLogger(__name__)


def remove_dead_work_directories(work: Path) -> list[Path]:
    """Work directories left by killed processes of this host: those whose pid no longer
    runs. Other hosts' and live instances' directories (a shared data dir) stay."""
    removed = []
    prefix = f"{socket.gethostname()}-"
    for directory in work.glob(f"{glob.escape(prefix)}*") if work.is_dir() else []:
        pid = directory.name.removeprefix(prefix).split("-")[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        db: TrioStore,
        dsn: str,
        redlock: Redlock,
        limiter: SiteLimiter,
        video_service: VideoService,
        ytdlp_workers: WorkerPool,
        metrics: Metrics,
        cookies: CookieJars,
    ) -> None:
        self.settings = settings
        self.owner = db.owner  # this instance's id (scheduler/serve/instances.py)
        self._dsn = dsn
        self._redlock = redlock
        self.inflight = InFlight()
        self._wakeup = Wakeup()
        sites = SiteGate(
            limiter,
            db,
            self._wakeup,
            metrics,
            probe_s=request_lease_s(settings),
            breaker_min_s=settings.sites.breaker_min_s,
            breaker_max_s=settings.sites.breaker_max_s,
        )
        self._shared = Shared(settings, db, sites, self._wakeup, metrics, cookies, ytdlp_workers)
        self._slots = trio.Semaphore(settings.downloader.workers)
        self._claimers = trio.CancelScope()
        self._downloaders = trio.CancelScope()
        self._work_root = settings.data_dir / "work" / self.owner
        self._stop = StopTally()
        self._downloader = Downloader(
            self._shared, redlock, video_service, self._slots, self.inflight, self._work_root, self._stop
        )

    def drain(self, grace_s: float) -> None:
        """Shutdown: stop claiming now; running downloads get `grace_s` to finish."""
        log.info("stopping: no new work; running downloads have %ss to finish", grace_s)
        if self._stop.began_at is None:
            self._stop.began_at = trio.current_time()
        self._claimers.cancel()
        self._downloaders.deadline = min(self._downloaders.deadline, trio.current_time() + grace_s)

    def _on_cancel(self, payload: str) -> None:
        """A CancelDownload (payload "video_id:status"): stop it if it runs here."""
        video_id, _, status = payload.partition(":")
        job = self.inflight.get(int(video_id)) if video_id.isdigit() else None
        if job is not None:
            job.cancel(CANCELLED_BY_USER, to_failed=status == "failed")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        send, receive = trio.open_memory_channel[Job](self.settings.downloader.workers)
        for leftover in await trio.to_thread.run_sync(remove_dead_work_directories, self._work_root.parent):
            log.info("removed %s, left by a process that is gone", leftover)
        try:
            async with trio.open_nursery() as keepers:
                await keepers.start(self._shared.sites.keep_alive)  # the site places held by both groups
                async with trio.open_nursery() as nursery:
                    await nursery.start(self._run_downloaders, receive)
                    await nursery.start(self._run_claimers, send)
                    log.info("pipeline running as %s", self.owner)
                    task_status.started()
                keepers.cancel_scope.cancel()
            if self._stop.began_at is not None:
                log.info("%s", self._stop.line(trio.current_time()))
        finally:
            with trio.CancelScope(shield=True):  # unbounded: a thread is waited for anyway
                await trio.to_thread.run_sync(shutil.rmtree, self._work_root, True)

    async def _run_claimers(
        self, send: trio.MemorySendChannel[Job], *, task_status: trio.TaskStatus[None]
    ) -> None:
        settings, shared = self.settings, self._shared
        with self._claimers:
            async with send, trio.open_nursery() as nursery:
                if settings.schedule.listen:
                    handlers = {
                        WORK_CHANNEL: lambda _: self._wakeup.notify(),
                        CANCEL_CHANNEL: self._on_cancel,
                    }
                    await nursery.start(listen, self._dsn, handlers, self._wakeup.notify)
                # Otherwise (a PgBouncer that cannot LISTEN) claimers wake every poll interval,
                # and the heartbeat, which sees cancel requests too, stops cancelled downloads.
                for _ in range(settings.schedule.pollers):
                    await nursery.start(Poller(shared, self._slots, self.inflight).run, send.clone())
                for _ in range(settings.sync.workers):
                    await nursery.start(Syncer(shared).run)
                if settings.approval.required and settings.sync.workers:
                    await nursery.start(fetch_tags, shared)
                task_status.started()

    async def _run_downloaders(
        self, receive: trio.MemoryReceiveChannel[Job], *, task_status: trio.TaskStatus[None]
    ) -> None:
        settings, db = self.settings, self._shared.db
        with self._downloaders:
            async with receive, trio.open_nursery() as keepers:
                lease_s, lock_ttl_s = settings.schedule.lease_s, settings.lock.ttl_s
                await keepers.start(keep_leases, db, self._redlock, self.inflight, lease_s, lock_ttl_s)
                await keepers.start(report_progress, db, self.inflight)
                async with trio.open_nursery() as workers:
                    for _ in range(settings.downloader.workers):
                        await workers.start(self._downloader.run, receive.clone())
                    task_status.started()
                keepers.cancel_scope.cancel()  # the downloaders are done; so are their keepers
