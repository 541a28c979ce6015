"""The workers: syncers, pollers and downloaders, with the heartbeat that keeps their
leases and locks (their task tree: docs/architecture.md, "The task tree").

Pollers claim only as many videos as there are idle downloaders (a semaphore of
slots), so nothing waits in the channel with a lease ticking. Channel ends are cloned
per task and closed by their owners: when the pollers stop, the downloaders' loops end.
Each delivered video is logged in one line with the time each phase took (phases.py).
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import shutil
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
import trio_asyncio
from yt_dlp.utils import DownloadCancelled

from scheduler import breaker
from scheduler.cleanup import Failed, shielded
from scheduler.cookies import CookieJars
from scheduler.db.store import ClaimedCategory, ClaimedVideo, ListedVideo, Store, StoredPages
from scheduler.limiter import SiteLimiter
from scheduler.metrics import Metrics
from scheduler.pipeline import failures, sanitize, ytdlp
from scheduler.pipeline.failures import retry_delay
from scheduler.pipeline.inflight import InFlight, Job
from scheduler.pipeline.metadata import info_tags, video_metadata
from scheduler.pipeline.sites import Outcome, SiteGate
from scheduler.pipeline.tagger import fetch_tags
from scheduler.pipeline.wakeup import CANCEL_CHANNEL, WORK_CHANNEL, Wakeup, listen
from scheduler.redlock import Redlock
from scheduler.settings import Settings
from scheduler.video_service.base import DownloadedVideo, VideoService, VideoServiceError

log = logging.getLogger(__name__)

CLAIM_BATCH = 16
PROGRESS_INTERVAL_S = 1.0
CANCELLED_BY_USER = "cancelled by CancelDownload"


def _video_context(video: ClaimedVideo) -> dict[str, object]:
    """A log line's context: which video, on which site."""
    return {"video_id": video.id, "website": video.website}


def _category_context(category: ClaimedCategory) -> dict[str, object]:
    return {"category_id": category.id, "website": category.website}


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


class Backoff:
    """Pauses after consecutive failures (the database away): 0.5 s, 1 s, 2 s, ... 30 s (pure)."""

    def __init__(self, first_s: float = 0.5, most_s: float = 30.0) -> None:
        self.first_s, self.most_s, self.failures = first_s, most_s, 0

    def failed(self) -> float:
        self.failures += 1
        return retry_delay(self.failures, self.first_s, self.most_s)

    def succeeded(self) -> None:
        self.failures = 0


class StopTally:
    """A graceful stop, counted: downloads finished and given back since it began (pure)."""

    def __init__(self) -> None:
        self.began_at: float | None = None
        self.finished = 0
        self.given_back = 0

    def line(self, now: float) -> str:
        took = now - (self.began_at if self.began_at is not None else now)
        return f"stopped: {self.finished} downloads finished, {self.given_back} given back, in {took:.1f} s"


def aio(function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """An asyncio coroutine function (the data-access layer), callable from Trio as a whole."""
    return trio_asyncio.aio_as_trio(function)  # type: ignore[no-any-return]


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        dsn: str,
        redlock: Redlock,
        limiter: SiteLimiter,
        video_service: VideoService,
        metrics: Metrics,
        owner: str,
        cookies: CookieJars,
    ) -> None:
        self.settings = settings
        self._cookies = cookies
        self.metrics = metrics
        self.owner = owner  # this instance's id (scheduler/instances.py)
        self.db = store.pipeline(self.owner)
        self._dsn = dsn
        self._redlock = redlock
        self._video_service = video_service
        self.inflight = InFlight()
        self._wakeup = Wakeup()
        # A request to a site (a download; a listing, from its last page stored) may take up to
        # the download timeout: a listing's lease, and a probe, outlast it by a lease.
        self._request_lease_s = settings.downloader.timeout_s + settings.schedule.lease_s
        sites = settings.sites
        self._sites = SiteGate(
            limiter,
            self.db,
            self._wakeup,
            self.metrics,
            probe_s=self._request_lease_s,
            breaker_min_s=sites.breaker_min_s,
            breaker_max_s=sites.breaker_max_s,
        )
        self._slots = trio.Semaphore(settings.downloader.workers)
        self._claimers = trio.CancelScope()
        self._downloaders = trio.CancelScope()
        self._work_root = settings.data_dir / "work" / self.owner
        self._stop = StopTally()

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
                await keepers.start(self._sites.keep_alive)  # the site places held by both groups
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
        with self._claimers:
            async with send, trio.open_nursery() as nursery:
                if self.settings.schedule.listen:
                    handlers = {
                        WORK_CHANNEL: lambda _: self._wakeup.notify(),
                        CANCEL_CHANNEL: self._on_cancel,
                    }
                    await nursery.start(listen, self._dsn, handlers, self._wakeup.notify)
                # Otherwise (a PgBouncer that cannot LISTEN) claimers wake every poll interval,
                # and the heartbeat, which sees cancel requests too, stops cancelled downloads.
                for _ in range(self.settings.schedule.pollers):
                    await nursery.start(self._poller, send.clone())
                for _ in range(self.settings.sync.workers):
                    await nursery.start(self._syncer)
                if self.settings.approval.required and self.settings.sync.workers:
                    await nursery.start(
                        fetch_tags,
                        self.settings,
                        self.db,
                        self._sites,
                        self._cookies,
                        self._wakeup,
                        self.owner,
                    )
                task_status.started()

    async def _run_downloaders(
        self, receive: trio.MemoryReceiveChannel[Job], *, task_status: trio.TaskStatus[None]
    ) -> None:
        with self._downloaders:
            async with receive, trio.open_nursery() as keepers:
                await keepers.start(self._heartbeat)
                await keepers.start(self._report_progress)
                if self.settings.downloader.workers:
                    keepers.start_soon(trio.to_thread.run_sync, ytdlp.warm_up)
                async with trio.open_nursery() as workers:
                    for _ in range(self.settings.downloader.workers):
                        await workers.start(self._downloader, receive.clone())
                    task_status.started()
                keepers.cancel_scope.cancel()  # the downloaders are done; so are their keepers

    # Claimers

    async def _poller(self, send: trio.MemorySendChannel[Job], *, task_status: trio.TaskStatus[None]) -> None:
        schedule = self.settings.schedule
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
                    claimed = await aio(self.db.claim_videos)(
                        wanted, schedule.lease_s, self.settings.approval.required, self._sites.busy_websites()
                    )
                    claim_s = (time.perf_counter() - began) / max(1, len(claimed))  # each video's share
                    self.metrics.claim_seconds.observe(time.perf_counter() - began)
                    backoff.succeeded()
                except Exception as error:
                    claimed = []
                    pause = backoff.failed()
                    log.warning("claiming videos failed (%s); pausing %.1fs", error, pause)
                    await trio.sleep(pause)
                for _ in range(wanted - len(claimed)):
                    self._slots.release()
                waits = await self._sites.enter("downloads", [(v.website, self._holder(v)) for v in claimed])
                for video, wait in zip(claimed, waits, strict=True):
                    if wait is not None:
                        # Back to the queue unheld (no attempt, no event): this downloader takes
                        # another site's video.
                        await shielded(aio(self.db.defer_video), video, wait)
                        self._slots.release()
                        continue
                    log.info(
                        "claimed video %d (%s %s)",
                        video.id,
                        video.website,
                        video.foreign_id,
                        extra=_video_context(video),
                    )
                    try:
                        await send.send(self.inflight.add(video, claim_s))
                    except BaseException:
                        await self._sites.leave("downloads", video.website, self._holder(video), None)
                        raise
                if len(claimed) < wanted:
                    await self._wakeup.wait(seen, self._sites.poll_wait(schedule.poll_interval_s))

    def _holder(self, work: ClaimedVideo | ClaimedCategory) -> str:
        kind = "video" if isinstance(work, ClaimedVideo) else "category"
        return f"{self.owner}:{kind}:{work.id}"

    async def _syncer(self, *, task_status: trio.TaskStatus[None]) -> None:
        backoff = Backoff()
        task_status.started()
        while True:
            seen = self._wakeup.generation
            try:
                await self._sites.refresh()
                category = await aio(self.db.claim_category)(
                    self._request_lease_s, self._sites.busy_websites()
                )
                backoff.succeeded()
            except Exception as error:
                pause = backoff.failed()
                log.warning("claiming a category failed (%s); pausing %.1fs", error, pause)
                await trio.sleep(pause)
                continue
            if category is None:
                await self._wakeup.wait(seen, self._sites.poll_wait(self.settings.schedule.poll_interval_s))
                continue
            holder = self._holder(category)
            [wait] = await self._sites.enter("listings", [(category.website, holder)])
            if wait is not None:
                await shielded(aio(self.db.defer_sync), category, wait)
                continue
            outcome: Outcome = None
            try:
                await self._sites.wait_turn(category.website)
                outcome = await self._sync(category)
            finally:
                await self._sites.leave("listings", category.website, holder, outcome)

    async def _sync(self, category: ClaimedCategory) -> Outcome:
        """Lists the category and stores what it found; returns what the site did."""
        sync = self.settings.sync
        full = category.sync_count % sync.full_every == 0
        first = 0 if full else sync.partial_entries
        log.info(
            "listing category %d (%s, %s)", category.id, category.url, "full" if full else f"first {first}"
        )
        began = time.perf_counter()
        timeout_s = self.settings.downloader.timeout_s
        stored = StoredPages()
        try:
            # A partial re-sync stops at a run of entries the category holds (its newest ones).
            known = None if full else await aio(self.db.newest_in_category)(category.id, max(first, 100))
            with trio.fail_after(timeout_s) as scope:

                def store_page(page: ytdlp.Listing) -> None:  # in the listing's thread
                    trio.from_thread.run(self._store_page, category, page, stored, scope)

                # A first listing is stored page by page, so that its downloads start at once.
                paged = category.sync_count == 0 and sync.page_entries > 0
                listing = await _in_thread(
                    ytdlp.list_category,
                    category.url,
                    category.website,
                    self.settings.downloader,
                    self.settings.sites.allowed,
                    first,
                    known,
                    store_page if paged else None,
                    sync.page_entries,
                    self._cookies.for_website(category.website),
                )
            videos, refused = _cleaned(category, listing)
            outcome = await aio(self.db.finish_sync)(
                category,
                videos,
                refused,
                min_backoff_s=sync.min_backoff_s,
                max_backoff_factor=sync.max_backoff_factor,
                earlier=stored,
            )
        except _CategoryTakenOver:
            outcome = None
        except (ytdlp.YtdlpError, trio.TooSlowError) as error:
            reason = str(error) or "timed out"
            if isinstance(error, ytdlp.YtdlpError) and (
                throttle := await self._sites.throttle_reason(category.website, reason)
            ):
                site = self._sites.site_of(category.website)
                log.warning("site %s throttles us (%s): category %d put off", site, throttle, category.id)
                self._synced(category, began, "throttled")
                await self._sites.throttled_listing(category, throttle)
                return "throttled"
            reason = self._explained(category.website, reason)
            log.warning(
                "listing category %d failed: %s", category.id, reason, extra=_category_context(category)
            )
            self._synced(category, began, "failed")
            await shielded(aio(self.db.fail_sync), category, reason, sync.retry_s)
            return "answered" if isinstance(error, ytdlp.YtdlpError) else None
        except Exception as error:
            # A bug or an outage, not the site: the category is retried and the syncer lives on.
            log.exception("syncing category %d failed", category.id)
            reason = f"internal error: {error!r}"[:500]
            self._synced(category, began, "error")
            await shielded(aio(self.db.fail_sync), category, reason, sync.retry_s)
            return None
        if outcome is None:
            log.warning("category %d: lease lost during the listing; its new owner syncs it", category.id)
            self._synced(category, began, "lease_lost")
        else:
            log.info(
                "category %d: %d listed, %d new",
                category.id,
                outcome.listed,
                outcome.new_to_category,
                extra=_category_context(category),
            )
            self._synced(category, began, "ok")
        return "served"

    async def _store_page(
        self, category: ClaimedCategory, page: ytdlp.Listing, stored: StoredPages, scope: trio.CancelScope
    ) -> None:
        """One page of a first listing, stored while yt-dlp reads on (called from its thread);
        the listing's timeout then counts from now: it is stopped when it stalls, not when a
        category is long."""
        videos, refused = _cleaned(category, page)
        new = await aio(self.db.store_page)(category, videos, refused, self._request_lease_s)
        if new is None:
            raise _CategoryTakenOver
        stored.listed, stored.new = stored.listed + len(videos), stored.new + new
        stored.refused += len(refused)
        scope.deadline = trio.current_time() + self.settings.downloader.timeout_s
        log.info(
            "category %d: %d listed so far, %d new; listing on",
            category.id,
            stored.listed,
            stored.new,
            extra=_category_context(category),
        )

    def _synced(self, category: ClaimedCategory, began: float, result: str) -> None:
        elapsed = time.perf_counter() - began
        self.metrics.sync_seconds.labels(category.website, result).observe(elapsed)

    # Downloaders

    async def _downloader(
        self, receive: trio.MemoryReceiveChannel[Job], *, task_status: trio.TaskStatus[None]
    ) -> None:
        async with receive:
            task_status.started()
            async for job in receive:
                try:
                    await self._process(job)
                finally:
                    self._slots.release()

    async def _process(self, job: Job) -> None:
        video = job.video
        try:
            with job.scope:
                await self._deliver(job)
            if job.scope.cancelled_caught:
                await self._after_cancel(job)
        except trio.Cancelled:
            # Shutdown, after the grace period: give the video back untouched.
            log.info("video %d: stopped by shutdown, back to pending", video.id)
            await shielded(aio(self.db.release_video), video, "stopped by a shutdown; back to pending", 0)
            self._stop.given_back += 1
            raise
        except Exception as error:
            await self._failed(job, error)
        finally:
            self.inflight.remove(job)
            await self._sites.leave("downloads", video.website, self._holder(video), job.site_outcome)

    async def _deliver(self, job: Job) -> None:
        video, phases = job.video, job.phases
        phases.started()
        with phases.timing("lock"):
            job.lock = await self._redlock.acquire(f"{video.website}:{video.foreign_id}")
        if job.lock is None:
            # Held by another worker, or too few lock servers answer: never download without it.
            reason = "locked by another worker" if self._redlock.quorum_reachable else "lock unavailable"
            log.info("video %d: %s, skipped for now", video.id, reason, extra=_video_context(video))
            self.metrics.lock_skips.labels("held" if self._redlock.quorum_reachable else "unavailable").inc()
            await aio(self.db.release_video)(video, f"{reason}; retrying later", self.settings.lock.ttl_s)
            return
        try:
            delivered = await self._transfer(job)
        finally:
            if job.lock is not None:
                with phases.timing("unlock"):
                    await self._redlock.release(job.lock)
        if delivered is not None:
            phases.stop()
            log.info("video %d: %s %s", video.id, delivered, phases.summary(), extra=_video_context(video))
            if self._stop.began_at is not None:
                self._stop.finished += 1

    async def _transfer(self, job: Job) -> str | None:
        """Delivers the video; returns what was done, or None if the lease was lost."""
        video, phases = job.video, job.phases
        with phases.timing("exists"):
            exists = await self._video_service.exists(video.website, video.foreign_id)
        if exists:
            return await self._finish(job, "existing", "already in the Video Service", "existing")
        with phases.timing("turn"):
            await self._sites.wait_turn(video.website)  # the site's interval between starts
        job.status = "downloading"
        with phases.timing("progress"):
            await aio(self.db.set_progress)(video.id, job.status, 0, 0)
        workdir = self._work_root / str(video.id)
        try:
            await trio.to_thread.run_sync(_fresh_directory, workdir)
            with trio.fail_after(self.settings.downloader.timeout_s), phases.timing("download"):
                downloaded = await _in_thread(
                    ytdlp.download,
                    video.url,
                    workdir,
                    self.settings.downloader,
                    job.progress,
                    self.settings.sites.allowed,
                    self._cookies.for_website(video.website),
                    video.listed.get("thumbnail", ""),
                )
            job.site_outcome = "served"
            job.status = "uploading"
            size = downloaded.video_path.stat().st_size
            self.metrics.download_seconds.labels(video.website).observe(phases.durations["download"])
            self.metrics.bytes_downloaded.labels(video.website).inc(size)
            with phases.timing("progress"):
                await aio(self.db.set_progress)(video.id, job.status, size, size)
            with phases.timing("record"):
                category = await aio(self.db.classify_video)(video, list(info_tags(downloaded.info)))
            bounded = await trio.to_thread.run_sync(_bounded, video, downloaded, category)
            with phases.timing("upload"):
                service_id = await self._video_service.upload(bounded)
            self.metrics.upload_seconds.labels(video.website).observe(phases.durations["upload"])
            self.metrics.bytes_uploaded.labels(video.website).inc(size)
            message = f"delivered to the Video Service as {service_id}"
            if bounded.thumbnail_path is None:
                message += " (no thumbnail anywhere)"
            return await self._finish(job, service_id, message, "delivered")
        finally:
            with trio.CancelScope(shield=True):  # unbounded: a thread is waited for anyway
                await trio.to_thread.run_sync(shutil.rmtree, workdir, True)

    async def _finish(self, job: Job, service_id: str, message: str, outcome: str) -> str | None:
        with job.phases.timing("record"):
            recorded = await aio(self.db.finish_video)(job.video, service_id, message)
        if not recorded:
            log.warning("video %d: lease lost before it could be recorded done", job.video.id)
            self.metrics.lease_losses.inc()
            return None
        self.metrics.downloads.labels(job.video.website, outcome).inc()
        return message

    async def _failed(self, job: Job, error: Exception) -> None:
        """Carries out what failures.decide makes of the error."""
        video = job.video
        throttle = None
        if failures.is_site_answer(error):
            throttle = await self._sites.throttle_reason(video.website, str(error))
            job.site_outcome = "throttled" if throttle is not None else "answered"
        explain = functools.partial(self._explained, video.website)
        decision = failures.decide(error, video.attempts, throttle, self.settings.downloader, explain)
        if isinstance(decision, failures.Throttled):
            site = self._sites.site_of(video.website)
            log.warning(
                "video %d: site %s throttles us (%s); waiting",
                video.id,
                site,
                decision.reason,
                extra=_video_context(video),
            )
            await self._sites.throttled_video(video, decision.reason)
            self.metrics.downloads.labels(video.website, "throttled").inc()
            return
        status = await shielded(
            aio(self.db.fail_attempt), video, decision.reason, decision.attempts, decision.retry_in_s
        )
        outcome = f"not recorded: {status.reason}" if isinstance(status, Failed) else status or "lease lost"
        log.warning("video %d: %s (%s)", video.id, decision.reason, outcome, extra=_video_context(video))
        if isinstance(error, VideoServiceError):
            self.metrics.video_service_errors.inc()
        if status == "pending":
            self.metrics.retries.labels(video.website).inc()
        self.metrics.downloads.labels(video.website, "failed" if status == "failed" else "retried").inc()

    def _explained(self, website: str, error: str) -> str:
        """yt-dlp's error, led by what to do when the site wants a logged-in session."""
        login = breaker.login_reason(error)
        if login is None:
            return error
        if (pattern := self._cookies.pattern_of(website)) is not None:
            fix = f"the cookies for {pattern} in SCHEDULER_SITES__COOKIES were not enough: export them again"
        else:
            fix = f"set SCHEDULER_SITES__COOKIES for {website}"
        return f"{login} ({fix}): {error}"

    async def _after_cancel(self, job: Job) -> None:
        video, reason = job.video, job.cancel_reason or "cancelled"
        if reason == "lease lost":
            log.warning("video %d: lease lost; another instance owns it now", video.id)
            self.metrics.lease_losses.inc()
        elif job.cancel_to_failed:
            await shielded(aio(self.db.fail_attempt), video, reason, 0, 0.0)
        else:
            # Not straight back to a downloader: whoever cancelled it wanted it stopped for now.
            delay = self.settings.downloader.retry_base_s
            await shielded(aio(self.db.release_video), video, f"{reason}; back to pending", delay)

    # Keepers

    async def _heartbeat(self, *, task_status: trio.TaskStatus[None]) -> None:
        lease_s = self.settings.schedule.lease_s
        interval = min(lease_s, self.settings.lock.ttl_s) / 3
        task_status.started()
        while True:
            await trio.sleep(interval)
            jobs = self.inflight.jobs()
            if not jobs:
                continue
            try:
                owned = await aio(self.db.renew_leases)([j.video.id for j in jobs], lease_s)
            except Exception as error:
                log.warning("renewing leases failed: %s", error)
                continue
            for job in jobs:
                if job.video.id not in owned:
                    job.cancel("lease lost")
                elif (requested := owned[job.video.id]) is not None:
                    job.cancel(CANCELLED_BY_USER, to_failed=requested == "failed")
                elif job.lock is not None:
                    job.lock = await self._redlock.extend(job.lock)
                    if job.lock is None:
                        job.cancel("lock lost")

    async def _report_progress(self, *, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        reported: dict[int, tuple[int, int]] = {}
        while True:
            await trio.sleep(PROGRESS_INTERVAL_S)
            for job in self.inflight.jobs():
                now = (job.progress.bytes_done, job.progress.bytes_total)
                if job.status == "downloading" and reported.get(job.video.id) != now:
                    reported[job.video.id] = now
                    try:
                        await aio(self.db.set_progress)(job.video.id, job.status, *now)
                    except Exception as error:
                        log.debug("writing progress failed: %s", error)


def _cleaned(category: ClaimedCategory, listing: ytdlp.Listing) -> tuple[list[ListedVideo], list[str]]:
    """A listing, or a page of one, as it is stored: sanitized, its refused entries logged."""
    if listing.refused:
        log.warning("category %d: %d entries refused", category.id, len(listing.refused))
    videos = [v for v in map(sanitize.clean_listed, listing.videos) if v is not None]
    return videos, [sanitize.clean_text(r, 500) for r in listing.refused]


class _CategoryTakenOver(Exception):
    """A page of a first listing could not be stored: another instance owns the category now."""


async def _in_thread(function: Callable[..., Any], *args: Any) -> Any:
    """Runs yt-dlp in a worker thread and waits for it even when cancelled (it stops
    itself: see ytdlp.stop_if_cancelled); then the cancellation takes effect here."""
    try:
        return await trio.to_thread.run_sync(function, *args)
    except DownloadCancelled:
        await trio.lowlevel.checkpoint()  # raises the Cancelled that stopped the thread
        raise


def _bounded(video: ClaimedVideo, downloaded: ytdlp.Downloaded, category: str) -> DownloadedVideo:
    """What goes to the Video Service: clean metadata, a bounded info JSON, a real image or none."""
    thumbnail = downloaded.thumbnail_path
    return DownloadedVideo(
        metadata=video_metadata(video, downloaded.info, category),
        video_path=downloaded.video_path,
        info_json_path=sanitize.delivered_info_json(downloaded.info_json_path, downloaded.info, category),
        thumbnail_path=thumbnail if thumbnail is not None and sanitize.is_image(thumbnail) else None,
    )


def _fresh_directory(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
