"""Subscriptions and claims at any backlog: stride queues (migrations/0013) against per-video keys.

The baseline is the design before: every pending video carried its claim key (its category's
base + its place / subscribers), so a subscription change re-keyed every pending video of the
category (rebase_category, then refresh_claim_order), and the claim walked an index of those
keys. It runs on a database migrated up to 0012, with that design's own statements (below,
as they were); ours on one migrated to the latest, with the statements the API and the
pollers run. Both sides start from the same rows.

- Subscribe and unsubscribe: one category holding N pending videos beside other
  categories with their own backlog; users subscribe to it and unsubscribe again, each call
  timed end to end (ours: Store.schedule_category and Store.unsubscribe).
- Claims: V pending videos in C categories of skewed sizes (the largest holds about 1,000
  times the smallest) and weights of 1 to 50 subscribers; P pollers claim batches for a
  while. Fairness: over the categories that still had videos waiting at the end, each one's
  claims against its weight's share of all their claims.
- ListCategories: a user subscribed to 1,000 of those categories; the statement the RPC runs
  (Store.list_categories), against the design before counts were kept (a count per category).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks.harness import (
    Downloaders,
    Environment,
    Result,
    Row,
    execute,
    inverse_ratio,
    percentile,
    run_script,
)
from scheduler.categories import CategoryTarget, Kind
from scheduler.db.connector import SQL
from scheduler.db.migrate import load_migrations, migrate
from scheduler.db.store import Store

BASELINE_MIGRATIONS = 12  # the last migration of the per-video keys
POLLERS, BATCH = 4, 8
READER = 1_000_000  # the user whose 1,000 categories ListCategories lists

# The baseline's statements, as they were before migrations/0013 (its subscribe and
# unsubscribe are the API's own, unchanged: the difference is what follows them).
BASELINE_REBASE = """
UPDATE categories c
SET claim_base = backfill_head() - oldest.position::float8 / greatest(c.subscriber_count, 1)
FROM (
    SELECT min(cv.position) AS position
    FROM category_videos cv JOIN videos v ON v.id = cv.video_id
    WHERE cv.category_id = $1 AND cv.upload_rank IS NULL AND v.status = 'pending'
) oldest
WHERE c.id = $1 AND oldest.position IS NOT NULL
"""
BASELINE_REFRESH = """
UPDATE videos v
SET priority = p.subscriber_count, claim_position = p.position, delivery_category_id = p.category_id,
    claim_class = p.claim_class, claim_key = p.claim_key
FROM video_claim_orders p
WHERE p.video_id IN (SELECT video_id FROM category_videos WHERE category_id = $1) AND v.id = p.video_id
  AND (v.priority, v.claim_position, v.delivery_category_id, v.claim_class, v.claim_key)
      IS DISTINCT FROM (p.subscriber_count, p.position, p.category_id, p.claim_class, p.claim_key)
"""
BASELINE_CLAIM = """
WITH pending AS MATERIALIZED (
    SELECT id FROM videos
    WHERE status = 'pending' AND next_attempt_at <= now()
      AND priority > 0 AND approval <> 'rejected'
    ORDER BY claim_class, claim_key, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE videos v
SET status = 'queued', lease_owner = $1, lease_expires_at = now() + interval '1 hour'
FROM pending WHERE v.id = pending.id
RETURNING v.id, v.delivery_category_id AS category_id
"""
# The design before category_counts: the categories, then a count per category.
BASELINE_LIST = """
SELECT c.id FROM subscriptions s JOIN categories c ON c.id = s.category_id
WHERE s.user_id = $1 ORDER BY c.id
"""
BASELINE_COUNT = """
SELECT count(*), count(*) FILTER (WHERE v.status = 'done'),
       count(*) FILTER (WHERE v.status = 'failed' OR v.approval = 'rejected')
FROM category_videos cv JOIN videos v ON v.id = cv.video_id
WHERE cv.category_id = $1
"""

# Categories ($2 of them, weights 1..50; the reader subscribes to every tenth), then $1
# videos, each in one category: video n goes to category 1 + floor($2 x u^3), u spread
# evenly over [0, 1) by a multiplicative hash, so category 1 is about 1,000 times the size
# of the last; then $4 more videos in category 1, the subscription benchmark's backlog.
# Places oldest first within each category, and the category on each video, as a first
# listing leaves them.
FILL = """
INSERT INTO categories (url, website, kind, next_sync_at)
SELECT 'https://bench.test/c/' || n, 'bench.test', 'url', 'infinity' FROM generate_series(1, $2) AS n;
INSERT INTO subscriptions (user_id, category_id)
SELECT u, c.id FROM categories c, generate_series(1, 1 + (c.id * 7919) % 50) AS u;
INSERT INTO subscriptions (user_id, category_id) SELECT $3, id FROM categories WHERE id % 10 = 0;
UPDATE categories c SET subscriber_count = (SELECT count(*) FROM subscriptions s WHERE s.category_id = c.id);
INSERT INTO videos (website, foreign_id, url, title, delivery_category_id)
SELECT 'bench.test', 'v' || n, 'https://bench.test/v/' || n, 'video ' || n,
       1 + floor($2 * power(((n * 2654435761) % 1000003) / 1000003.0, 3))::bigint
FROM generate_series(1, $1) AS n;
INSERT INTO videos (website, foreign_id, url, title, delivery_category_id)
SELECT 'bench.test', 'big' || n, 'https://bench.test/big/' || n, 'video ' || n, 1
FROM generate_series(1, $4) AS n;
CREATE TEMPORARY TABLE placed AS SELECT id AS video_id, delivery_category_id AS category_id FROM videos;
"""
OURS_PLACES = """
INSERT INTO category_videos (category_id, video_id, position, waiting)
SELECT category_id, video_id, row_number() OVER (PARTITION BY category_id ORDER BY video_id) - 1, true
FROM placed;
ANALYZE;
"""
BASELINE_PLACES = """
INSERT INTO category_videos (category_id, video_id, position)
SELECT category_id, video_id, row_number() OVER (PARTITION BY category_id ORDER BY video_id) - 1
FROM placed;
UPDATE videos v SET priority = o.subscriber_count, claim_position = o.position,
    delivery_category_id = o.category_id, claim_class = o.claim_class, claim_key = o.claim_key
FROM video_claim_orders o WHERE o.video_id = v.id;
ANALYZE;
"""
WAITING = """
SELECT cv.category_id, count(*) FROM category_videos cv JOIN videos v ON v.id = cv.video_id
WHERE v.status = 'pending' GROUP BY cv.category_id
"""


@dataclass
class Side:
    name: str
    dsn: str
    subscribe_ms: list[float] = field(default_factory=list)
    unsubscribe_ms: list[float] = field(default_factory=list)
    claim_ms: list[float] = field(default_factory=list)
    claimed: list[tuple[int, int]] = field(default_factory=list)  # (video, category)
    claim_s: float = 0.0
    list_ms: list[float] = field(default_factory=list)
    fairness: Fairness | None = None

    @property
    def claims_per_s(self) -> float:
        return len(self.claimed) / self.claim_s if self.claim_s else 0.0

    @property
    def double_claims(self) -> int:
        return len(self.claimed) - len({video for video, _ in self.claimed})


@dataclass(frozen=True)
class Fairness:
    categories: int  # those still waiting at the end
    within: int  # whose claims were within max(2, 10 %) of their weight's share
    worst: float  # the largest |claims - share|, in claims


def fairness(claimed: list[tuple[int, int]], weights: dict[int, int], waiting: set[int]) -> Fairness:
    """Each category that had work all along, its claims against its weight's share of theirs."""
    counts = Counter(category for _, category in claimed if category in waiting)
    total, weight = sum(counts.values()), sum(weights[c] for c in waiting)
    within, worst = 0, 0.0
    for category in waiting:
        share = total * weights[category] / weight
        off = abs(counts[category] - share)
        within += off <= max(2.0, 0.1 * share)
        worst = max(worst, off)
    return Fairness(len(waiting), within, worst)


def _write_migrations(directory: Path, count: int) -> None:
    """The first `count` migrations, as files a migration runner reads."""
    for migration in load_migrations()[:count]:
        (directory / f"{migration.version:04d}_{migration.name}.sql").write_text(migration.sql)


async def _create(env: Environment, name: str, migrations: int | None) -> str:
    await execute(env.database_url, f'CREATE DATABASE "{name}"')
    dsn = env.database(name)
    if migrations is None:
        await migrate(dsn)
    else:
        with tempfile.TemporaryDirectory() as directory:
            _write_migrations(Path(directory), migrations)
            await migrate(dsn, Path(directory))
    return dsn


async def _fill(dsn: str, script: str, values: tuple[object, ...]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await run_script(conn, script, values)
    finally:
        await conn.close()


async def _timed(samples: list[float], call: Any, *args: Any) -> Any:
    start = time.perf_counter()
    result = await call(*args)
    samples.append((time.perf_counter() - start) * 1000)
    return result


async def _subscriptions_ours(side: Side, changes: int) -> None:
    store = await Store.open(side.dsn, max_size=2)
    try:
        target = CategoryTarget("https://bench.test/c/1", "bench.test", Kind.URL)
        for user in range(2_000_000, 2_000_000 + changes):
            scheduled = await _timed(side.subscribe_ms, store.schedule_category, target, user, False)
            assert scheduled.subscribed and scheduled.category_id == 1
            await _timed(side.unsubscribe_ms, store.unsubscribe, user, 1)
    finally:
        await store.close()


async def _subscriptions_baseline(side: Side, changes: int) -> None:
    conn = await asyncpg.connect(side.dsn)

    async def change(statement: str, user: int) -> None:
        async with conn.transaction():
            assert await conn.fetchval(statement, user, 1) is not None
            await conn.execute(BASELINE_REBASE, 1)
            await conn.execute(BASELINE_REFRESH, 1)
            await conn.execute(SQL["add_event"], 1, None, f"user {user} changed")

    try:
        for user in range(2_000_000, 2_000_000 + changes):
            await _timed(side.subscribe_ms, change, SQL["subscribe"], user)
            await _timed(side.unsubscribe_ms, change, SQL["unsubscribe"], user)
    finally:
        await conn.close()


async def _claims(side: Side, seconds: float, most: int, ours: bool) -> None:
    """Pollers claim for `seconds`, or until `most` are claimed: fairness is measured while
    the categories still have work. Ours claim as the service does (PipelineQueries.claim_videos:
    the deferred videos that are due, then the claim)."""

    async def poll_ours(store: Store, index: int, deadline: float) -> None:
        queries = store.pipeline(f"poller-{index}")
        async with Downloaders(side.dsn) as downloaders:
            while time.perf_counter() < deadline and len(side.claimed) < most:
                claimed = await _timed(side.claim_ms, queries.claim_videos, BATCH, 3600.0, False, [])
                if not claimed:
                    return
                side.claimed.extend((c.id, c.category_id) for c in claimed)
                await downloaders.took([c.id for c in claimed])

    async def poll_baseline(index: int, deadline: float) -> None:
        conn = await asyncpg.connect(side.dsn)
        try:
            async with Downloaders(side.dsn) as downloaders:
                while time.perf_counter() < deadline and len(side.claimed) < most:
                    rows = await _timed(side.claim_ms, conn.fetch, BASELINE_CLAIM, f"poller-{index}", BATCH)
                    if not rows:
                        return
                    side.claimed.extend((r["id"], r["category_id"]) for r in rows)
                    await downloaders.took([r["id"] for r in rows])
        finally:
            await conn.close()

    start = time.perf_counter()
    if ours:
        store = await Store.open(side.dsn, max_size=POLLERS)
        try:
            start = time.perf_counter()
            await asyncio.gather(*(poll_ours(store, i, start + seconds) for i in range(POLLERS)))
        finally:
            await store.close()
    else:
        await asyncio.gather(*(poll_baseline(i, start + seconds) for i in range(POLLERS)))
    side.claim_s = time.perf_counter() - start


async def _fairness(side: Side) -> None:
    conn = await asyncpg.connect(side.dsn)
    try:
        weights = {
            r["id"]: r["subscriber_count"]
            for r in await conn.fetch("SELECT id, subscriber_count FROM categories")
        }
        waiting = {r["category_id"] for r in await conn.fetch(WAITING)}
    finally:
        await conn.close()
    side.fairness = fairness(side.claimed, weights, waiting)


async def _list_categories(side: Side, calls: int, ours: bool) -> None:
    if ours:
        store = await Store.open(side.dsn, max_size=1)
        try:
            for _ in range(calls):
                assert await _timed(side.list_ms, store.list_categories, READER)
        finally:
            await store.close()
        return
    conn = await asyncpg.connect(side.dsn)

    async def old_list() -> None:
        for row in await conn.fetch(BASELINE_LIST, READER):
            await conn.fetchrow(BASELINE_COUNT, row["id"])

    try:
        for _ in range(calls):
            await _timed(side.list_ms, old_list)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Scale:
    videos: int  # in the claims' categories
    categories: int
    big: int  # the subscription benchmark's category's backlog
    changes: int  # subscribe + unsubscribe pairs, ours
    baseline_changes: int
    claim_s: float
    list_calls: int
    baseline_list_calls: int


def scale_of(env: Environment) -> Scale:
    return Scale(
        videos=int(env.pick(3_000, 500_000, 5_000_000)),
        categories=int(env.pick(30, 1_000, 10_000)),
        big=int(env.pick(2_000, 50_000, 500_000)),
        changes=int(env.pick(5, 50, 100)),
        baseline_changes=int(env.pick(2, 5, 5)),
        claim_s=env.pick(2.0, 10.0, 30.0),
        list_calls=int(env.pick(5, 100, 200)),
        baseline_list_calls=int(env.pick(2, 5, 5)),
    )


async def queues_benchmark(env: Environment, scale: Scale) -> tuple[Side, Side]:
    """(baseline, ours): each side on a database of its own design, filled alike."""
    tag = uuid.uuid4().hex[:8]
    names = {"baseline": f"bench_queues_{tag}_baseline", "ours": f"bench_queues_{tag}_ours"}
    try:
        baseline = Side("baseline", await _create(env, names["baseline"], BASELINE_MIGRATIONS))
        ours = Side("ours", await _create(env, names["ours"], None))
        values = (scale.videos, scale.categories, READER, scale.big)
        for side, places in ((baseline, BASELINE_PLACES), (ours, OURS_PLACES)):
            await _fill(side.dsn, FILL + places, values)
        for side, is_ours in ((baseline, False), (ours, True)):
            await _list_categories(side, scale.list_calls if is_ours else scale.baseline_list_calls, is_ours)
        await _subscriptions_baseline(baseline, scale.baseline_changes)
        await _subscriptions_ours(ours, scale.changes)
        for side, is_ours in ((baseline, False), (ours, True)):
            await _claims(side, scale.claim_s, scale.videos // 4, is_ours)
            await _fairness(side)
        return baseline, ours
    finally:
        await execute(
            env.database_url, *(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names.values())
        )


def _ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q):.1f}"


def _latency_rows(measure: str, baseline: list[float], ours: list[float], target_ms: float) -> list[Row]:
    """p50, and p99 against the target."""
    p50, p99 = (inverse_ratio(percentile(baseline, q), percentile(ours, q)) for q in (50, 99))
    return [
        Row(f"{measure} p50 (ms)", _ms(baseline, 50), _ms(ours, 50), p50),
        Row(
            f"{measure} p99 (ms)",
            _ms(baseline, 99),
            _ms(ours, 99),
            p99,
            f"< {target_ms:g} ms",
            percentile(ours, 99) < target_ms,
        ),
    ]


def result(scale: Scale, baseline: Side, ours: Side) -> Result:
    assert baseline.fairness and ours.fairness
    fair_b, fair_o = baseline.fairness, ours.fairness
    claims_ratio = ours.claims_per_s / baseline.claims_per_s if baseline.claims_per_s else None
    rows = [
        *_latency_rows("subscribe", baseline.subscribe_ms, ours.subscribe_ms, 20),
        *_latency_rows("unsubscribe", baseline.unsubscribe_ms, ours.unsubscribe_ms, 20),
        Row("claims/s", f"{baseline.claims_per_s:.0f}", f"{ours.claims_per_s:.0f}", claims_ratio),
        *_latency_rows("claim", baseline.claim_ms, ours.claim_ms, 10),
        Row(
            "double claims",
            str(baseline.double_claims),
            str(ours.double_claims),
            None,
            "0",
            not ours.double_claims,
        ),
        Row(
            "fairness: categories within max(2, 10 %) of their weight's share",
            f"{fair_b.within:,} of {fair_b.categories:,}",
            f"{fair_o.within:,} of {fair_o.categories:,}",
        ),
        Row(
            "fairness: the farthest category from its share (claims)",
            f"{fair_b.worst:.1f}",
            f"{fair_o.worst:.1f}",
        ),
        *_latency_rows("ListCategories, 1,000 categories,", baseline.list_ms, ours.list_ms, 20),
    ]
    return Result(
        key="queues",
        title="Subscriptions and claims at any backlog",
        setup=(
            f"{scale.videos:,} pending videos in {scale.categories:,} categories of skewed sizes, "
            "weights 1-50; "
            f"category 1 holds {scale.big:,} more. Subscribe + unsubscribe to category 1: "
            f"{scale.changes} pairs (baseline {scale.baseline_changes}); claims: {POLLERS} pollers, "
            f"batches of {BATCH}, {scale.claim_s:g} s a side; ListCategories: {scale.list_calls} calls "
            f"(baseline {scale.baseline_list_calls}). Baseline: per-video claim keys (migrations up to "
            f"{BASELINE_MIGRATIONS:04d}); ours: stride queues (0013, 0014), claimed as the service does."
        ),
        rows=rows,
    )


def run_sides(env: Environment, scale: Scale) -> tuple[Side, Side]:
    return asyncio.run(queues_benchmark(env, scale))


def run(env: Environment) -> Result:
    scale = scale_of(env)
    return result(scale, *run_sides(env, scale))
