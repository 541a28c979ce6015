"""What is told, and when: each kind of event is written in the transaction of what it
tells (a breaker, cookies, a failing listing, a dead instance), once, and only while a
notification URL wants its kind. The real database, through the workers' statements."""

from __future__ import annotations

from typing import Any

from scheduler.db.breaker_queries import trip
from scheduler.db.pipeline_queries import PipelineQueries
from scheduler.db.records import Registration
from scheduler.work import ClaimedCategory
from tests.test_store_listing import in_asyncio

KINDS = ["breaker", "cookies", "listing", "instance"]


async def told(conn: Any) -> list[tuple[str, str]]:
    return [
        (r["kind"], r["subject"])
        for r in await conn.fetch("SELECT kind, subject FROM notify_events ORDER BY id")
    ]


async def test_nothing_is_written_while_no_url_wants_it(database_url: str) -> None:
    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        await queries.add_site_event_daily("site *.nicovideo.jp: cookies expire in 3 days")
        async with queries._db.transaction() as tx:
            await trip(tx, "*.nicovideo.jp", "HTTP 429 Too Many Requests", 60.0, 600.0)
        assert await told(conn) == []

    await in_asyncio(database_url, scenario)


async def test_breakers_cookies_failing_listings_and_dead_instances_are_told_once(database_url: str) -> None:
    async def scenario(conn: Any, queries: PipelineQueries) -> None:
        await queries.register_cursors([("a-url-key", kind) for kind in KINDS])

        # A breaker opens (a burst opens it once), then closes.
        for _ in range(2):
            async with queries._db.transaction() as tx:
                await trip(tx, "*.nicovideo.jp", "HTTP 429 Too Many Requests", 60.0, 600.0)
        await conn.execute("UPDATE site_breakers SET state = 'probing', probe_owner = 'me'")
        await queries.close_breaker("*.nicovideo.jp", "me")
        # Cookies about to expire: once a day.
        for _ in range(2):
            await queries.add_site_event_daily("site *.nicovideo.jp: cookies expire in 3 days")
        # A listing fails four times in a row: the third is told.
        category_id = await conn.fetchval(
            "INSERT INTO categories (url, website, kind, subscriber_count) "
            "VALUES ('http://127.0.0.1/f.xml', '127.0.0.1', 'url', 1) RETURNING id"
        )
        category = ClaimedCategory(category_id, "http://127.0.0.1/f.xml", "127.0.0.1", 1, 0, False)
        for _ in range(4):
            await conn.execute(
                "UPDATE categories SET lease_owner = $1, lease_expires_at = now() + interval '1 minute'",
                queries.owner,
            )
            await queries.fail_sync(category, "HTTP Error 500", 1.0)
        # An instance stops beating (its registration lapses at once); the next beat of
        # another tells it, once.
        await queries.beat_instance(Registration("dead-1", "host", 1, "1.0", 2), 0.0)
        for _ in range(2):
            await queries.beat_instance(Registration("alive-2", "host", 2, "1.0", 2), 60.0)

        events = await told(conn)
        assert [kind for kind, _ in events] == ["breaker", "breaker", "cookies", "listing", "instance"]
        assert events[0][1].startswith("site *.nicovideo.jp: breaker opened (HTTP 429 Too Many Requests)")
        assert events[1][1] == "site *.nicovideo.jp: breaker closed: the probe got through"
        assert events[3][1] == "http://127.0.0.1/f.xml: 3 listings in a row failed, the last: HTTP Error 500"
        assert events[4][1].startswith("instance dead-1 died (last heartbeat ")

    await in_asyncio(database_url, scenario)
