"""The counts ListCategories reads (category_counts, kept by triggers) equal a recount of
the categories' videos after every kind of change, and when a video's status changes while
another transaction adds it to a category."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

RECOUNT = """
SELECT c.id, count(v.id), count(v.id) FILTER (WHERE v.status = 'done'),
       count(v.id) FILTER (WHERE v.status = 'failed' OR v.approval = 'rejected')
FROM categories c
LEFT JOIN category_videos cv ON cv.category_id = c.id
LEFT JOIN videos v ON v.id = cv.video_id
GROUP BY c.id
"""
COUNTS = """
SELECT c.id, coalesce(n.total_videos, 0), coalesce(n.archived_videos, 0), coalesce(n.undownloadable_videos, 0)
FROM categories c LEFT JOIN category_counts n ON n.category_id = c.id
"""


async def _arrange(conn: asyncpg.Connection, categories: int, videos: int) -> None:
    await conn.execute(
        """
        INSERT INTO categories (url, website, kind)
        SELECT 'http://127.0.0.1/c' || n, '127.0.0.1', 'url' FROM generate_series(1, $1) AS n
        """,
        categories,
    )
    await conn.execute(
        """
        INSERT INTO videos (website, foreign_id, url)
        SELECT '127.0.0.1', 'v' || n, 'http://127.0.0.1/v' || n FROM generate_series(1, $1) AS n
        """,
        videos,
    )


async def _counts(conn: asyncpg.Connection, sql: str) -> dict[int, tuple[int, ...]]:
    return {r[0]: tuple(r[1:]) for r in await conn.fetch(sql)}


def test_the_counts_follow_every_change(database_url: str) -> None:
    async def scenario() -> tuple[dict[int, tuple[int, ...]], dict[int, tuple[int, ...]]]:
        conn = await asyncpg.connect(database_url)
        try:
            await _arrange(conn, 3, 12)
            # Memberships, one statement at a time and several at once; videos in two categories.
            await conn.execute("INSERT INTO category_videos SELECT 1, id, id FROM videos WHERE id <= 8")
            await conn.execute("INSERT INTO category_videos SELECT 2, id, id FROM videos WHERE id > 4")
            await conn.execute("UPDATE videos SET status = 'done' WHERE id IN (1, 5, 9)")
            await conn.execute("UPDATE videos SET approval = 'rejected' WHERE id IN (2, 6)")
            await conn.execute(
                "UPDATE videos SET status = 'failed' WHERE id IN (6, 7)"
            )  # rejected and failed
            odd = "SELECT 3, id, id FROM videos WHERE id % 2 = 1"
            await conn.execute(f"INSERT INTO category_videos {odd} ON CONFLICT DO NOTHING")
            await conn.execute("UPDATE videos SET status = 'pending' WHERE id = 5")  # done -> pending
            await conn.execute("UPDATE videos SET approval = 'approved' WHERE id = 2")
            await conn.execute("UPDATE videos SET title = 'renamed'")  # nothing counted changes
            return await _counts(conn, RECOUNT), await _counts(conn, COUNTS)
        finally:
            await conn.close()

    recount, counts = asyncio.run(scenario())

    assert counts == recount
    assert counts[1] == (8, 1, 2)  # 1 done; 6 rejected+failed and 7 failed count once each


def test_a_status_change_racing_a_new_membership_is_counted_whichever_commits_first(
    database_url: str,
) -> None:
    async def scenario(membership_first: bool) -> tuple[bool, tuple[int, ...]]:
        first, second = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
        try:
            await first.execute("TRUNCATE categories, videos RESTART IDENTITY CASCADE")
            await _arrange(first, 1, 1)
            add, finish = "INSERT INTO category_videos VALUES (1, 1, 0)", "UPDATE videos SET status = 'done'"
            early, late = (add, finish) if membership_first else (finish, add)
            # Two transactions open at once: neither sees the other's change before it commits.
            first_tx, second_tx = first.transaction(), second.transaction()
            await first_tx.start()
            await first.execute(early)
            await second_tx.start()
            late_done = asyncio.create_task(second.execute(late))
            observer = await asyncpg.connect(database_url)  # outside both: a fresh view each time
            try:
                waited = await _blocked_on_a_lock(observer, second.get_server_pid(), late_done)
            finally:
                await observer.close()
            await first_tx.commit()
            await late_done
            await second_tx.commit()
            return waited, (await _counts(first, COUNTS))[1]
        finally:
            await first.close()
            await second.close()

    for membership_first in (True, False):
        waited, counts = asyncio.run(scenario(membership_first))

        assert waited
        assert counts == (1, 1, 0)  # the video, delivered


async def _blocked_on_a_lock(observer: Any, pid: int, statement: asyncio.Task[Any]) -> bool:
    """Whether the statement of backend `pid` waits for a lock: it does once PostgreSQL
    says so (pg_stat_activity, read outside any transaction: a transaction would see one
    snapshot of it), it does not if it finishes first (bounded: 10 s)."""
    query = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1"
    async with asyncio.timeout(10):
        while not statement.done():
            if await observer.fetchval(query, pid):
                return True
            await asyncio.sleep(0.01)
    return False
