"""SCHEDULER_SCHEDULE__LISTEN=false (a PgBouncer in transaction pooling mode cannot LISTEN):
no LISTEN connection, yet due work is claimed within the poll interval, and CancelDownload
still stops a running download through the heartbeat."""

from __future__ import annotations

from pathlib import Path

import trio

from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Api, Database
from tests.content_site import ContentSite, content_site
from tests.test_pipeline import pipeline_settings, serving, wait_for

POLL_INTERVAL_S = 1.0
# What a loaded 2-core machine may add to the poll interval (a claim, a lock, a write).
SLACK_S = 2.0


async def test_with_listen_off_due_work_is_polled_and_cancel_download_still_works(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    settings = pipeline_settings(
        database_url,
        redis_url,
        tmp_path,
        sync={"workers": 0},  # nothing but the retried video moves
        # lease_s 3: the heartbeat, CancelDownload's only way in without LISTEN, beats every second.
        schedule={"listen": False, "poll_interval_s": POLL_INTERVAL_S, "lease_s": 3.0},
        downloader={"retry_base_s": 3600.0},
    )
    with content_site() as site:
        async with serving(settings) as (_, api):
            video_id = await _failed_trickling_video(api, db, site)

            await api("RetryFailed", pb.RetryFailedRequest(user_id=1, category_id=1))
            retried = trio.current_time()
            await wait_for(db, "SELECT status::text FROM videos", "downloading")
            picked_up_after = trio.current_time() - retried

            listening = await db.value(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
            )
            response = await api("CancelDownload", pb.CancelDownloadRequest(video_id=video_id))
            await wait_for(db, "SELECT status::text FROM videos", "pending")

    assert listening == 0
    assert picked_up_after < POLL_INTERVAL_S + SLACK_S
    assert response.was_running
    assert await db.value("SELECT lease_owner FROM videos") is None
    cancelled = "SELECT count(*) FROM archival_events WHERE message LIKE '%cancelled by CancelDownload%'"
    assert await db.value(cancelled) == 1


async def _failed_trickling_video(api: Api, db: Database, site: ContentSite) -> int:
    """Category 1 (user 1) with one failed video that downloads slowly once retried."""
    site.add_video("slow", size=10_000_000)
    site.set_mode("slow", "trickle")
    await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=site.feed("feed", ["slow"]), user_id=1))
    video_id = await db.add_video(1, "slow", status="failed")
    await db.value("UPDATE videos SET url = $1 WHERE id = $2", site.video("slow").url, video_id)
    return video_id
