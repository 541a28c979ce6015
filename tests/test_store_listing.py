"""Storing a listing (PipelineQueries.finish_sync) in one statement: positions oldest
first after the newest, the claim order of new and already known videos, duplicates,
and a video that another category's sync inserts at the same moment."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import trio_asyncio

from scheduler.db.connector import SQL
from scheduler.db.pipeline_queries import PipelineQueries
from scheduler.db.store import Store
from scheduler.work import ClaimedCategory, ListedVideo

OWNER = "test-syncer"
BACKOFF = {"min_backoff_s": 3600.0, "max_backoff_factor": 8}
POSITIONS = """
SELECT v.foreign_id FROM category_videos cv JOIN videos v ON v.id = cv.video_id
WHERE cv.category_id = $1 ORDER BY cv.position
"""


def listed(*foreign_ids: str) -> list[ListedVideo]:
    return [
        ListedVideo("127.0.0.1", f, f"http://127.0.0.1/{f}.mp4", f"title of {f}", {"title": f"title of {f}"})
        for f in foreign_ids
    ]


async def lease(conn: Any, category: ClaimedCategory) -> ClaimedCategory:
    """Leased again, as a syncer claims it (a sync gives its lease back)."""
    row = await conn.fetchrow(
        """
        UPDATE categories SET lease_owner = $2, lease_expires_at = now() + interval '1 hour' WHERE id = $1
        RETURNING id, url, website, backoff_factor, sync_count, disable_download_cache, profile::text
        """,
        category.id,
        OWNER,
    )
    return ClaimedCategory.from_row(row)


async def leased_category(conn: Any, name: str, subscribers: int) -> ClaimedCategory:
    category_id = await conn.fetchval(
        """
        INSERT INTO categories (url, website, kind, subscriber_count, lease_owner, lease_expires_at)
        VALUES ('http://127.0.0.1/' || $1, '127.0.0.1', 'url', $2, $3, now() + interval '1 hour')
        RETURNING id
        """,
        name,
        subscribers,
        OWNER,
    )
    return ClaimedCategory(category_id, f"http://127.0.0.1/{name}", "127.0.0.1", 1, 0, False)


async def claims(queries: PipelineQueries) -> list[tuple[str, int]]:
    """Every due video, one claim at a time, with the category it is delivered for."""
    taken = []
    while claimed := await queries.claim_videos(1, 60.0, False, []):
        taken.append((claimed[0].foreign_id, claimed[0].category_id))
    return taken


async def in_asyncio(database_url: str, scenario: Callable[[Any, PipelineQueries], Awaitable[None]]) -> None:
    async def run() -> None:
        store = await Store.open(database_url, max_size=2)
        conn = await asyncpg.connect(database_url)
        try:
            await scenario(conn, store.pipeline(OWNER))
        finally:
            await conn.close()
            await store.close()

    await trio_asyncio.aio_as_trio(run)()


async def test_listings_append_oldest_first_and_keep_every_videos_claim_order(database_url: str) -> None:
    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        small = await leased_category(conn, "small", subscribers=1)
        big = await leased_category(conn, "big", subscribers=3)

        first = await queries.finish_sync(small, listed("x", "y"), [], **BACKOFF)
        assert first is not None and first.new_to_category == 2
        # y is known already: it moves to the category with more subscribers; w and z are new.
        second = await queries.finish_sync(big, listed("w", "y", "z"), [], **BACKOFF)
        assert second is not None and second.new_to_category == 3
        # A re-sync appends only what is new, after the newest; a duplicate entry counts once.
        third = await queries.finish_sync(
            await lease(conn, small), listed("x", "y", "v", "u", "v"), [], **BACKOFF
        )
        assert third is not None and third.listed == 5 and third.new_to_category == 2
        again = await queries.finish_sync(await lease(conn, small), listed("x", "y", "v", "u"), [], **BACKOFF)
        assert again is not None and again.new_to_category == 0

        assert [r[0] for r in await conn.fetch(POSITIONS, small.id)] == ["x", "y", "v", "u"]
        assert [r[0] for r in await conn.fetch(POSITIONS, big.id)] == ["w", "y", "z"]
        assert await conn.fetchval("SELECT count(*) FROM videos") == 6
        # The fair order: small's re-sync found u and v, new uploads, newest (u) first; then
        # the backfill, big's (3 subscribers) three times as fast as small's; y, which both
        # list, is delivered for big, whose turn for it comes first.
        assert await claims(queries) == [
            ("u", small.id),
            ("v", small.id),
            ("x", small.id),
            ("w", big.id),
            ("y", big.id),
            ("z", big.id),
        ]

    await in_asyncio(database_url, scenario)


async def test_a_video_another_sync_inserts_meanwhile_is_listed_in_both_categories(database_url: str) -> None:
    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        small = await leased_category(conn, "small", subscribers=1)
        big = await leased_category(conn, "big", subscribers=2)
        videos = listed("shared")
        other = await asyncpg.connect(database_url)
        try:
            # The other sync has inserted the video and not committed yet: ours waits on it.
            async with other.transaction():
                await other.fetch(
                    SQL["store_listing"],
                    small.id,
                    *([getattr(v, f) for v in videos] for f in ("website", "foreign_id", "url", "title")),
                    ['{"title": "title of shared"}'],
                    True,  # a first listing
                    [""],  # the profile wants it
                )
                ours = asyncio.create_task(queries.finish_sync(big, videos, [], **BACKOFF))
                # Polled on purpose: the wait happens in the server.
                while not await conn.fetchval(  # noqa: ASYNC110
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                ):
                    await asyncio.sleep(0.01)
            outcome = await ours
        finally:
            await other.close()

        assert outcome is not None and outcome.new_to_category == 1
        assert [r[0] for r in await conn.fetch(POSITIONS, small.id)] == ["shared"]
        assert [r[0] for r in await conn.fetch(POSITIONS, big.id)] == ["shared"]
        # Its turn is first in both: it goes with the category with more subscribers.
        assert await claims(queries) == [("shared", big.id)]

    await in_asyncio(database_url, scenario)
