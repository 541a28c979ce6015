"""The whole pipeline against real PostgreSQL, Redis, yt-dlp and the local content site:
categories listed, videos claimed, downloaded, locked, delivered and recorded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_asyncio
from grpclib.client import Channel

from scheduler.serve.service import Running, run
from scheduler.settings import Settings
from scheduler.v1 import scheduler_pb2 as pb
from scheduler.v1.scheduler_grpc import SchedulerStub
from tests.conftest import Api, Database, service_settings
from tests.content_site import ContentSite
from tests.support import free_port, scrape

# Generous: real downloads on a loaded 2-core machine; the waits end as soon as work is done.
DEADLINE_S = 60


def pipeline_settings(
    database_url: str, redis_url: str, data_dir: Path, **sections: dict[str, Any]
) -> Settings:
    defaults: dict[str, dict[str, Any]] = {
        # A listing that fails on a loaded machine is retried soon, not after the default 10 minutes.
        "sync": {"workers": 1, "min_backoff_s": 3600.0, "retry_s": 0.5},
        "schedule": {"pollers": 1, "poll_interval_s": 0.2, "lease_s": 30.0},
        "downloader": {"workers": 2, "retry_base_s": 0.2, "timeout_s": 30.0, "attempts": 3},
    }
    for name, values in sections.items():
        defaults[name] = defaults.get(name, {}) | values
    return service_settings(database_url, redis_url, data_dir, **defaults)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Running, Api]]:
    """The whole service in this test's loop, and a client of it; stopped on exit."""
    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(run, settings)
        channel = Channel("127.0.0.1", running.port)
        try:
            yield running, Api(SchedulerStub(channel), running.port)
        finally:
            channel.close()
            nursery.cancel_scope.cancel()


async def wait_for(db: Database, sql: str, expected: Any, *args: Any) -> None:
    """Polls a query until it returns `expected` (the pipeline works in real time)."""
    with trio.fail_after(DEADLINE_S):
        # A poll of the database on purpose: the work happens in other tasks and processes.
        while (value := await db.value(sql, *args)) != expected:  # noqa: ASYNC110
            await trio.sleep(0.1)
    assert value == expected


def media_files(root: Path) -> dict[str, Path]:
    """foreign id -> the delivered video file, from the directory Video Service."""
    found = {}
    for info in root.glob("*/*/info.json"):
        [video] = [p for p in info.parent.iterdir() if p.suffix == ".mp4"]
        found[json.loads(info.read_text())["id"]] = video
    return found


async def test_two_overlapping_feeds_deliver_every_video_once_oldest_first(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    for n, name in enumerate("abcd"):
        site.add_video(name, size=150_000 + n, title=f"Title of {name}")
    first = site.feed("first", ["a", "b", "c"])
    second = site.feed("second", ["b", "c", "d"])
    settings = pipeline_settings(database_url, redis_url, tmp_path, downloader={"workers": 1})

    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=first, user_id=1))
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=second, user_id=2))
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 4)
        listed = {
            user: (await api("ListCategories", pb.ListCategoriesRequest(user_id=user))).categories
            for user in (1, 2)
        }
        events = (await api("ListEvents", pb.ListEventsRequest(show_all=True, limit=1000))).events

    delivered = media_files(settings.video_service.directory)
    assert set(delivered) == {"a", "b", "c", "d"}
    for name, path in delivered.items():
        assert path.read_bytes() == site.video_bytes(name)
        info = json.loads((path.parent / "info.json").read_text())
        assert info["id"] == name
    # Each video fetched by one download only (yt-dlp's extractor looks once, then downloads).
    downloads = [r.path for r in site.requests if r.path.startswith("/videos/") and r.method == "GET"]
    assert sorted(set(downloads)) == [f"/videos/{n}.mp4" for n in "abcd"]
    assert await db.value("SELECT count(*) FROM previous_downloads") == 4
    # Oldest first within each category (one downloader: the order is the claim order).
    order = [p.removeprefix("/videos/").removesuffix(".mp4") for p in dict.fromkeys(downloads)]
    assert order == ["a", "b", "c", "d"]
    assert [(c.archived_videos, c.total_videos) for c in listed[1]] == [(3, 3)]
    assert [(c.archived_videos, c.total_videos) for c in listed[2]] == [(3, 3)]
    assert listed[1][0].last_synced != ""
    messages = [e.message for e in events]
    assert sum(m.startswith("delivered to the Video Service") for m in messages) >= 4
    assert "synced: 3 listed, 3 new" in messages


async def test_the_listed_title_replaces_a_file_name_title(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("clip", title="A proper title", description="Told in the feed.")
    feed = site.feed("feed", ["clip"])
    settings = pipeline_settings(database_url, redis_url, tmp_path)

    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 1)

    [video] = media_files(settings.video_service.directory).values()
    metadata = json.loads((video.parent / "metadata.json").read_text())
    assert metadata["title"] == "A proper title"
    assert metadata["description"] == "Told in the feed."


async def test_a_resync_delivers_a_video_that_appeared_later(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("old")
    feed = site.feed("feed", ["old"])
    settings = pipeline_settings(database_url, redis_url, tmp_path, sync={"min_backoff_s": 0.5})

    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 1)
        site.add_video("new")
        site.feed("feed", ["old", "new"])
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 2)
        [category] = (await api("ListCategories", pb.ListCategoriesRequest(user_id=1))).categories

    assert set(media_files(settings.video_service.directory)) == {"old", "new"}
    assert (category.archived_videos, category.total_videos) == (2, 2)
    positions = await db.fetch(
        "SELECT v.foreign_id, cv.position FROM category_videos cv JOIN videos v ON v.id = cv.video_id"
    )
    assert dict(positions) == {"old": -1, "new": 0}  # a first listing before 0, re-syncs after


async def test_a_failing_video_is_retried_then_failed_with_its_error(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("good")
    site.add_video("gone")
    site.set_mode("gone", "404")
    feed = site.feed("feed", ["good", "gone"])
    settings = pipeline_settings(database_url, redis_url, tmp_path, downloader={"attempts": 2})

    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT status::text FROM videos WHERE foreign_id = 'gone'", "failed")
        await wait_for(db, "SELECT status::text FROM videos WHERE foreign_id = 'good'", "done")
        [category] = (await api("ListCategories", pb.ListCategoriesRequest(user_id=1))).categories

    [row] = await db.fetch("SELECT attempts, last_error FROM videos WHERE foreign_id = 'gone'")
    assert row["attempts"] == 2
    assert "404" in row["last_error"]
    assert (category.archived_videos, category.undownloadable_videos, category.total_videos) == (1, 1, 2)
    assert len(site.requests_for(site.video("gone").path)) == 2  # one per attempt


async def test_a_broken_feed_is_an_event_and_a_retry_not_a_crash(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("v")
    feed = site.feed("feed", ["v"])
    site.set_feed_mode("feed", "garbage")
    settings = pipeline_settings(database_url, redis_url, tmp_path, sync={"retry_s": 0.3})

    async with serving(settings) as (_, api):
        response = await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(
            db, "SELECT count(*) > 0 FROM archival_events WHERE message LIKE 'listing failed:%'", True
        )
        site.set_feed_mode("feed", "ok")
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 1)
        events = (await api("ListEvents", pb.ListEventsRequest(category_id=response.category_id))).events

    assert any("Unsupported URL" in e.message for e in events)


async def test_a_video_locked_elsewhere_is_skipped_then_delivered(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    from scheduler.redlock import Redlock

    site.add_video("contested")
    feed = site.feed("feed", ["contested"])
    settings = pipeline_settings(database_url, redis_url, tmp_path, lock={"ttl_s": 1.0})

    async with Redlock.open([redis_url], ttl_s=30) as other:
        lock = await other.acquire(f"{site.host}:contested")
        assert lock is not None
        async with serving(settings) as (_, api):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(
                db, "SELECT count(*) > 0 FROM archival_events WHERE message LIKE 'locked by another%'", True
            )
            assert await db.value("SELECT status::text FROM videos") == "pending"
            assert site.requests_for(site.video("contested").path) == []
            await other.release(lock)
            await wait_for(db, "SELECT status::text FROM videos", "done")

    assert await db.value("SELECT attempts FROM videos") == 0  # a skip is not a failed attempt


async def test_two_instances_deliver_every_video_exactly_once(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    names = [f"v{n:02d}" for n in range(12)]
    for name in names:
        site.add_video(name, size=60_000)
    feed = site.feed("feed", names)

    async with (
        serving(pipeline_settings(database_url, redis_url, tmp_path / "one")) as (_, api),
        serving(pipeline_settings(database_url, redis_url, tmp_path / "two")),
    ):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", len(names))

    owners = await db.fetch("SELECT count(*) FROM previous_downloads")
    assert owners[0][0] == len(names)
    delivered = {
        **media_files(tmp_path / "one" / "media"),
        **media_files(tmp_path / "two" / "media"),
    }
    assert set(delivered) == set(names)
    downloads = [r.path for r in site.requests if r.path.startswith("/videos/") and r.method == "GET"]
    # The extractor's look and the download: two GETs per video, never a second download.
    assert all(downloads.count(site.video(n).path) == 2 for n in names), downloads


async def test_nothing_is_left_in_flight_after_a_stop(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("slow", size=10_000_000)
    site.set_mode("slow", "trickle")
    feed = site.feed("feed", ["slow"])
    settings = pipeline_settings(database_url, redis_url, tmp_path, shutdown={"grace_s": 0.5})

    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(run, settings)
        channel = Channel("127.0.0.1", running.port)
        api = Api(SchedulerStub(channel), running.port)
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT status::text FROM videos", "downloading")
        channel.close()
        running.stop()
        with trio.fail_after(DEADLINE_S):
            await running.stopped.wait()

    [row] = await db.fetch("SELECT status::text, lease_owner, attempts FROM videos")
    assert (row["status"], row["lease_owner"], row["attempts"]) == ("pending", None, 0)
    assert not list((tmp_path / "work").glob("*/*")), "a partial download survived the stop"


async def video_id_of(db: Database, foreign_id: str) -> int:
    return int(await db.value("SELECT id FROM videos WHERE foreign_id = $1", foreign_id))


@pytest.mark.parametrize(
    ("fail", "status"), [(False, "pending"), (True, "failed")], ids=["pending", "failed"]
)
async def test_cancel_download_stops_a_running_download_and_leaves_no_partial_file(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    site: ContentSite,
    db: Database,
    fail: bool,
    status: str,
) -> None:
    site.add_video("slow", size=10_000_000)
    site.set_mode("slow", "trickle")
    feed = site.feed("feed", ["slow"])
    settings = pipeline_settings(database_url, redis_url, tmp_path, downloader={"retry_base_s": 3600.0})

    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT status::text FROM videos", "downloading")
        video_id = await video_id_of(db, "slow")
        response = await api("CancelDownload", pb.CancelDownloadRequest(video_id=video_id, fail=fail))
        await wait_for(db, "SELECT status::text FROM videos", status)
        again = await api("CancelDownload", pb.CancelDownloadRequest(video_id=video_id))

    assert response.was_running and not again.was_running
    assert await db.value("SELECT lease_owner FROM videos") is None
    assert (
        await db.value(
            "SELECT count(*) FROM archival_events WHERE message LIKE '%cancelled by CancelDownload%'"
        )
        == 1
    )
    assert not list((tmp_path / "work").glob("*/*/*")), "a partial download survived the cancel"


async def test_a_download_over_its_timeout_is_stopped_and_counted_as_a_failure(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("slow", size=10_000_000)
    site.set_mode("slow", "trickle")
    feed = site.feed("feed", ["slow"])
    settings = pipeline_settings(
        database_url, redis_url, tmp_path, downloader={"timeout_s": 1.0, "attempts": 1}
    )

    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT status::text FROM videos", "failed")

    assert await db.value("SELECT last_error FROM videos") == "timed out after 1s"
    assert not list((tmp_path / "work").glob("*/*/*"))


async def test_watch_downloads_streams_every_state_change(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("one")
    site.add_video("two")
    feed = site.feed("feed", ["one", "two"])
    seen: list[tuple[str, str]] = []
    following = trio.Event()

    async def watch(api: Api) -> None:
        async def follow() -> None:
            async with api.stub.WatchDownloads.open() as stream:
                await stream.send_message(pb.WatchDownloadsRequest(), end=True)
                await stream.recv_initial_metadata()  # sent once the server follows the changes
                following.set()
                async for download in stream:
                    seen.append((download.foreign_id, pb.VideoStatus.Name(download.status)))

        await trio_asyncio.aio_as_trio(follow)()

    async with (
        serving(pipeline_settings(database_url, redis_url, tmp_path)) as (_, api),
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(watch, api)
        await following.wait()  # the stream is open before the work starts
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 2)
        with trio.fail_after(DEADLINE_S):
            while {("one", "DONE"), ("two", "DONE")} - set(seen):  # noqa: ASYNC110 (filled by a stream)
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()

    for name in ("one", "two"):
        states = list(dict.fromkeys(s for n, s in seen if n == name))
        # (PENDING shows too when a listing sets the video's claim order.)
        assert [s for s in states if s != "PENDING"] == ["QUEUED", "DOWNLOADING", "UPLOADING", "DONE"], states


async def test_delivery_to_a_horahora_video_service_with_a_retry(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    from tests.fake_video_service import running_fake_horahora

    site.add_video("clip", size=2_500_000, title="Clip title", description="Clip description")
    feed = site.feed("feed", ["clip"])

    async with running_fake_horahora() as fake:
        fake.fail_next_uploads = 1
        fake.keep_bytes = True
        settings = pipeline_settings(
            database_url, redis_url, tmp_path, video_service={"kind": "horahora", "address": fake.address}
        )
        async with serving(settings) as (_, api):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, "SELECT status::text FROM videos", "done")

    [upload] = fake.uploads
    assert upload.video == site.video_bytes("clip")
    assert (upload.meta.title, upload.meta.description) == ("Clip title", "Clip description")
    assert (upload.meta.originalSite, upload.meta.originalID) == (site.host, "clip")
    assert [kind for kind, _ in upload.chunks][:2] == ["meta", "content"]
    assert await db.value("SELECT attempts FROM videos") == 1  # the refused upload, then success
    service_id = await db.value("SELECT video_service_id FROM previous_downloads")
    assert service_id == str(upload.video_id)


async def test_with_approval_required_a_video_waits_for_approve_video(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("wanted")
    site.add_video("unwanted")
    feed = site.feed("feed", ["wanted", "unwanted"])
    port = free_port()
    settings = pipeline_settings(
        database_url, redis_url, tmp_path, approval={"required": True}, metrics={"port": port}
    )

    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT count(*) FROM videos", 2)
        await claims_made(port, 2)  # one at least since the videos were stored: nothing may start
        assert await db.value("SELECT count(*) FROM videos WHERE status <> 'pending'") == 0
        waiting = (await api("ListUnapprovedVideos", pb.ListUnapprovedVideosRequest())).videos
        by_name = {v.foreign_id: v.id for v in waiting}
        await api("ApproveVideo", pb.ApproveVideoRequest(video_id=by_name["wanted"]))
        await api("RejectVideo", pb.RejectVideoRequest(video_id=by_name["unwanted"]))
        await wait_for(db, "SELECT status::text FROM videos WHERE foreign_id = 'wanted'", "done")

    assert await db.value("SELECT status::text FROM videos WHERE foreign_id = 'unwanted'") == "pending"
    assert site.requests_for(site.video("unwanted").path) == []


async def test_a_video_over_the_size_limit_is_refused_at_once(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("huge", size=3_000_000)
    feed = site.feed("feed", ["huge"])
    settings = pipeline_settings(database_url, redis_url, tmp_path, downloader={"max_filesize": 1_000_000})

    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT status::text FROM videos", "failed")

    [row] = await db.fetch("SELECT attempts, last_error FROM videos")
    assert row["attempts"] == 1  # no point retrying: it stays too large
    assert "1000000-byte limit" in row["last_error"]
    assert media_files(settings.video_service.directory) == {}
    assert not list((tmp_path / "work").glob("*/*/*"))


async def test_a_disabled_download_cache_rechecks_delivered_videos_on_each_sync(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("kept")
    feed = site.feed("feed", ["kept"])
    settings = pipeline_settings(database_url, redis_url, tmp_path, sync={"min_backoff_s": 0.3})
    rechecked = "SELECT count(*) > 0 FROM archival_events WHERE message = 'already in the Video Service'"

    async with serving(settings) as (_, api):
        request = pb.ScheduleCategoryRequest(url=feed, user_id=1, disable_download_cache=True)
        await api("ScheduleCategory", request)
        await wait_for(db, rechecked, True)
        await wait_for(db, "SELECT status::text FROM videos", "done")

    assert len(media_files(settings.video_service.directory)) == 1
    downloads = [r for r in site.requests_for(site.video("kept").path) if r.method == "GET"]
    assert len(downloads) == 2  # one delivery (the extractor's look and the download), then checks only


async def test_a_video_service_that_keeps_failing_fails_the_video_with_its_error(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    from tests.fake_video_service import running_fake_horahora

    site.add_video("refused")
    feed = site.feed("feed", ["refused"])

    async with running_fake_horahora() as fake:
        fake.fail_next_uploads = 100
        settings = pipeline_settings(
            database_url,
            redis_url,
            tmp_path,
            video_service={"kind": "horahora", "address": fake.address},
            downloader={"attempts": 2},
        )
        async with serving(settings) as (_, api):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, "SELECT status::text FROM videos", "failed")

    [row] = await db.fetch("SELECT attempts, last_error FROM videos")
    assert row["attempts"] == 2
    assert "UNAVAILABLE" in row["last_error"]
    assert fake.uploads == []
    assert await db.value("SELECT count(*) FROM previous_downloads") == 0  # nothing done unacknowledged


async def test_between_full_listings_a_sync_reads_only_the_newest_entries(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    for name in ("a", "b", "c"):
        site.add_video(name)
    feed = site.feed("feed", ["a", "b", "c"])
    settings = pipeline_settings(
        database_url,
        redis_url,
        tmp_path,
        sync={"min_backoff_s": 0.3, "partial_entries": 1, "full_every": 1000},
    )

    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 3)
        site.add_video("d")
        site.feed("feed", ["a", "b", "c", "d"])
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 4)

    messages = [r[0] for r in await db.fetch("SELECT message FROM archival_events ORDER BY id")]
    assert "synced: 3 listed, 3 new" in messages  # the first sync is a full one
    assert "synced: 1 listed, 1 new" in messages  # then only the newest entry


async def claims_made(metrics_port: int, claims: int) -> None:
    """Returns once the pollers have claimed `claims` more times (their metric counts every
    claim, whether it found videos or not)."""
    counted = ("scheduler_claim_seconds_count", ())
    first = (await scrape(metrics_port)).get(counted, 0.0)
    with trio.fail_after(DEADLINE_S):
        # A poll of the endpoint on purpose, as an operator's scraper would read it.
        while (await scrape(metrics_port)).get(counted, 0.0) < first + claims:  # noqa: ASYNC110
            await trio.sleep(0.05)
