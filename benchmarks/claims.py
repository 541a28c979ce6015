"""Claim throughput and latency: our claim against the old design's, in the same run.

A database holds N pending videos across C categories; P concurrent pollers claim
batches until the queue is empty or the time is up. The baseline is the design this
service replaces: a CTE that picks due rows and updates them, under SERIALIZABLE and
without SKIP LOCKED, retried on serialization failures. Ours is the claim as the pollers
make it (PipelineQueries.claim_videos: the deferred videos that are due, then
claim_videos of scheduler/db/queries.sql). Each poller's
downloaders deliver its batches (benchmarks.harness.Downloaders), on both sides. Each run
starts from a copy of the same populated database. Double claims are counted, not assumed
away.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from benchmarks.harness import Downloaders, Environment, Result, Row, inverse_ratio, percentile, ratio
from scheduler.db.pipeline_queries import PipelineQueries
from scheduler.db.store import Store

BASELINE_CLAIM = """
WITH due AS (
    SELECT v.id
    FROM videos v
    JOIN category_videos cv ON cv.video_id = v.id
    JOIN categories c ON c.id = cv.category_id
    WHERE v.status = 'pending' AND v.next_attempt_at <= now()
    ORDER BY c.subscriber_count DESC, cv.position
    LIMIT $2
)
UPDATE videos v
SET status = 'queued', lease_owner = $1, lease_expires_at = now() + interval '60 seconds'
FROM due WHERE v.id = due.id
RETURNING v.id
"""

POPULATE = """
INSERT INTO categories (url, website, kind, subscriber_count)
SELECT 'https://bench.test/c/' || n, 'bench.test', 'url', 1 + (n * 7919) % 50
FROM generate_series(1, $2) AS n;

INSERT INTO videos (website, foreign_id, url, title)
SELECT 'bench.test', 'v' || n, 'https://bench.test/v/' || n, 'video ' || n
FROM generate_series(1, $1) AS n;

-- Waiting in their categories' queues, as a listing leaves them (migrations/0013).
INSERT INTO category_videos (category_id, video_id, position, waiting)
SELECT 1 + (v.id - 1) % $2, v.id, (v.id - 1) / $2, true FROM videos v;
ANALYZE;
"""


@dataclass
class ClaimRun:
    name: str
    claimed: list[int] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    retries: int = 0
    elapsed_s: float = 0.0

    @property
    def per_second(self) -> float:
        return len(self.claimed) / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def double_claims(self) -> int:
        return len(self.claimed) - len(set(self.claimed))

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


async def _claim_ours(queries: PipelineQueries, batch: int, run: ClaimRun) -> list[int]:
    start = time.perf_counter()
    claimed = [c.id for c in await queries.claim_videos(batch, 60.0, False, [])]
    run.latencies_ms.append((time.perf_counter() - start) * 1000)
    run.claimed.extend(claimed)
    return claimed


async def _claim_baseline(conn: Any, owner: str, batch: int, run: ClaimRun) -> list[int]:
    while True:
        start = time.perf_counter()
        try:
            async with conn.transaction(isolation="serializable"):
                rows = await conn.fetch(BASELINE_CLAIM, owner, batch)
        except asyncpg.SerializationError:
            run.retries += 1
            continue
        finally:
            run.latencies_ms.append((time.perf_counter() - start) * 1000)
        claimed = [r["id"] for r in rows]
        run.claimed.extend(claimed)
        return claimed


async def _poll(dsn: str, claim: Any, run: ClaimRun, batch: int, deadline: float, index: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with Downloaders(dsn) as downloaders:
            while time.perf_counter() < deadline:
                claimed = await claim(conn, f"poller-{index}", batch, run)
                if not claimed:
                    return
                await downloaders.took(claimed)
    finally:
        await conn.close()


async def _run_baseline(dsn: str, pollers: int, batch: int, seconds: float) -> ClaimRun:
    run = ClaimRun("baseline")
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(_poll(dsn, _claim_baseline, run, batch, deadline, i) for i in range(pollers)))
    run.elapsed_s = time.perf_counter() - start
    return run


async def _run_ours(dsn: str, pollers: int, batch: int, seconds: float) -> ClaimRun:
    run = ClaimRun("ours")

    async def poll(queries: PipelineQueries, deadline: float) -> None:
        async with Downloaders(dsn) as downloaders:
            while time.perf_counter() < deadline and (claimed := await _claim_ours(queries, batch, run)):
                await downloaders.took(claimed)

    store = await Store.open(dsn, max_size=pollers)
    try:
        start = time.perf_counter()
        await asyncio.gather(*(poll(store.pipeline(f"poller-{i}"), start + seconds) for i in range(pollers)))
        run.elapsed_s = time.perf_counter() - start
    finally:
        await store.close()
    return run


async def claim_benchmark(
    baseline_dsn: str, ours_dsn: str, pollers: int, batch: int, seconds: float
) -> tuple[ClaimRun, ClaimRun]:
    """(baseline, ours), each on its own copy of the same populated database."""
    baseline = await _run_baseline(baseline_dsn, pollers, batch, seconds)
    ours = await _run_ours(ours_dsn, pollers, batch, seconds)
    return baseline, ours


def run(env: Environment) -> Result:
    videos = int(env.pick(300, 17_000, 170_000))
    categories = int(env.pick(10, 100, 1_000))
    seconds = env.pick(5.0, 10.0, 30.0)
    pollers, batch = 4, 16
    with env.populated_copies("claims", POPULATE, (videos, categories), 2) as [baseline_dsn, ours_dsn]:
        baseline, ours = asyncio.run(claim_benchmark(baseline_dsn, ours_dsn, pollers, batch, seconds))
    return Result(
        key="claims",
        title="Claim throughput and latency",
        setup=(
            f"{videos:,} pending videos in {categories:,} categories, {pollers} pollers claiming batches "
            f"of {batch} for up to {seconds:g} s each side."
        ),
        rows=[
            Row(
                "claims/s",
                f"{baseline.per_second:.0f}",
                f"{ours.per_second:.0f}",
                ratio(baseline.per_second, ours.per_second),
                ">= 10x",
                ratio(baseline.per_second, ours.per_second) >= 10,
            ),
            Row(
                "p50 per claim (ms)",
                f"{baseline.percentile(50):.1f}",
                f"{ours.percentile(50):.1f}",
                inverse_ratio(baseline.percentile(50), ours.percentile(50)),
            ),
            Row(
                "p99 per claim (ms)",
                f"{baseline.percentile(99):.1f}",
                f"{ours.percentile(99):.1f}",
                inverse_ratio(baseline.percentile(99), ours.percentile(99)),
                "< 20 ms",
                ours.percentile(99) < 20,
            ),
            Row(
                "serialization retries",
                str(baseline.retries),
                str(ours.retries),
                None,
                "0",
                ours.retries == 0,
            ),
            Row(
                "double claims",
                str(baseline.double_claims),
                str(ours.double_claims),
                None,
                "0",
                ours.double_claims == 0,
            ),
            Row("videos claimed", str(len(baseline.claimed)), str(len(ours.claimed))),
        ],
    )
