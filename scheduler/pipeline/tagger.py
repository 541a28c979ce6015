"""With approval required, the content category is known before an administrator decides:
a video awaiting approval whose listing gave no tags has its metadata fetched, once (yt-dlp,
no download), and its tags classify it (migrations/0011, 0012).

One task per instance takes such videos one at a time. Each fetch is a request to the site
like any other: it goes through the site's gate (a place among its listings, the interval
between starts, its breaker) and the SSRF guard, with the site's cookies. A video whose
site has no room goes back for a later pass; a fetch that fails leaves the video as it was
(General), and it is not tried again. A URL that names a media file (a feed's enclosure)
has no page to read, and is not fetched at all.
"""

from __future__ import annotations

import logging

import trio

from scheduler.cleanup import shielded
from scheduler.errors import DatabaseUnavailable
from scheduler.pipeline import ytdlp
from scheduler.pipeline.shared import Backoff, Shared, pause_after
from scheduler.pipeline.site_gate import Outcome
from scheduler.pipeline.ytdlp.pool import Worker, WorkerDied
from scheduler.work import UntaggedVideo

log = logging.getLogger(__name__)


async def fetch_tags(
    shared: Shared, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    db, sites, wakeup = shared.db, shared.sites, shared.wakeup
    backoff = Backoff()
    task_status.started()
    while True:
        seen = wakeup.generation
        try:
            await sites.refresh()
            video = await db.take_untagged_video(sites.busy_websites())
            backoff.succeeded()
        except DatabaseUnavailable as error:
            await pause_after(backoff, "taking a video for its tags", error)
            continue
        if video is None:
            await wakeup.wait(seen, sites.poll_wait(shared.settings.schedule.poll_interval_s))
            continue
        await _tag(shared, video)


async def _tag(shared: Shared, video: UntaggedVideo) -> None:
    sites = shared.sites
    try:
        # A worker ready before the site's turn: the request goes out when the turn comes.
        async with shared.ytdlp.worker() as ytdlp_worker:
            if await ytdlp_worker.names_a_media_file(video.url):
                return  # a feed's enclosure: no page to read tags from, and no request for nothing
            holder = f"{shared.owner}:tags:{video.id}"
            [wait] = await sites.enter("listings", [(video.website, holder)])
            if wait is not None:  # the site has no room now: another pass takes it
                await shielded(shared.db.give_back_untagged_video, video)
                return
            outcome: Outcome = None
            try:
                outcome = await _fetch(shared, ytdlp_worker, video)
            finally:
                await sites.leave("listings", video.website, holder, outcome)
    except WorkerDied as error:
        log.warning("video %d: its metadata could not be read: %s", video.id, error)


async def _fetch(shared: Shared, ytdlp_worker: Worker, video: UntaggedVideo) -> Outcome:
    settings = shared.settings
    try:
        await shared.sites.wait_turn(video.website)
        with trio.fail_after(settings.downloader.timeout_s):
            tags = await ytdlp_worker.video_tags(
                video.url,
                settings.downloader,
                settings.sites.allowed,
                shared.cookies.for_website(video.website),
            )
    except (ytdlp.YtdlpError, trio.TooSlowError) as error:
        log.warning("video %d: its metadata could not be read: %s", video.id, error or "timed out")
        return "answered" if isinstance(error, ytdlp.YtdlpError) else None
    try:
        category = await shared.db.set_fetched_tags(video, list(tags))
    except DatabaseUnavailable as error:  # the video stays as it was (General), like a failed fetch
        log.warning("video %d: its tags could not be stored: %s", video.id, error)
    else:
        log.info("video %d: %d tags from its metadata: %s", video.id, len(tags), category)
    return "served"
