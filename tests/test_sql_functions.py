"""The SQL functions that hold scheduling rules, each tested on its own (their callers,
the triggers and the claim, are tested in test_stride_queues.py and test_fair_scheduling.py).
fair_claim_key() and backfill_head() of migrations/0009-0010 are retired: no query of this
release reads them (migrations/0013 says why they stay); only the queues benchmark's
baseline does.
"""

from __future__ import annotations

from tests.conftest import Database

IN_FLIGHT = {"queued", "downloading", "uploading"}


async def test_which_videos_wait_and_which_keep_their_place(db: Database) -> None:
    rows = await db.fetch(
        "SELECT s::text AS status, d AS deferred,"
        " video_waits(s, d) AS waits, video_in_queue(s, d) AS in_queue"
        " FROM unnest(enum_range(NULL::video_status)) s, (VALUES (false), (true)) v(d)"
    )

    assert len(rows) == 14  # every status (skipped among them: migrations/0015), deferred or not
    for row in rows:
        pending, deferred = row["status"] == "pending", row["deferred"]
        # Counted as waiting (its category's share of claims): pending and due.
        assert row["waits"] == (pending and not deferred), dict(row)
        # Keeps its place in the queue: from pending until finished or deferred (migrations/0014).
        assert row["in_queue"] == ((pending or row["status"] in IN_FLIGHT) and not deferred), dict(row)


async def categories(db: Database, *queues: tuple[int, float, float, int, int]) -> list[int]:
    """Categories whose queues are (weight, upload_pass, backfill_pass, waiting_uploads, waiting_backfill)."""
    ids = []
    for n, (weight, upload_pass, backfill_pass, waiting_uploads, waiting_backfill) in enumerate(queues):
        category = await db.value(
            "INSERT INTO categories (url, website, kind) VALUES ($1, 'example.org', 'url') RETURNING id",
            f"https://example.org/c{n}",
        )
        await db.fetch(
            "UPDATE category_queues SET weight = $2, upload_pass = $3, backfill_pass = $4,"
            " waiting_uploads = $5, waiting_backfill = $6 WHERE category_id = $1",
            category,
            weight,
            upload_pass,
            backfill_pass,
            waiting_uploads,
            waiting_backfill,
        )
        ids.append(category)
    return ids


async def heads(db: Database) -> tuple[float | None, float | None]:
    row = (await db.fetch("SELECT queue_head(0::smallint) AS uploads, queue_head(1::smallint) AS backfill"))[
        0
    ]
    return row["uploads"], row["backfill"]


async def test_the_head_of_a_lane_is_the_least_pass_among_categories_that_wait(db: Database) -> None:
    assert await heads(db) == (None, None)  # nothing waits: no head

    await categories(
        db,
        (1, 5.0, 9.0, 2, 1),  # waits in both lanes
        (2, 3.0, 2.0, 0, 0),  # the least passes, but nothing waiting
        (0, 1.0, 1.0, 5, 5),  # waiting, but nobody subscribes: out of the walk
        (3, 8.0, 4.0, 1, 3),
    )

    assert await heads(db) == (5.0, 4.0)


async def test_following_the_queues_advances_by_turns_and_joins_an_idle_category_at_the_head(
    db: Database,
) -> None:
    busy, idle, other = await categories(db, (2, 10.0, 0.0, 3, 0), (1, 4.0, 0.0, 0, 0), (1, 7.0, 0.0, 1, 0))

    await db.fetch(
        "SELECT follow_queues($1, $2, $3, $4, $5)",
        [busy, idle],
        [0, 2],  # new uploads waiting
        [0, 0],
        [4, 0],  # turns taken (claims) in the upload lane
        [0, 0],
    )
    rows = {
        r["category_id"]: (r["upload_pass"], r["waiting_uploads"])
        for r in await db.fetch("SELECT category_id, upload_pass, waiting_uploads FROM category_queues")
    }

    assert rows[busy] == (12.0, 3)  # 10 + 4 turns / weight 2
    # It waited for nothing: it joins at the head (7.0, the least pass of those waiting),
    # not at its old 4.0, which would give it a burst of claims for the time it was idle.
    assert rows[idle] == (7.0, 2)
    assert rows[other] == (7.0, 1)  # untouched
