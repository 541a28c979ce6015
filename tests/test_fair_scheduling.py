"""Fair scheduling (migrations/0009): new uploads ahead of backfill, newest first; backfills
interleaved by subscribers, each oldest first; a small category beside a big one is done
in about its own time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scheduler.categories import CategoryTarget, Kind
from scheduler.db.pipeline_queries import PipelineQueries
from scheduler.db.store import Store
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Database
from tests.content_site import content_site
from tests.test_pipeline import pipeline_settings, serving, wait_for
from tests.test_store_listing import BACKOFF, in_asyncio, lease, leased_category, listed


async def claim_order(queries: PipelineQueries) -> list[str]:
    """Every due video, one claim at a time, as single downloader would take them."""
    order = []
    while claimed := await queries.claim_videos(1, 60.0, False, []):
        order.append(claimed[0].foreign_id)
    return order


async def test_backfills_interleave_by_subscribers_and_new_uploads_go_first(database_url: str) -> None:
    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        popular = await leased_category(conn, "popular", subscribers=2)
        quiet = await leased_category(conn, "quiet", subscribers=1)
        await queries.finish_sync(popular, listed(*(f"p{n}" for n in range(6))), [], **BACKOFF)
        await queries.finish_sync(quiet, listed("q0", "q1", "q2"), [], **BACKOFF)
        # The quiet category was archived before: its re-sync finds three new uploads.
        await queries.finish_sync(
            await lease(conn, quiet), listed("q0", "q1", "q2", "n0", "n1", "n2"), [], **BACKOFF
        )

        order = await claim_order(queries)

        assert order[:3] == ["n2", "n1", "n0"]  # new uploads first, newest first
        # Then the backfill: two of the popular category's for each of the quiet one's.
        assert order[3:] == ["p0", "q0", "p1", "p2", "q1", "p3", "p4", "q2", "p5"]

    await in_asyncio(database_url, scenario)


async def test_a_category_scheduled_later_takes_turns_from_where_the_queue_stands(database_url: str) -> None:
    """Not from the start of time: an old backfill far along is not starved by a new one."""

    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        old = await leased_category(conn, "old", subscribers=1)
        await queries.finish_sync(old, listed(*(f"o{n}" for n in range(8))), [], **BACKOFF)
        taken = [(await queries.claim_videos(1, 60.0, False, []))[0].foreign_id for _ in range(5)]
        assert taken == ["o0", "o1", "o2", "o3", "o4"]
        new = await leased_category(conn, "new", subscribers=1)
        await queries.finish_sync(new, listed("a", "b", "c", "d"), [], **BACKOFF)

        assert await claim_order(queries) == ["o5", "a", "o6", "b", "o7", "c", "d"]

    await in_asyncio(database_url, scenario)


def first_requests(paths: list[str]) -> list[str]:
    """Video ids in the order their downloads started (yt-dlp may ask twice for one)."""
    return [p.removeprefix("/videos/").removesuffix(".mp4") for p in dict.fromkeys(paths)]


async def test_a_small_category_beside_a_large_one_is_done_first_and_new_uploads_jump_the_backfill(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    large = [f"l{n:02}" for n in range(20)]
    small = ["s0", "s1", "s2"]
    new = ["n0", "n1", "n2"]
    settings = pipeline_settings(database_url, redis_url, tmp_path, downloader={"workers": 1})
    with content_site() as site:
        for name in large + small + new:
            site.add_video(name, size=40_000)
        site.set_rate(200_000)  # 0.2 s a video: the order is the claim order, one at a time
        large_feed = site.feed("large", large)
        async with serving(settings) as (_, api):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=large_feed, user_id=1))
            await api(
                "ScheduleCategory", pb.ScheduleCategoryRequest(url=site.feed("small", small), user_id=2)
            )
            await wait_for(
                db, "SELECT count(*) FROM videos WHERE foreign_id LIKE 's%' AND status = 'done'", 3
            )
            site.feed("large", large + new)  # three new uploads...
            await db.fetch(
                "UPDATE categories SET next_sync_at = now() WHERE url = $1", large_feed
            )  # ...re-synced
            await wait_for(db, "SELECT count(*) FROM previous_downloads", 26)
        site.wait_idle()
        order = first_requests([r.path for r in site.requests if r.path.startswith("/videos/")])

    assert sorted(order) == sorted(large + small + new)
    assert max(order.index(s) for s in small) < order.index(large[4])  # not after the large backfill
    start = order.index("n2")
    assert order[start : start + 3] == ["n2", "n1", "n0"]  # at once, newest first
    assert any(order.index(v) > start for v in large)  # ahead of what was left of the backfill
    assert [v for v in order if v in large] == large  # the backfill oldest first


async def test_a_resync_stops_at_a_run_of_known_entries_and_a_full_listing_finds_the_rest(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    old = [f"v{n:02}" for n in range(12)]
    settings = pipeline_settings(
        database_url, redis_url, tmp_path, downloader={"workers": 0}, sync={"full_every": 2}
    )
    synced = "SELECT sync_count FROM categories"
    with content_site() as site:
        for name in [*old, "hidden", "n1", "n2"]:
            site.add_video(name, size=1_000)
        feed = site.feed("f", old)
        async with serving(settings) as (_, api):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, synced, 1)  # the first listing: all 12
            # Two new uploads on top, and an old entry the first listing never showed, deep down.
            site.feed("f", [*old[:3], "hidden", *old[3:], "n1", "n2"])
            await db.fetch("UPDATE categories SET next_sync_at = now()")
            await wait_for(db, synced, 2)  # a partial re-sync
            after_partial = {r[0] for r in await db.fetch("SELECT foreign_id FROM videos")}
            await db.fetch("UPDATE categories SET next_sync_at = now()")
            await wait_for(db, synced, 3)  # the full listing of every 2nd sync
            after_full = {r[0] for r in await db.fetch("SELECT foreign_id FROM videos")}
            events = [
                e.message for e in (await api("ListEvents", pb.ListEventsRequest(show_all=True))).events
            ]

    assert after_partial == {*old, "n1", "n2"}  # it stopped after v11..v07, all known
    assert "synced: 7 listed, 2 new" in events  # n2, n1 and the run of five known
    assert after_full == {*old, "hidden", "n1", "n2"}
    assert "synced: 15 listed, 1 new" in events


async def test_a_category_gaining_a_subscriber_speeds_up_from_where_the_queue_stands(
    database_url: str,
) -> None:
    """Not a burst of catching up from its own start: twice as fast from now on."""

    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        a = await leased_category(conn, "a", subscribers=1)
        b = await leased_category(conn, "b", subscribers=1)
        await queries.finish_sync(a, listed(*(f"a{n}" for n in range(12))), [], **BACKOFF)
        await queries.finish_sync(b, listed(*(f"b{n}" for n in range(12))), [], **BACKOFF)
        taken = [(await queries.claim_videos(1, 60.0, False, []))[0].foreign_id for _ in range(10)]
        assert taken == ["a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3", "a4", "b4"]
        store = Store(queries._db)  # the API's side of the same database
        await store.schedule_category(CategoryTarget(b.url, "127.0.0.1", Kind.URL), 7, False)

        order = await claim_order(queries)

        assert order[:9] == ["a5", "b5", "b6", "a6", "b7", "b8", "a7", "b9", "b10"]

    await in_asyncio(database_url, scenario)
