"""Sync: a feed listed by yt-dlp, stored into the database, then re-synced with a few new entries.

yt-dlp lists an N-entry RSS feed of the local content site (tests/content_site.py), timed on
its own: that part is yt-dlp's. The listing is stored by the syncer's own function
(PipelineQueries.finish_sync) into a scratch database that already holds other categories'
videos, and by the baseline into another one filled the same way: the same transaction, with
an INSERT round trip per entry for the video and another for its place in the category, then
the claim order refreshed for the whole category (the old design). Then the feed grows and
is synced again: ours with 0, 10, 100 and 1,000 new entries in turn, the baseline with 10.
Each sync counts the rows it wrote to videos and category_videos (live rows whose xmin is
newer than the sync). The grown feed's listing is the first listing followed by a listing of
the new items alone: what yt-dlp gives for the whole feed, oldest first, without listing N
entries again.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg

from benchmarks.harness import Environment, Result, Row, inverse_ratio, ratio, run_script
from scheduler.db.connector import SQL
from scheduler.db.listing_queries import StoredPages
from scheduler.db.store import Store
from scheduler.pipeline import sanitize, ytdlp
from scheduler.pipeline.ytdlp.listing import list_category
from scheduler.settings import from_overrides
from scheduler.work import ClaimedCategory, ListedVideo
from tests.content_site import ContentSite, content_site

OWNER = "bench-syncer"
# Ours: the new entries of each re-sync, in turn; the short ones thrice (the median is shown).
RESYNC_NEW = (0, 0, 0, 10, 10, 10, 100, 1_000)
BASELINE_RESYNC_NEW = 10  # the baseline re-syncs once: each of its syncs costs 2N round trips
FIRST_STORES = 3  # ours stores the listing afresh into this many categories (the median is shown)
MIN_BACKOFF_S, MAX_BACKOFF_FACTOR = 3600.0, 8
PAGE_ENTRIES = 100  # the default of sync.page_entries
SETTINGS = from_overrides({}).downloader

# The old design: a round trip per entry for the video (its id, new or not, without
# rewriting a known one), another for its place after the category's newest.
BASELINE_VIDEO = """
WITH inserted AS (
    INSERT INTO videos (website, foreign_id, url, title, listed) VALUES ($1, $2, $3, $4, $5::jsonb)
    ON CONFLICT (website, foreign_id) DO NOTHING
    RETURNING id
)
SELECT id FROM inserted UNION ALL SELECT id FROM videos WHERE website = $1 AND foreign_id = $2
"""
BASELINE_POSITION = """
INSERT INTO category_videos (category_id, video_id, position)
SELECT $1, $2, coalesce(max(position) + 1, 0) FROM category_videos WHERE category_id = $1
ON CONFLICT DO NOTHING
"""
# ...and then the category's claim order refreshed, reading every video it lists and
# writing those whose order changed (here: its new ones).
BASELINE_REFRESH = """
UPDATE videos v SET delivery_category_id = cv.category_id
FROM category_videos cv
WHERE cv.category_id = $1 AND v.id = cv.video_id AND v.delivery_category_id IS DISTINCT FROM cv.category_id
"""

# Other categories' videos, so that a sync's statements meet a database of some size.
OTHERS = """
INSERT INTO categories (url, website, kind, subscriber_count, next_sync_at)
SELECT 'https://other.test/c/' || n, 'other.test', 'url', 1, 'infinity' FROM generate_series(1, $2) AS n;
INSERT INTO videos (website, foreign_id, url, title)
SELECT 'other.test', 'o' || n, 'https://other.test/v/' || n, 'video ' || n FROM generate_series(1, $1) AS n;
INSERT INTO category_videos (category_id, video_id, position, waiting)
SELECT 1 + (id - 1) % $2, id, (id - 1) / $2, true FROM videos;
"""
CATEGORY = """
INSERT INTO categories (url, website, kind, subscriber_count, next_sync_at)
VALUES ('http://127.0.0.1/feeds/bench-' || $1 || '.xml', '127.0.0.1', 'url', 1, 'infinity')
RETURNING id
"""
# Rows written since the transaction $1 (mod 2^32, as xmin is): only this benchmark writes here.
ROWS_WRITTEN = """
SELECT (SELECT count(*) FROM videos WHERE xmin::text::bigint > $1)
     + (SELECT count(*) FROM category_videos WHERE xmin::text::bigint > $1)
"""
# What the syncs left: the category's videos in order, with their place in its queue; places
# counted from the category's oldest (ours places a first listing before 0, the baseline after).
STORED = """
SELECT v.website, v.foreign_id, v.url, v.title, v.listed, cv.position - min(cv.position) OVER (),
       cv.waiting, v.delivery_category_id, v.status::text
FROM category_videos cv JOIN videos v ON v.id = cv.video_id
WHERE cv.category_id = $1
ORDER BY cv.position
"""


@dataclass(frozen=True)
class Step:
    listed: int
    new: int
    seconds: float
    rows_written: int


@dataclass
class Side:
    first: list[Step] = field(default_factory=list)  # first syncs, one per category
    resyncs: list[Step] = field(default_factory=list)  # then the first category's, in turn
    stored: list[tuple[Any, ...]] = field(default_factory=list)  # after the baseline's re-sync

    def first_s(self) -> float:
        return statistics.median(step.seconds for step in self.first)

    def resync(self, new: int) -> Step:
        """The median re-sync with `new` new entries."""
        steps = sorted((s for s in self.resyncs if s.new == new), key=lambda s: s.seconds)
        return steps[(len(steps) - 1) // 2]


@dataclass(frozen=True)
class Paged:
    """A first listing stored page by page while yt-dlp reads it (the syncer's store_page)."""

    first_page_s: float  # from the listing's start to its first page committed: downloads may start
    all_s: float  # to the whole listing committed
    pages: int


@dataclass(frozen=True)
class Outcome:
    entries: int
    others: int
    listing_s: float
    baseline: Side
    ours: Side
    paged: Paged


def list_feeds(
    site: ContentSite, entries: int, new: int
) -> tuple[list[ListedVideo], list[ListedVideo], float]:
    """(the first `entries` listed, the `new` ones after them, seconds yt-dlp took to list
    the first feed), each as the syncer stores it: oldest first, sanitized."""
    ids = [f"v{n:07d}" for n in range(entries + new)]
    for video_id in ids:
        site.add_video(video_id, size=1_000)
    first, later = site.feed("first", ids[:entries]), site.feed("later", ids[entries:])
    start = time.perf_counter()
    listed = _clean(list_category(first, site.host, SETTINGS, (site.host,)))
    seconds = time.perf_counter() - start
    return listed, _clean(list_category(later, site.host, SETTINGS, (site.host,))), seconds


def _clean(listing: ytdlp.Listing) -> list[ListedVideo]:
    """What the syncer does between the listing and the store."""
    return [v for v in map(sanitize.clean_listed, listing.videos) if v is not None]


class Ours:
    """The syncer's own store: PipelineQueries.finish_sync."""

    async def open(self, dsn: str) -> None:
        self._store = await Store.open(dsn, min_size=1, max_size=1)

    async def close(self) -> None:
        await self._store.close()

    async def store(self, category: ClaimedCategory, videos: list[ListedVideo]) -> None:
        assert (
            await self._store.pipeline(OWNER).finish_sync(
                category, videos, [], min_backoff_s=MIN_BACKOFF_S, max_backoff_factor=MAX_BACKOFF_FACTOR
            )
            is not None
        )


class Baseline:
    """finish_sync's transaction with the entries stored one by one, the claim order then
    refreshed for the whole category."""

    async def open(self, dsn: str) -> None:
        self._conn = await asyncpg.connect(dsn)

    async def close(self) -> None:
        await self._conn.close()

    async def store(self, category: ClaimedCategory, videos: list[ListedVideo]) -> None:
        conn = self._conn
        async with conn.transaction():
            new = 0
            for v in videos:
                video_id = await conn.fetchval(
                    BASELINE_VIDEO, v.website, v.foreign_id, v.url, v.title, json.dumps(v.listed)
                )
                new += await conn.execute(BASELINE_POSITION, category.id, video_id) == "INSERT 0 1"
            if new:
                await conn.execute(BASELINE_REFRESH, category.id)
            backoff = (MAX_BACKOFF_FACTOR, MIN_BACKOFF_S)
            assert await conn.fetchrow(SQL["finish_sync"], category.id, OWNER, new > 0, *backoff) is not None
            await conn.execute(
                SQL["add_event"], category.id, None, f"synced: {len(videos)} listed, {new} new"
            )
            if new:
                await conn.execute(SQL["notify_work"])


async def _syncs(
    dsn: str,
    side: Ours | Baseline,
    others: int,
    firsts: list[list[ListedVideo]],
    resyncs: list[list[ListedVideo]],
) -> Side:
    """Each of `firsts` stored into a new category, then each of `resyncs` into the first
    one, in turn. Only the store is timed; ANALYZE runs before each (autovacuum's work,
    done at once)."""
    done = Side()
    conn = await asyncpg.connect(dsn)
    await side.open(dsn)
    try:
        await run_script(conn, OTHERS, (others, _categories(others)))
        categories = [await conn.fetchval(CATEGORY, str(n)) for n in range(len(firsts))]
        for category_id, videos in zip(categories, firsts, strict=True):
            done.first.append(await _sync(conn, side, category_id, videos, 0))
        known = len(firsts[0])
        for videos in resyncs:
            done.resyncs.append(await _sync(conn, side, categories[0], videos, known))
            known = len(videos)
            if known == len(firsts[0]) + BASELINE_RESYNC_NEW:  # where both sides have been
                done.stored = [tuple(r) for r in await conn.fetch(STORED, categories[0])]
    finally:
        await side.close()
        await conn.close()
    return done


async def _sync(
    conn: Any, side: Ours | Baseline, category_id: int, videos: list[ListedVideo], known: int
) -> Step:
    category = await _claim(conn, category_id)
    before = await conn.fetchval("SELECT txid_current() % 4294967296")
    start = time.perf_counter()
    await side.store(category, videos)
    seconds = time.perf_counter() - start
    return Step(len(videos), len(videos) - known, seconds, await conn.fetchval(ROWS_WRITTEN, before))


async def _paged_first_sync(dsn: str, others: int, feed: str, host: str) -> Paged:
    """The feed's first listing, each page stored as yt-dlp hands it over (in its thread),
    the rest at its end: the syncer's path (pipeline._sync), on asyncio."""
    conn = await asyncpg.connect(dsn)
    store = await Store.open(dsn, min_size=1, max_size=1)
    try:
        await run_script(conn, OTHERS, (others, _categories(others)))
        category = await _claim(conn, await conn.fetchval(CATEGORY, "paged"))
        queries = store.pipeline(OWNER)
        loop = asyncio.get_running_loop()
        stored, committed = StoredPages(), []

        def store_page(page: ytdlp.Listing) -> None:
            videos = _clean(page)
            future = asyncio.run_coroutine_threadsafe(queries.store_page(category, videos, [], 600.0), loop)
            stored.new += future.result() or 0
            stored.listed += len(videos)
            committed.append(time.perf_counter())

        start = time.perf_counter()
        rest = await loop.run_in_executor(
            None,
            lambda: list_category(
                feed, host, SETTINGS, (host,), on_page=store_page, page_entries=PAGE_ENTRIES
            ),
        )
        outcome = await queries.finish_sync(
            category,
            _clean(rest),
            [],
            min_backoff_s=MIN_BACKOFF_S,
            max_backoff_factor=MAX_BACKOFF_FACTOR,
            earlier=stored,
        )
        end = time.perf_counter()
        assert outcome is not None
        return Paged((committed or [end])[0] - start, end - start, len(committed) + 1)
    finally:
        await store.close()
        await conn.close()


async def _claim(conn: Any, category_id: int) -> ClaimedCategory:
    """The category, claimed as a syncer claims it, after an ANALYZE (autovacuum's work,
    done at once)."""
    await conn.execute("ANALYZE")
    await conn.execute("UPDATE categories SET next_sync_at = now() WHERE id = $1", category_id)
    category = ClaimedCategory.from_row(await conn.fetchrow(SQL["claim_category"], OWNER, 600.0, []))
    assert category.id == category_id  # the only one due
    return category


def _categories(others: int) -> int:
    """The other videos' categories: 170 videos each (as 170,000 in 1,000 at the claims' full scale)."""
    return max(10, others // 170)


def sync_benchmark(env: Environment, entries: int, others: int) -> Outcome:
    with content_site() as site:
        first, later, listing_s = list_feeds(site, entries, sum(RESYNC_NEW))
        with env.scratch_database("sync_paged") as dsn:
            paged = asyncio.run(_paged_first_sync(dsn, others, site.feed_url("first"), site.host))
    grown, added = [], 0
    for new in RESYNC_NEW:
        added += new
        grown.append(first + later[:added])
    # Ours stores the same entries afresh under other websites too: as new as the first time.
    copies = [[replace(v, website=f"copy-{n}.test") for v in first] for n in range(1, FIRST_STORES)]
    with env.scratch_database("sync_baseline") as dsn:
        baseline = asyncio.run(
            _syncs(dsn, Baseline(), others, [first], [first + later[:BASELINE_RESYNC_NEW]])
        )
    with env.scratch_database("sync_ours") as dsn:
        ours = asyncio.run(_syncs(dsn, Ours(), others, [first, *copies], grown))
    return Outcome(entries, others, listing_s, baseline, ours, paged)


def result(outcome: Outcome) -> Result:
    n, base, ours = outcome.entries, outcome.baseline, outcome.ours
    base_rate, ours_rate = n / base.first_s(), n / ours.first_s()
    base_resync, ours_resync = base.resync(BASELINE_RESYNC_NEW), ours.resync(BASELINE_RESYNC_NEW)
    # Proportional to the new entries: every re-sync writes the new videos and their places,
    # nothing else, and a few new entries cost a small part of a first store.
    proportional = all(step.rows_written == 2 * step.new for step in ours.resyncs)
    rows = [
        Row(f"yt-dlp listing {n:,} entries (s)", "", f"{outcome.listing_s:.1f}"),
        Row(
            f"storing {n:,} entries (entries/s)",
            f"{base_rate:,.0f}",
            f"{ours_rate:,.0f}",
            ratio(base_rate, ours_rate),
            ">= 10x",
            ratio(base_rate, ours_rate) >= 10,
        ),
        Row(
            f"re-sync, {BASELINE_RESYNC_NEW} new of {n + BASELINE_RESYNC_NEW:,} (ms)",
            f"{base_resync.seconds * 1000:,.0f}",
            f"{ours_resync.seconds * 1000:,.0f}",
            inverse_ratio(base_resync.seconds, ours_resync.seconds),
            "proportional to new entries",
            proportional and ours_resync.seconds < ours.first_s() / 5,
        ),
        Row(
            f"rows written: first store; re-sync with {BASELINE_RESYNC_NEW} new",
            f"{base.first[0].rows_written:,}; {base_resync.rows_written:,}",
            f"{ours.first[0].rows_written:,}; {ours_resync.rows_written:,}",
        ),
    ]
    # Stored whole, a first listing's videos can be claimed once yt-dlp has listed it all
    # and it is stored; in pages, once its first page is stored.
    whole_s = outcome.listing_s + ours.first_s()
    paged = outcome.paged
    rows += [
        Row(
            f"first listing of {n:,}: its first videos claimable after (ms)",
            f"{whole_s * 1000:,.0f} (stored whole)",
            f"{paged.first_page_s * 1000:,.0f} ({paged.pages} pages)",
            inverse_ratio(whole_s, paged.first_page_s),
            "downloads start before the listing ends",
            paged.first_page_s < whole_s,
        ),
        Row(
            f"first listing of {n:,}: all stored after (ms)",
            f"{whole_s * 1000:,.0f} (stored whole)",
            f"{paged.all_s * 1000:,.0f} ({paged.pages} pages)",
            inverse_ratio(whole_s, paged.all_s),
        ),
    ]
    rows += [
        Row(
            f"re-sync, {new:,} new: ms; rows written",
            "",
            f"{ours.resync(new).seconds * 1000:,.0f}; {ours.resync(new).rows_written:,}",
        )
        for new in sorted(set(RESYNC_NEW))
    ]
    return Result(
        key="sync",
        title="Sync: listing and storing a feed",
        setup=(
            f"yt-dlp lists a {n:,}-entry RSS feed of the local content site. The listing is stored in one "
            f"transaction into a database holding {outcome.others:,} other videos in "
            f"{_categories(outcome.others):,} categories; then the grown feed is synced again with "
            f"{', '.join(f'{k:,}' for k in sorted(set(RESYNC_NEW)))} new entries (the baseline: "
            f"{BASELINE_RESYNC_NEW}). Store times exclude the listing; ours are medians of "
            f"{FIRST_STORES} first stores (into new categories) and of 3 re-syncs of 0 and of 10 new. "
            f"The first listing once more, into a database filled the same way, stored page by page "
            f"as yt-dlp reads it ({PAGE_ENTRIES} entries, then twice as many each page), against "
            f"the listing's time plus the median first store (stored whole)."
        ),
        rows=rows,
    )


def run(env: Environment) -> Result:
    entries = int(env.pick(500, 10_000, 10_000))  # the feed; full scale grows the database
    others = int(env.pick(1_000, 20_000, 170_000))
    return result(sync_benchmark(env, entries, others))
