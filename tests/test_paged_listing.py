"""A first listing stored page by page as yt-dlp reads it (sync.page_entries): its videos
are downloaded before the listing ends, oldest first of what has been listed, taking
turns with the other categories from where the queue stands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import trio_asyncio

from scheduler.db.listing_queries import StoredPages
from scheduler.db.pipeline_queries import PipelineQueries
from scheduler.pipeline import ytdlp
from scheduler.pipeline.ytdlp.listing import list_category
from scheduler.settings import from_overrides
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Database
from tests.content_site import ContentSite
from tests.test_fair_scheduling import claim_order, first_requests
from tests.test_pipeline import pipeline_settings, serving, wait_for
from tests.test_store_listing import BACKOFF, POSITIONS, in_asyncio, lease, leased_category, listed

VIDEOS = [f"v{n:02}" for n in range(25)]  # oldest first


def ids(listing: ytdlp.Listing) -> list[str]:
    return [v.foreign_id for v in listing.videos]


def test_a_listing_is_handed_over_in_doubling_pages_newest_first(site: ContentSite) -> None:
    for name in VIDEOS:
        site.add_video(name, size=1_000)
    pages: list[ytdlp.Listing] = []
    settings = from_overrides({}).downloader

    rest = list_category(
        site.feed("f", VIDEOS), "127.0.0.1", settings, ("127.0.0.1",), on_page=pages.append, page_entries=5
    )

    # 5 entries, then 10; each page oldest first, as it is stored; the last 10 are returned.
    assert [ids(p) for p in pages] == [VIDEOS[20:], VIDEOS[10:20]]
    assert ids(rest) == VIDEOS[:10]
    # Without a page hook, the whole listing as before.
    assert ids(list_category(site.feed_url("f"), "127.0.0.1", settings, ("127.0.0.1",))) == VIDEOS


def test_a_video_listed_twice_is_handed_over_once_across_pages(site: ContentSite) -> None:
    for name in VIDEOS:
        site.add_video(name, size=1_000)
    pages: list[ytdlp.Listing] = []
    settings = from_overrides({}).downloader
    # v03 again as the newest item: its older place is on another page.
    feed = site.feed("twice", [*VIDEOS, "v03"])

    rest = list_category(feed, "127.0.0.1", settings, ("127.0.0.1",), on_page=pages.append, page_entries=5)

    listed = [*(i for p in pages for i in ids(p)), *ids(rest)]
    assert sorted(listed) == VIDEOS  # each once: where it is listed first, the newest place
    assert ids(pages[0])[-1] == "v03"


def test_a_page_that_cannot_be_stored_ends_the_listing_with_its_error(site: ContentSite) -> None:
    for name in VIDEOS:
        site.add_video(name, size=1_000)

    class StoreFailed(Exception):
        pass

    def on_page(page: ytdlp.Listing) -> None:
        raise StoreFailed("the database went away")

    settings = from_overrides({}).downloader
    with pytest.raises(StoreFailed):  # not a YtdlpError: the site is not to blame
        list_category(
            site.feed("f", VIDEOS), "127.0.0.1", settings, ("127.0.0.1",), on_page=on_page, page_entries=5
        )


async def test_a_first_page_is_claimable_at_once_and_older_pages_take_turns_from_the_queue_head(
    database_url: str,
) -> None:
    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        other = await leased_category(conn, "other", subscribers=1)
        await queries.finish_sync(other, listed(*(f"o{n}" for n in range(8))), [], **BACKOFF)
        paged = await leased_category(conn, "paged", subscribers=1)
        # A listing reads the newest entries first: p5..p9 (handed over oldest first).
        assert await queries.store_page(paged, listed(*(f"p{n}" for n in range(5, 10))), [], 60.0) == 5

        # The listing goes on (its category leased, never synced), and its videos go already.
        state = "SELECT sync_count, lease_owner IS NOT NULL FROM categories WHERE id = $1"
        assert tuple(await conn.fetchrow(state, paged.id)) == (0, True)
        taken = [(await queries.claim_videos(1, 60.0, False, []))[0].foreign_id for _ in range(4)]
        assert taken == ["o0", "p5", "o1", "p6"]

        # Older pages go first within the category, its oldest at the queue's head: no burst
        # ahead of the other category, no wait behind it.
        assert await queries.store_page(paged, listed("p2", "p3", "p4"), [], 60.0) == 3
        outcome = await queries.finish_sync(
            paged, listed("p0", "p1"), [], **BACKOFF, earlier=StoredPages(listed=8, new=8)
        )

        assert outcome is not None and (outcome.listed, outcome.new_to_category) == (10, 10)
        assert await claim_order(queries) == [
            *("o2", "p0", "o3", "p1", "o4", "p2", "o5", "p3", "o6", "p4", "o7"),
            *("p7", "p8", "p9"),
        ]
        assert [r[0] for r in await conn.fetch(POSITIONS, paged.id)] == [f"p{n}" for n in range(10)]
        events = [r[0] for r in await conn.fetch("SELECT message FROM archival_events ORDER BY id")]
        assert events[-3:] == [
            "listing goes on: 5 more listed, 5 new",
            "listing goes on: 3 more listed, 3 new",
            "synced: 10 listed, 10 new",
        ]

    await in_asyncio(database_url, scenario)


async def test_a_first_listing_that_failed_half_way_keeps_its_pages_and_its_retry_goes_on_below(
    database_url: str,
) -> None:
    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        paged = await leased_category(conn, "paged", subscribers=1)
        assert await queries.store_page(paged, listed("p3", "p4"), [], 60.0) == 2
        await queries.fail_sync(paged, "the site went away", 0.0)

        retry = await lease(conn, paged)  # never synced: a first listing again
        assert await queries.store_page(retry, listed("p3", "p4"), [], 60.0) == 0  # stored already
        outcome = await queries.finish_sync(
            retry, listed("p1", "p2"), [], **BACKOFF, earlier=StoredPages(listed=2, new=0)
        )

        assert outcome is not None and (outcome.listed, outcome.new_to_category) == (4, 2)
        assert [r[0] for r in await conn.fetch(POSITIONS, paged.id)] == ["p1", "p2", "p3", "p4"]
        assert await claim_order(queries) == ["p1", "p2", "p3", "p4"]

    await in_asyncio(database_url, scenario)


async def test_a_page_is_not_stored_once_the_lease_is_lost(database_url: str) -> None:
    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        paged = await leased_category(conn, "paged", subscribers=1)
        await conn.execute("UPDATE categories SET lease_owner = 'another-instance' WHERE id = $1", paged.id)

        assert await queries.store_page(paged, listed("p0"), [], 60.0) is None
        assert await conn.fetchval("SELECT count(*) FROM videos") == 0
        assert await conn.fetchval("SELECT count(*) FROM archival_events") == 0

    await in_asyncio(database_url, scenario)


@asynccontextmanager
async def inserting_without_commit(database_url: str, website: str, foreign_id: str) -> AsyncIterator[None]:
    """Another transaction inserting the video and not committing: a listing storing the
    same video waits for it (the unique index), as if its site were slow to answer."""
    conn = await trio_asyncio.aio_as_trio(asyncpg.connect)(database_url)
    transaction = conn.transaction()
    try:
        await trio_asyncio.aio_as_trio(transaction.start)()
        await trio_asyncio.aio_as_trio(conn.execute)(
            "INSERT INTO videos (website, foreign_id, url, title) VALUES ($1, $2, $3, '')",
            website,
            foreign_id,
            f"http://{website}/{foreign_id}",
        )
        yield
    finally:
        await trio_asyncio.aio_as_trio(transaction.rollback)()
        await trio_asyncio.aio_as_trio(conn.close)()


async def test_downloads_start_before_a_long_first_listing_ends_and_each_video_is_delivered_once(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    for name in VIDEOS:
        site.add_video(name, size=20_000)
    feed = site.feed("f", VIDEOS)
    settings = pipeline_settings(database_url, redis_url, tmp_path, sync={"page_entries": 5})
    done = "SELECT count(*) FROM videos WHERE status = 'done'"
    listing = "SELECT sync_count, lease_owner IS NOT NULL FROM categories"

    async with serving(settings) as (_, api):
        # The listing is held up at its second page (v19..v10), which holds v10.
        async with inserting_without_commit(database_url, "127.0.0.1", "v10"):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, done, 5)  # the first page: v24..v20
            assert tuple((await db.fetch(listing))[0]) == (0, True)  # still listing
        await wait_for(db, done, 25)
        events = [
            e.message
            for e in (await api("ListEvents", pb.ListEventsRequest(show_all=True, limit=100))).events
        ]

    delivered = first_requests([r.path for r in site.requests if r.path.startswith("/videos/")])
    assert sorted(delivered) == VIDEOS  # every video once
    assert set(delivered[:5]) == set(VIDEOS[20:])  # the first page, while the listing went on
    assert await db.value("SELECT count(*) FROM previous_downloads") == 25
    category_id = await db.value("SELECT id FROM categories")
    assert [r[0] for r in await db.fetch(POSITIONS, category_id)] == VIDEOS  # its order, oldest first
    assert [m for m in reversed(events) if m.startswith(("listing goes on", "synced"))] == [
        "listing goes on: 5 more listed, 5 new",
        "listing goes on: 10 more listed, 10 new",
        "synced: 25 listed, 25 new",
    ]
