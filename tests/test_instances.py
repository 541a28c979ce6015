"""Instances register themselves and beat: `GetStats` lists them, ListDownloads says whether
the instance holding a video is alive, and a dead one is visible."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
import trio
import trio.lowlevel
import trio.testing
import trio_asyncio

from scheduler import __version__
from scheduler.db.records import Registration
from scheduler.db.store import Store
from scheduler.serve.instances import keep_registered
from scheduler.serve.service import run
from scheduler.settings import Settings
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Api, Database


async def schedule(api: Api, url: str, user_id: int = 1) -> int:
    response = await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=url, user_id=user_id))
    return int(response.category_id)


async def add_instance(db: Database, instance: str, *, expired: bool = False, stopped: bool = False) -> None:
    """Another instance's heartbeat row: alive, dead (expired) or stopped."""
    await db.fetch(
        """
        INSERT INTO instances (id, host, pid, version, workers, expires_at, stopped_at)
        VALUES ($1, 'elsewhere', 4242, '0.0.9', 3,
                now() + CASE WHEN $2 THEN interval '-2 minutes' ELSE interval '1 minute' END,
                CASE WHEN $3 THEN now() END)
        """,
        instance,
        expired,
        stopped,
    )


async def test_stats_counts_videos_by_status_and_website(api: Api, db: Database) -> None:
    first = await schedule(api, "http://127.0.0.1/a.xml")
    await schedule(api, "http://127.0.0.1/b.xml")
    oldest = await db.add_video(first, "oldest", status="pending")
    await db.add_video(first, "newer", status="pending", position=1)
    await db.add_video(first, "busy", status="downloading", position=2)
    await db.add_video(first, "done", status="done", position=3)
    nico = await db.add_video(first, "nico", status="failed", position=4)
    await db.fetch("UPDATE videos SET website = 'www.nicovideo.jp' WHERE id = $1", nico)
    await db.fetch("UPDATE videos SET created_at = now() - interval '2 hours' WHERE id = $1", oldest)

    stats = await api("GetStats", pb.GetStatsRequest())

    assert stats.categories == 2
    local, nicovideo = stats.websites
    assert (local.website, local.pending, local.downloading, local.done) == ("127.0.0.1", 2, 1, 1)
    assert local.failed == 0
    assert (nicovideo.website, nicovideo.failed, nicovideo.oldest_pending) == ("www.nicovideo.jp", 1, "")
    assert (stats.total.website, stats.total.pending, stats.total.failed) == ("", 2, 1)
    waited = datetime.fromisoformat(stats.as_of) - datetime.fromisoformat(stats.total.oldest_pending)
    assert 7199 < waited.total_seconds() < 7300
    assert local.oldest_pending == stats.total.oldest_pending


async def test_a_running_service_is_listed_alive_with_its_heartbeat(api: Api) -> None:
    stats = await api("GetStats", pb.GetStatsRequest())

    [me] = stats.instances
    assert me.state == pb.ALIVE
    assert (me.host, me.pid, me.version) == (socket.gethostname(), os.getpid(), __version__)
    assert me.id.startswith(f"{socket.gethostname()}-{os.getpid()}-")
    assert me.last_heartbeat <= stats.as_of
    assert me.workers == 0  # the API-only service of these tests


async def test_a_dead_instance_is_visible_in_stats_and_downloads(api: Api, db: Database) -> None:
    category_id = await schedule(api, "http://127.0.0.1/a.xml")
    await add_instance(db, "gone-1-aaaaaa", expired=True)
    await add_instance(db, "left-2-bbbbbb", expired=True, stopped=True)
    await add_instance(db, "busy-3-cccccc")
    stuck = await db.add_video(category_id, "stuck", status="downloading")
    working = await db.add_video(category_id, "working", status="downloading", position=1)
    await db.fetch("UPDATE videos SET lease_owner = 'gone-1-aaaaaa' WHERE id = $1", stuck)
    await db.fetch("UPDATE videos SET lease_owner = 'busy-3-cccccc' WHERE id = $1", working)

    stats = await api("GetStats", pb.GetStatsRequest())
    downloads = (await api("ListDownloads", pb.ListDownloadsRequest())).downloads

    states = {i.id: (i.state, i.downloads) for i in stats.instances}
    assert states["gone-1-aaaaaa"] == (pb.DEAD, 1)
    assert states["left-2-bbbbbb"] == (pb.STOPPED, 0)
    assert states["busy-3-cccccc"] == (pb.ALIVE, 1)
    assert [i.state for i in stats.instances][-2:] == [pb.DEAD, pb.STOPPED]  # alive ones first
    by_video = {d.video_id: (d.instance, d.instance_state) for d in downloads}
    assert by_video == {stuck: ("gone-1-aaaaaa", pb.DEAD), working: ("busy-3-cccccc", pb.ALIVE)}


async def test_an_unregistered_lease_owner_has_no_state(api: Api, db: Database) -> None:
    """A replica of the release before registration, during a rolling upgrade."""
    category_id = await schedule(api, "http://127.0.0.1/a.xml")
    await db.add_video(category_id, "old", status="queued")  # held by 'test-instance'

    [download] = (await api("ListDownloads", pb.ListDownloadsRequest())).downloads

    assert (download.instance, download.instance_state) == ("test-instance", pb.INSTANCE_STATE_UNSPECIFIED)


async def test_a_stopped_service_is_listed_stopped(settings: Settings, db: Database) -> None:
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, settings)
        assert await db.value("SELECT instance_state(i) FROM instances i") == "alive"
        running.stop()
        with trio.fail_after(30):
            await running.stopped.wait()

    assert await db.value("SELECT instance_state(i) FROM instances i") == "stopped"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await trio_asyncio.aio_as_trio(Store.open)(database_url)
    try:
        yield opened
    finally:
        await trio_asyncio.aio_as_trio(opened.close)()


async def test_the_heartbeat_renews_the_registration_until_cancelled(
    store: Store, db: Database, mock_clock: trio.testing.MockClock
) -> None:
    me = Registration("here-1-dddddd", "here", 1, "9.9.9", 2)
    expiry = "SELECT expires_at - heartbeat_at, heartbeat_at FROM instances WHERE id = 'here-1-dddddd'"

    async with trio.open_nursery() as nursery:
        await nursery.start(keep_registered, store.for_trio(me.id), me, 30.0)
        [[ttl, registered]] = await db.fetch(expiry)
        mock_clock.jump(10.0)  # virtual time: one heartbeat interval (ttl / 3)
        for _ in range(1000):  # the beat is a real round trip to the database
            [[_, beaten]] = await db.fetch(expiry)
            if beaten > registered:
                break
            await trio.lowlevel.checkpoint()
        nursery.cancel_scope.cancel()

    assert ttl.total_seconds() == 30.0
    assert beaten > registered
    assert await db.value("SELECT instance_state(i) FROM instances i") == "stopped"
