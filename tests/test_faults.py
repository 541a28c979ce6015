"""Faults with real processes: a `scheduler serve` killed with SIGKILL, leftovers of a dead
process, a Video Service that already has the video (a crash after upload, before commit)."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from scheduler.pipeline.pipeline import remove_dead_work_directories
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import ALLOWED_SITES, Api, Database
from tests.content_site import ContentSite, content_site
from tests.support import clean_environment, free_port, scheduler_process, wait_until_listening
from tests.test_pipeline import media_files, pipeline_settings, serving, wait_for


def instance_environment(database_url: str, redis_url: str, data_dir: Path, media: Path) -> dict[str, str]:
    """A `scheduler serve` sharing the database, Redis and media directory, with short
    leases and locks so that a dead instance's work comes back within seconds."""
    return clean_environment(
        SCHEDULER_DATABASE__URL=database_url,
        SCHEDULER_REDIS__URLS=json.dumps([redis_url]),
        SCHEDULER_GRPC__HOST="127.0.0.1",
        SCHEDULER_GRPC__PORT=str(free_port()),
        SCHEDULER_SITES__ALLOWED=json.dumps(ALLOWED_SITES),
        SCHEDULER_DATA_DIR=str(data_dir),
        SCHEDULER_VIDEO_SERVICE__DIRECTORY=str(media),
        SCHEDULER_SCHEDULE__LEASE_S="2",
        SCHEDULER_SCHEDULE__POLL_INTERVAL_S="0.2",
        SCHEDULER_LOCK__TTL_S="2",
        SCHEDULER_DOWNLOADER__RETRY_BASE_S="0.2",
    )


async def test_a_killed_instances_videos_are_reclaimed_and_delivered_once(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    media = tmp_path / "media"
    with content_site() as site:
        for name in ("slow", "other"):
            site.add_video(name, size=400_000)
        site.set_mode("slow", "trickle")
        feed = site.feed("feed", ["slow", "other"])
        first = instance_environment(database_url, redis_url, tmp_path / "first", media)
        second = instance_environment(database_url, redis_url, tmp_path / "second", media)

        async with scheduler_process(first, tmp_path / "first.log", "serve") as doomed:
            with trio.fail_after(60):
                await wait_until_listening(int(first["SCHEDULER_GRPC__PORT"]), doomed, tmp_path / "first.log")
            await db.value(
                "INSERT INTO categories (url, website, kind, subscriber_count) VALUES ($1, $2, 'url', 1)",
                feed,
                site.host,
            )
            await db.value("SELECT pg_notify('scheduler_work', '')")
            await wait_for(db, "SELECT status::text FROM videos WHERE foreign_id = 'slow'", "downloading")
            doomed.kill()  # SIGKILL: no cleanup at all
            await doomed.wait()
        assert await db.value("SELECT status::text FROM videos WHERE foreign_id = 'slow'") == "downloading"
        leftovers = list((tmp_path / "first" / "work").glob("*/*"))
        site.set_mode("slow", "ok")

        async with scheduler_process(second, tmp_path / "second.log", "serve") as survivor:
            await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 2)
            survivor.send_signal(signal.SIGTERM)
            with trio.fail_after(30):
                assert await survivor.wait() == 0

    assert set(media_files(media)) == {"slow", "other"}
    assert await db.value("SELECT count(*) FROM previous_downloads") == 2
    assert await db.value("SELECT count(*) FROM videos WHERE lease_owner IS NOT NULL") == 0
    assert leftovers, "the killed instance had a download in progress"


def test_only_a_dead_processes_work_directories_are_removed(tmp_path: Path) -> None:
    host = socket.gethostname()
    dead = tmp_path / f"{host}-999999999-abc123" / "7"
    alive = tmp_path / f"{host}-{os.getpid()}-def456" / "8"
    elsewhere = tmp_path / "another-host-999999999-aaaaaa" / "9"
    for directory in (dead, alive, elsewhere):
        directory.mkdir(parents=True)
        (directory / "video.mp4.part").write_bytes(b"partial")

    removed = remove_dead_work_directories(tmp_path)

    assert removed == [dead.parent]
    assert not dead.exists() and alive.exists() and elsewhere.exists()


async def test_a_video_the_video_service_already_has_is_not_uploaded_twice(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    """A crash after the upload but before the commit: the retry finds it there."""
    with content_site() as site:
        site.add_video("delivered")
        feed = site.feed("feed", ["delivered"])
        settings = pipeline_settings(database_url, redis_url, tmp_path)
        existing = settings.video_service.directory / site.host / "delivered"
        existing.mkdir(parents=True)
        (existing / "video.mp4").write_bytes(b"uploaded before the crash")

        async with serving(settings) as (_, api):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, "SELECT status::text FROM videos", "done")

        requests = site.requests_for(site.video("delivered").path)

    assert requests == []  # never downloaded
    assert (existing / "video.mp4").read_bytes() == b"uploaded before the crash"
    assert await db.value("SELECT video_service_id FROM previous_downloads") == "existing"
    assert (
        await db.value("SELECT count(*) FROM archival_events WHERE message = 'already in the Video Service'")
        == 1
    )


async def test_redis_down_means_skipped_for_later_never_failed(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    from scheduler import embedded

    redis = await trio.to_thread.run_sync(embedded.start_redis, tmp_path / "redis")
    with content_site() as site:
        site.add_video("patient")
        feed = site.feed("feed", ["patient"])
        settings = pipeline_settings(database_url, redis.url, tmp_path, lock={"ttl_s": 1.0})
        async with serving(settings) as (_, api):
            await trio.to_thread.run_sync(redis.stop)  # the only lock (and site limit) server is gone
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            # No place can be taken on the site: the listing is put off, not failed.
            await wait_for(db, "SELECT next_sync_at > now() AND last_synced IS NULL FROM categories", True)
            assert site.requests == []  # the site is not touched without its limits
            assert await db.value("SELECT count(*) FROM archival_events WHERE message LIKE '%fail%'") == 0
            redis = await trio.to_thread.run_sync(embedded.start_redis, tmp_path / "redis")
            await wait_for(db, "SELECT status::text FROM videos", "done")
        await trio.to_thread.run_sync(redis.stop)


@asynccontextmanager
async def serving_on_three_redis(
    database_url: str, tmp_path: Path, video: str
) -> AsyncIterator[tuple[Api, ContentSite, list[Any]]]:
    """One service on three embedded Redis servers (locks: a quorum of two; site limits:
    the first), a content site with one video, and the servers, to stop some of them."""
    from scheduler import embedded

    servers = [await trio.to_thread.run_sync(embedded.start_redis, tmp_path / f"r{n}") for n in range(3)]
    try:
        with content_site() as site:
            site.add_video(video)
            settings = pipeline_settings(
                database_url, servers[0].url, tmp_path, redis={"urls": [s.url for s in servers]}
            )
            async with serving(settings) as (_, api):
                yield api, site, servers
    finally:
        for server in servers:
            await trio.to_thread.run_sync(server.stop)


async def test_with_three_redis_servers_one_down_work_goes_on(
    database_url: str, tmp_path: Path, db: Database
) -> None:
    async with serving_on_three_redis(database_url, tmp_path, "quorum") as (api, site, servers):
        await trio.to_thread.run_sync(servers[1].stop)
        await api(
            "ScheduleCategory", pb.ScheduleCategoryRequest(url=site.feed("feed", ["quorum"]), user_id=1)
        )
        await wait_for(db, "SELECT status::text FROM videos", "done")


async def test_without_a_lock_quorum_a_video_is_skipped_for_later_never_failed(
    database_url: str, tmp_path: Path, db: Database
) -> None:
    """The site limits' server (the first) answers, but two of three lock servers do not."""
    async with serving_on_three_redis(database_url, tmp_path, "patient") as (api, site, servers):
        for server in servers[1:]:
            await trio.to_thread.run_sync(server.stop)
        await api(
            "ScheduleCategory", pb.ScheduleCategoryRequest(url=site.feed("feed", ["patient"]), user_id=1)
        )
        skipped = "SELECT count(*) > 0 FROM archival_events WHERE message LIKE 'lock unavailable%'"
        await wait_for(db, skipped, True)
        assert await db.value("SELECT (status::text, attempts) FROM videos") == ("pending", 0)
        assert site.requests_for(site.video("patient").path) == []  # never without the lock


async def test_postgresql_going_away_and_coming_back(redis_url: str, tmp_path: Path) -> None:
    from grpclib import GRPCError, Status

    from scheduler import embedded
    from tests.conftest import Database as DirectSql

    postgres = await trio.to_thread.run_sync(embedded.start_postgres, tmp_path / "postgres")
    db = DirectSql(postgres.url)
    try:
        with content_site() as site:
            site.add_video("during", size=24_000)
            site.set_mode("during", "trickle")  # ~5 s: the outage happens mid-download
            site.add_video("after")
            settings = pipeline_settings(
                postgres.url,
                redis_url,
                tmp_path,
                schedule={"poll_interval_s": 60.0},  # only NOTIFY can make the second video quick
                sync={"min_backoff_s": 3600.0},
            )
            async with serving(settings) as (running, api):
                request = pb.ScheduleCategoryRequest(url=site.feed("first", ["during"]), user_id=1)
                await api("ScheduleCategory", request)
                await wait_for(db, "SELECT status::text FROM videos", "downloading")

                await trio.to_thread.run_sync(postgres.stop)
                error = await api.error("ListCategories", pb.ListCategoriesRequest(user_id=1))
                assert error.status is Status.UNAVAILABLE
                await trio.sleep(1)  # workers meet the outage: errors logged, nothing exits
                assert not running.stopped.is_set()
                postgres = await trio.to_thread.run_sync(embedded.start_postgres, tmp_path / "postgres")

                await wait_for(db, "SELECT status::text FROM videos WHERE foreign_id = 'during'", "done")
                with trio.fail_after(20):
                    while True:
                        try:
                            await api(
                                "ScheduleCategory",
                                pb.ScheduleCategoryRequest(url=site.feed("second", ["after"]), user_id=1),
                            )
                            break
                        except GRPCError:  # the pool may still hold a connection of the old server
                            await trio.sleep(0.2)
                    await wait_for(db, "SELECT status::text FROM videos WHERE foreign_id = 'after'", "done")
                assert await db.value("SELECT count(*) FROM videos WHERE lease_owner IS NOT NULL") == 0
    finally:
        await trio.to_thread.run_sync(postgres.stop)


async def test_the_database_going_away_while_tags_are_fetched_is_waited_out(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With approval required, the tagger fetches a video's metadata; the database goes
    away before it can store the tags. The video stays as it was; the service lives on."""
    from scheduler import embedded
    from tests.conftest import Database as DirectSql

    postgres = await trio.to_thread.run_sync(embedded.start_postgres, tmp_path / "postgres")
    db = DirectSql(postgres.url)
    try:
        with content_site() as site:
            site.add_page_video("held", tags=("MAD",))
            release = site.hold_page("held")
            settings = pipeline_settings(postgres.url, redis_url, tmp_path, approval={"required": True})
            async with serving(settings) as (running, api):
                await api(
                    "ScheduleCategory", pb.ScheduleCategoryRequest(url=site.feed("f", ["held"]), user_id=1)
                )
                with trio.fail_after(20):
                    # Polled on purpose: the site answers in a thread of its own.
                    while not site.requests_for("/pages/held.html"):  # noqa: ASYNC110
                        await trio.sleep(0.05)
                    await trio.to_thread.run_sync(postgres.stop)
                    release.set()
                    while not any("its tags could not be stored" in r.getMessage() for r in caplog.records):  # noqa: ASYNC110
                        await trio.sleep(0.05)
                assert not running.stopped.is_set()
                postgres = await trio.to_thread.run_sync(embedded.start_postgres, tmp_path / "postgres")
                await wait_for(db, "SELECT content_category FROM videos WHERE foreign_id = 'held'", "General")
            assert await db.value("SELECT metadata_fetched FROM videos") is True
    finally:
        await trio.to_thread.run_sync(postgres.stop)


async def test_a_truncated_download_is_retried_and_leaves_no_partial_file(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    with content_site() as site:
        site.add_video("cut", size=300_000)
        site.set_mode("cut", "truncated")  # Content-Length larger than the body
        feed = site.feed("feed", ["cut"])
        settings = pipeline_settings(database_url, redis_url, tmp_path, downloader={"retry_base_s": 0.3})
        async with serving(settings) as (_, api):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, "SELECT attempts > 0 FROM videos", True)
            assert not list((tmp_path / "work").glob("*/*/*")), "a partial download survived"
            site.set_mode("cut", "ok")
            await wait_for(db, "SELECT status::text FROM videos", "done")
        [video] = media_files(settings.video_service.directory).values()
        assert video.read_bytes() == site.video_bytes("cut")

    assert "expected" in await db.value(
        "SELECT message FROM archival_events WHERE message LIKE 'attempt 1 failed%'"
    )


async def test_a_listing_that_comes_back_empty_removes_nothing(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    with content_site() as site:
        site.add_video("kept")
        feed = site.feed("feed", ["kept"])
        settings = pipeline_settings(database_url, redis_url, tmp_path, sync={"min_backoff_s": 0.3})
        async with serving(settings) as (_, api):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, "SELECT status::text FROM videos", "done")
            site.set_feed_mode("feed", "empty")
            await wait_for(
                db, "SELECT count(*) > 0 FROM archival_events WHERE message = 'synced: 0 listed, 0 new'", True
            )
            [category] = (await api("ListCategories", pb.ListCategoriesRequest(user_id=1))).categories

    assert (category.total_videos, category.archived_videos, category.subscribers) == (1, 1, 1)
    assert await db.value("SELECT count(*) FROM subscriptions") == 1


def test_workers_back_off_exponentially_while_the_database_is_away() -> None:
    from scheduler.pipeline.failures import retry_delay
    from scheduler.pipeline.shared import Backoff

    backoff = Backoff(first_s=0.5, most_s=30.0)
    assert [backoff.failed() for _ in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    backoff.succeeded()
    assert backoff.failed() == 0.5
    assert [retry_delay(n, 60.0, 21600.0) for n in (1, 2, 3, 10)] == [60.0, 120.0, 240.0, 21600.0]


def test_a_graceful_stop_is_told_in_one_line() -> None:
    from scheduler.pipeline.downloader import StopTally

    tally = StopTally()
    tally.began_at = 100.0
    tally.finished, tally.given_back = 3, 2

    assert tally.line(112.34) == "stopped: 3 downloads finished, 2 given back, in 12.3 s"
