"""The downloader: takes a claimed video from the channel and delivers it: the video's
Redlock, the Video Service asked whether it has it already, the site's turn, yt-dlp's
download (in a thread, bounded by the download timeout and by the job's cancel scope),
the upload, and the one transaction that records the delivery. A failure is handed to
failures.decide and its decision carried out here.
"""

from __future__ import annotations

import functools
import logging
import shutil
from pathlib import Path

import trio

from scheduler.cleanup import Failed, shielded
from scheduler.pipeline import failures, sanitize, ytdlp
from scheduler.pipeline.inflight import InFlight, Job
from scheduler.pipeline.metadata import info_tags, video_metadata
from scheduler.pipeline.shared import Shared, video_context
from scheduler.redlock import Redlock
from scheduler.video_service.base import DownloadedVideo, VideoService, VideoServiceError
from scheduler.work import ClaimedVideo

log = logging.getLogger(__name__)


class StopTally:
    """A graceful stop, counted: downloads finished and given back since it began (pure)."""

    def __init__(self) -> None:
        self.began_at: float | None = None
        self.finished = 0
        self.given_back = 0

    def line(self, now: float) -> str:
        took = now - (self.began_at if self.began_at is not None else now)
        return f"stopped: {self.finished} downloads finished, {self.given_back} given back, in {took:.1f} s"


class Downloader:
    def __init__(
        self,
        shared: Shared,
        redlock: Redlock,
        video_service: VideoService,
        slots: trio.Semaphore,
        inflight: InFlight,
        work_root: Path,
        stop: StopTally,
    ) -> None:
        self._shared = shared
        self._settings, self._db, self._sites = shared.settings, shared.db, shared.sites
        self._wakeup, self._metrics, self._cookies = shared.wakeup, shared.metrics, shared.cookies
        self._redlock, self._video_service, self._ytdlp = redlock, video_service, shared.ytdlp
        self._slots, self._inflight = slots, inflight
        self._work_root, self._stop = work_root, stop

    async def run(
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
            await shielded(self._db.release_video, video, "stopped by a shutdown; back to pending", 0)
            self._stop.given_back += 1
            raise
        except Exception as error:
            await self._failed(job, error)
        finally:
            self._inflight.remove(job)
            await self._sites.leave("downloads", video.website, self._shared.holder(video), job.site_outcome)

    async def _deliver(self, job: Job) -> None:
        video, phases = job.video, job.phases
        phases.started()
        with phases.timing("lock"):
            job.lock = await self._redlock.acquire(f"{video.website}:{video.foreign_id}")
        if job.lock is None:
            # Held by another worker, or too few lock servers answer: never download without it.
            reason = "locked by another worker" if self._redlock.quorum_reachable else "lock unavailable"
            log.info("video %d: %s, skipped for now", video.id, reason, extra=video_context(video))
            self._metrics.lock_skips.labels("held" if self._redlock.quorum_reachable else "unavailable").inc()
            await self._db.release_video(video, f"{reason}; retrying later", self._settings.lock.ttl_s)
            return
        try:
            delivered = await self._transfer(job)
        finally:
            if job.lock is not None:
                with phases.timing("unlock"):
                    await self._redlock.release(job.lock)
        if delivered is not None:
            phases.stop()
            log.info("video %d: %s %s", video.id, delivered, phases.summary(), extra=video_context(video))
            if self._stop.began_at is not None:
                self._stop.finished += 1

    async def _transfer(self, job: Job) -> str | None:
        """Delivers the video; returns what was done, or None if the lease was lost."""
        video, phases = job.video, job.phases
        with phases.timing("exists"):
            exists = await self._video_service.exists(video.website, video.foreign_id)
        if exists:
            return await self._finish(job, "existing", "already in the Video Service", "existing")
        workdir = self._work_root / str(video.id)
        try:
            downloaded = await self._download(job, workdir)
            job.site_outcome = "served"
            if isinstance(downloaded, ytdlp.Skipped):
                return await self._skip(job, downloaded)
            job.status = "uploading"
            size = downloaded.video_path.stat().st_size
            self._metrics.download_seconds.labels(video.website).observe(phases.durations["download"])
            self._metrics.bytes_downloaded.labels(video.website).inc(size)
            with phases.timing("progress"):
                await self._db.set_progress(video.id, job.status, size, size)
            with phases.timing("record"):
                category = await self._db.classify_video(video, list(info_tags(downloaded.info)))
            bounded = await trio.to_thread.run_sync(_bounded, video, downloaded, category)
            with phases.timing("upload"):
                service_id = await self._video_service.upload(bounded)
            self._metrics.upload_seconds.labels(video.website).observe(phases.durations["upload"])
            self._metrics.bytes_uploaded.labels(video.website).inc(size)
            message = f"delivered to the Video Service as {service_id}"
            if bounded.thumbnail_path is None:
                message += " (no thumbnail anywhere)"
            return await self._finish(job, service_id, message, "delivered")
        finally:
            with trio.CancelScope(shield=True):  # unbounded: a thread is waited for anyway
                await trio.to_thread.run_sync(shutil.rmtree, workdir, True)

    async def _download(self, job: Job, workdir: Path) -> ytdlp.Downloaded | ytdlp.Skipped:
        """The video into `workdir`, by a yt-dlp worker taken before the site's turn, so
        that the request goes out when the turn comes. A cancel or the timeout kills the
        worker wherever yt-dlp is."""
        video, phases = job.video, job.phases
        async with self._ytdlp.worker() as ytdlp_worker:
            with phases.timing("turn"):
                await self._sites.wait_turn(video.website)  # the site's interval between starts
            job.status = "downloading"
            with phases.timing("progress"):
                await self._db.set_progress(video.id, job.status, 0, 0)
            await trio.to_thread.run_sync(_fresh_directory, workdir)
            with trio.fail_after(self._settings.downloader.timeout_s), phases.timing("download"):
                return await ytdlp_worker.download(
                    video.url,
                    workdir,
                    self._settings.downloader,
                    job.progress,
                    self._settings.sites.allowed,
                    self._cookies.for_website(video.website),
                    str(video.listed.get("thumbnail", "")),
                    video.profiles,
                    {**video.listed, "title": video.title},
                )

    async def _finish(self, job: Job, service_id: str, message: str, outcome: str) -> str | None:
        with job.phases.timing("record"):
            recorded = await self._db.finish_video(job.video, service_id, message)
        if not recorded:
            log.warning("video %d: lease lost before it could be recorded done", job.video.id)
            self._metrics.lease_losses.inc()
            return None
        self._metrics.downloads.labels(job.video.website, outcome).inc()
        return message

    async def _skip(self, job: Job, skipped: ytdlp.Skipped) -> str | None:
        """No category listing the video wants it, as its metadata showed."""
        with job.phases.timing("record"):
            recorded = await self._db.skip_video(job.video, skipped.reason, skipped.fields)
        if not recorded:
            log.warning("video %d: lease lost before it could be recorded skipped", job.video.id)
            self._metrics.lease_losses.inc()
            return None
        self._metrics.downloads.labels(job.video.website, "skipped").inc()
        return f"skipped: {skipped.reason}"

    async def _failed(self, job: Job, error: Exception) -> None:
        """Carries out what failures.decide makes of the error."""
        video = job.video
        throttle = None
        if failures.is_site_answer(error):
            throttle = await self._sites.throttle_reason(video.website, str(error))
            job.site_outcome = "throttled" if throttle is not None else "answered"
        explain = functools.partial(self._shared.explained, video.website)
        decision = failures.decide(error, video.attempts, throttle, self._settings.downloader, explain)
        if isinstance(decision, failures.Throttled):
            site = self._sites.site_of(video.website)
            log.warning(
                "video %d: site %s throttles us (%s); waiting",
                video.id,
                site,
                decision.reason,
                extra=video_context(video),
            )
            await self._sites.throttled_video(video, decision.reason)
            self._metrics.downloads.labels(video.website, "throttled").inc()
            return
        status = await shielded(
            self._db.fail_attempt, video, decision.reason, decision.attempts, decision.retry_in_s
        )
        outcome = f"not recorded: {status.reason}" if isinstance(status, Failed) else status or "lease lost"
        log.warning("video %d: %s (%s)", video.id, decision.reason, outcome, extra=video_context(video))
        if isinstance(error, VideoServiceError):
            self._metrics.video_service_errors.inc()
        if status == "pending":
            self._metrics.retries.labels(video.website).inc()
        self._metrics.downloads.labels(video.website, "failed" if status == "failed" else "retried").inc()

    async def _after_cancel(self, job: Job) -> None:
        video, reason = job.video, job.cancel_reason or "cancelled"
        if reason == "lease lost":
            log.warning("video %d: lease lost; another instance owns it now", video.id)
            self._metrics.lease_losses.inc()
        elif job.cancel_to_failed:
            await shielded(self._db.fail_attempt, video, reason, 0, 0.0)
        else:
            # Not straight back to a downloader: whoever cancelled it wanted it stopped for now.
            delay = self._settings.downloader.retry_base_s
            await shielded(self._db.release_video, video, f"{reason}; back to pending", delay)


def _bounded(video: ClaimedVideo, downloaded: ytdlp.Downloaded, category: str) -> DownloadedVideo:
    """What goes to the Video Service: clean metadata, a bounded info JSON, a real image or none."""
    thumbnail = downloaded.thumbnail_path
    return DownloadedVideo(
        metadata=video_metadata(video, downloaded.info, category),
        video_path=downloaded.video_path,
        info_json_path=sanitize.delivered_info_json(downloaded.info_json_path, downloaded.info, category),
        thumbnail_path=thumbnail if thumbnail is not None and sanitize.is_image(thumbnail) else None,
        subtitle_paths=downloaded.subtitle_paths,
    )


def _fresh_directory(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
