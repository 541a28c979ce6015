"""Stride queues (migrations/0013): a subscription change writes no video, a deferred video
is neither stepped over nor lost, a video two categories list outlives an unsubscription,
and each queue's counts always match its videos."""

from __future__ import annotations

from typing import Any

from scheduler.categories import CategoryTarget, Kind
from scheduler.db.pipeline_queries import PipelineQueries
from scheduler.db.store import Store
from tests.test_fair_scheduling import claim_order
from tests.test_store_listing import BACKOFF, claims, in_asyncio, lease, leased_category, listed

# Every category's queue against its videos: the counts the claim's index relies on.
QUEUES_MATCH = """
SELECT bool_and(q.waiting_uploads = coalesce(n.uploads, 0) AND q.waiting_backfill = coalesce(n.backfill, 0)
                AND q.weight = c.subscriber_count)
FROM category_queues q
JOIN categories c ON c.id = q.category_id
LEFT JOIN (
    SELECT cv.category_id, count(*) FILTER (WHERE cv.lane = 0) AS uploads,
           count(*) FILTER (WHERE cv.lane = 1) AS backfill
    FROM category_videos cv JOIN videos v ON v.id = cv.video_id
    WHERE v.status = 'pending' AND NOT v.deferred
    GROUP BY cv.category_id
) n ON n.category_id = q.category_id
"""
# Every place against its video: in its queue while the video is pending or in flight and
# not deferred (migrations/0014: a claim rewrites no place).
WAITING_MATCHES_STATUS = """
SELECT bool_and(cv.waiting = (v.status IN ('pending', 'queued', 'downloading', 'uploading')
                              AND NOT v.deferred))
FROM category_videos cv JOIN videos v ON v.id = cv.video_id
"""


async def consistent(conn: Any) -> bool:
    return bool(await conn.fetchval(QUEUES_MATCH)) and bool(await conn.fetchval(WAITING_MATCHES_STATUS))


async def test_a_subscription_change_rewrites_no_video_whatever_the_backlog(database_url: str) -> None:
    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        big = await leased_category(conn, "big", subscribers=1)
        await queries.finish_sync(big, listed(*(f"v{n}" for n in range(500))), [], **BACKOFF)
        versions = "SELECT sum(xmin::text::bigint) FROM videos"
        before = await conn.fetchval(versions)
        store = Store(queries._db)
        target = CategoryTarget(big.url, "127.0.0.1", Kind.URL)

        for user in range(2, 12):
            assert (await store.schedule_category(target, user, False)).subscribed
        for user in range(2, 12):
            await store.unsubscribe(user, big.id)

        assert await conn.fetchval(versions) == before  # not one of the 500 rewritten
        assert await consistent(conn)

    await in_asyncio(database_url, scenario)


async def test_a_deferred_video_is_not_stepped_over_and_comes_back_when_due(database_url: str) -> None:
    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        category = await leased_category(conn, "c", subscribers=1)
        await queries.finish_sync(category, listed("a", "b", "c"), [], **BACKOFF)
        [first] = await queries.claim_videos(1, 60.0, False, [])
        assert await queries.fail_attempt(first, "the site said no", attempts=5, retry_in_s=3600) == "pending"
        assert await consistent(conn)

        # Not due for an hour: the claims go on with the others, and find nothing more.
        assert await claim_order(queries) == ["b", "c"]
        waiting = "SELECT waiting_backfill FROM category_queues WHERE category_id = $1"
        assert await conn.fetchval(waiting, category.id) == 0

        # The hour has passed:
        await conn.execute("UPDATE videos SET next_attempt_at = now() WHERE foreign_id = 'a'")
        assert await claim_order(queries) == ["a"]
        assert await consistent(conn)

    await in_asyncio(database_url, scenario)


async def test_a_video_two_categories_list_is_still_claimed_when_one_loses_its_subscribers(
    database_url: str,
) -> None:
    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        first = await leased_category(conn, "first", subscribers=1)
        second = await leased_category(conn, "second", subscribers=1)
        await queries.finish_sync(first, listed("shared", "own"), [], **BACKOFF)
        await queries.finish_sync(second, listed("shared"), [], **BACKOFF)
        await conn.execute("UPDATE categories SET subscriber_count = 0 WHERE id = $1", first.id)

        # The first category takes no turns now: its own video waits; the shared one goes
        # with the category that still wants it, and is delivered there.
        assert await claims(queries) == [("shared", second.id)]
        assert await consistent(conn)

        await conn.execute("UPDATE categories SET subscriber_count = 1 WHERE id = $1", first.id)
        assert await claims(queries) == [("own", first.id)]

    await in_asyncio(database_url, scenario)


async def test_queues_follow_listings_claims_retries_and_deliveries(database_url: str) -> None:
    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        one = await leased_category(conn, "one", subscribers=2)
        two = await leased_category(conn, "two", subscribers=1)
        await queries.finish_sync(one, listed(*(f"o{n}" for n in range(6)), "both"), [], **BACKOFF)
        await queries.finish_sync(two, listed("both", "t0", "t1"), [], **BACKOFF)
        await queries.finish_sync(await lease(conn, two), listed("both", "t0", "t1", "t2"), [], **BACKOFF)
        taken = await queries.claim_videos(4, 60.0, False, [])
        assert await consistent(conn)

        await queries.finish_video(taken[0], "vs-1", "delivered")
        await queries.fail_attempt(taken[1], "no", attempts=1, retry_in_s=60)  # failed for good
        await queries.release_video(taken[2], "shutting down", retry_in_s=0)  # due again at once
        await queries.fail_attempt(taken[3], "later", attempts=5, retry_in_s=60)  # deferred
        assert await consistent(conn)

        rest = await claim_order(queries)
        assert taken[2].foreign_id in rest and taken[3].foreign_id not in rest
        assert await consistent(conn)

    await in_asyncio(database_url, scenario)


async def test_a_claim_rewrites_no_place_and_a_delivered_video_leaves_its_queues(database_url: str) -> None:
    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        one = await leased_category(conn, "one", subscribers=1)
        two = await leased_category(conn, "two", subscribers=1)
        await queries.finish_sync(one, listed("shared", "a", "b"), [], **BACKOFF)
        await queries.finish_sync(two, listed("shared"), [], **BACKOFF)
        places = "SELECT sum(xmin::text::bigint) FROM category_videos"
        before = await conn.fetchval(places)

        taken = await queries.claim_videos(3, 60.0, False, [])
        assert len(taken) == 3
        assert await conn.fetchval(places) == before  # not one place rewritten
        assert await consistent(conn)

        shared = next(video for video in taken if video.foreign_id == "shared")
        await queries.finish_video(shared, "vs-1", "delivered")
        in_queues = """
            SELECT bool_or(cv.waiting) FROM category_videos cv JOIN videos v ON v.id = cv.video_id
            WHERE v.foreign_id = 'shared'
        """
        assert await conn.fetchval(in_queues) is False  # in neither category's queue
        assert await consistent(conn)

    await in_asyncio(database_url, scenario)
