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
from scheduler.cookies import CookieJars
from scheduler.db.trio_store import TrioStore
from scheduler.errors import DatabaseUnavailable
from scheduler.pipeline import ytdlp
from scheduler.pipeline.sites import Outcome, SiteGate
from scheduler.pipeline.wakeup import Wakeup
from scheduler.settings import Settings
from scheduler.work import UntaggedVideo

log = logging.getLogger(__name__)

# The database is away: look again after this long.
RECONNECT_S = 2.0


async def fetch_tags(
    settings: Settings,
    db: TrioStore,
    sites: SiteGate,
    cookies: CookieJars,
    wakeup: Wakeup,
    owner: str,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    while True:
        seen = wakeup.generation
        try:
            await sites.refresh()
            video = await db.take_untagged_video(sites.busy_websites())
        except DatabaseUnavailable as error:
            log.warning("taking a video for its tags failed (%s); pausing %.1fs", error, RECONNECT_S)
            await trio.sleep(RECONNECT_S)
            continue
        if video is None:
            await wakeup.wait(seen, sites.poll_wait(settings.schedule.poll_interval_s))
            continue
        if ytdlp.names_a_media_file(video.url):
            continue  # a feed's enclosure: no page to read tags from, and no request for nothing
        holder = f"{owner}:tags:{video.id}"
        [wait] = await sites.enter("listings", [(video.website, holder)])
        if wait is not None:  # the site has no room now: another pass takes it
            await shielded(db.give_back_untagged_video, video)
            continue
        outcome: Outcome = None
        try:
            outcome = await _fetch(settings, db, sites, cookies, video)
        finally:
            await sites.leave("listings", video.website, holder, outcome)


async def _fetch(
    settings: Settings, db: TrioStore, sites: SiteGate, cookies: CookieJars, video: UntaggedVideo
) -> Outcome:
    await sites.wait_turn(video.website)
    try:
        with trio.fail_after(settings.downloader.timeout_s):
            tags = await trio.to_thread.run_sync(
                ytdlp.video_tags,
                video.url,
                settings.downloader,
                settings.sites.allowed,
                cookies.for_website(video.website),
            )
    except (ytdlp.YtdlpError, trio.TooSlowError) as error:
        log.warning("video %d: its metadata could not be read: %s", video.id, error or "timed out")
        return "answered" if isinstance(error, ytdlp.YtdlpError) else None
    category = await db.set_fetched_tags(video, list(tags))
    log.info("video %d: %d tags from its metadata: %s", video.id, len(tags), category)
    return "served"
