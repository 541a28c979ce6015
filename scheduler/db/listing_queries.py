"""The syncer's statements: claiming a due category, storing what its listing found
(page by page for a first listing), and giving it back."""

from __future__ import annotations

import json
from dataclasses import dataclass

from scheduler.db.breaker_queries import trip
from scheduler.db.connector import SQL, Connection, Database
from scheduler.db.notify_queries import notice
from scheduler.profiles import verdict
from scheduler.work import ClaimedCategory, ListedVideo, SyncOutcome

# A hostile feed may list thousands of refused entries: events for the first ones only;
# as many for the entries a profile skips, per page.
MAX_REFUSED_EVENTS = 20
MAX_SKIPPED_EVENTS = 20
# A category whose listing failed this many times in a row is told (scheduler/notify).
LISTING_FAILURES_TOLD = 3


class ListingQueries:
    _db: Database
    owner: str  # the instance's id: a change to leased work is accepted from its owner only

    async def claim_category(self, lease_s: float, busy_websites: list[str]) -> ClaimedCategory | None:
        """A due category, not of `busy_websites`."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(SQL["claim_category"], self.owner, lease_s, busy_websites)
        return ClaimedCategory.from_row(row) if row else None

    async def newest_in_category(self, category_id: int, limit: int) -> frozenset[tuple[str, str]]:
        """The (website, foreign id) of the category's `limit` newest entries."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(SQL["newest_in_category"], category_id, limit)
        return frozenset((r["website"], r["foreign_id"]) for r in rows)

    async def store_page(
        self, category: ClaimedCategory, videos: list[ListedVideo], refused: list[str], lease_s: float
    ) -> int | None:
        """A page of a first listing (oldest first), stored while the listing goes on so that
        its videos are downloaded at once, with the category's lease renewed for lease_s, in
        one transaction; returns how many videos are new, None if the lease was lost."""
        async with self._db.transaction() as conn:
            if await conn.fetchval(SQL["renew_sync_lease"], category.id, self.owner, lease_s) is None:
                return None
            new, skipped = await _store_entries(conn, category, _first_of_each(videos))
            await _add_refused_events(conn, category, refused)
            message = f"listing goes on: {len(videos)} more listed, {new} new"
            if skipped:
                message += f" ({skipped} skipped by the profile)"
            await conn.execute(SQL["add_event"], category.id, None, message)
            if new:
                await conn.execute(SQL["notify_work"])
        return new

    async def finish_sync(
        self,
        category: ClaimedCategory,
        videos: list[ListedVideo],
        refused: list[str],
        *,
        min_backoff_s: float,
        max_backoff_factor: int,
        earlier: StoredPages | None = None,
    ) -> SyncOutcome | None:
        """Stores the listing (oldest first), or what is left of it after the `earlier`
        pages store_page stored, and an event per refused entry (the first
        MAX_REFUSED_EVENTS) in one transaction; None if the lease was lost."""
        earlier = earlier or StoredPages()
        unique = _first_of_each(videos)
        websites, foreign_ids = [v.website for v in unique], [v.foreign_id for v in unique]
        try:
            async with self._db.transaction() as conn:
                # Only the entries new to the category go on (store_listing checks them again). A
                # first listing has nothing to compare with.
                fresh = unique
                if category.sync_count and unique:
                    places = await conn.fetchval(
                        SQL["entries_new_to_category"], category.id, websites, foreign_ids
                    )
                    fresh = [unique[n - 1] for n in places]
                stored, skipped = await _store_entries(conn, category, fresh)
                new = earlier.new + stored
                if category.disable_download_cache:
                    await conn.execute(SQL["recheck_delivered"], websites, foreign_ids)
                row = await conn.fetchrow(
                    SQL["finish_sync"], category.id, self.owner, new > 0, max_backoff_factor, min_backoff_s
                )
                if row is None:
                    raise _RollBack  # the lease is lost: the category's new owner syncs it
                listed, refused_count = earlier.listed + len(videos), earlier.refused + len(refused)
                message = f"synced: {listed} listed, {new} new"
                if skipped:  # (a paged listing's earlier pages said theirs)
                    message += f" ({skipped} {'more ' if earlier.listed else ''}skipped by the profile)"
                if refused_count:
                    message += f", {refused_count} refused"
                await _add_refused_events(conn, category, refused)
                await conn.execute(SQL["add_event"], category.id, None, message)
                if new > earlier.new or category.disable_download_cache:
                    await conn.execute(SQL["notify_work"])
        except _RollBack:
            return None
        return SyncOutcome(listed, new, row["backoff_factor"], row["next_sync_at"])

    async def defer_sync(self, category: ClaimedCategory, retry_s: float) -> None:
        """Gives the category back, due again in retry_s (its site's listing limit is reached)."""
        async with self._db.connection() as conn:
            await conn.execute(SQL["give_back_category"], category.id, self.owner, retry_s)

    async def fail_sync(self, category: ClaimedCategory, error: str, retry_s: float) -> None:
        """Given back after a failed listing, with an event; the LISTING_FAILURES_TOLD-th
        failure in a row is told (a category whose listing keeps failing)."""
        async with self._db.transaction() as conn:
            if await conn.fetchval(SQL["give_back_category"], category.id, self.owner, retry_s) is not None:
                await conn.execute(SQL["add_event"], category.id, None, f"listing failed: {error}")
                if await conn.fetchval(SQL["count_failed_listing"], category.id) == LISTING_FAILURES_TOLD:
                    failures = f"{LISTING_FAILURES_TOLD} listings in a row failed"
                    await notice(conn, "listing", f"{category.url}: {failures}, the last: {error}")

    async def throttle_sync(
        self, category: ClaimedCategory, site: str, reason: str, min_s: float, max_s: float
    ) -> float:
        """As throttle_video, for a listing: the category is due again at the probe."""
        async with self._db.transaction() as conn:
            probe_in_s = await trip(conn, site, reason, min_s, max_s)
            await conn.execute(SQL["give_back_category"], category.id, self.owner, probe_in_s)
            await conn.execute(
                SQL["add_event"], category.id, None, f"listing throttled by site {site} ({reason})"
            )
        return probe_in_s


class _RollBack(Exception):
    """Raised inside a transaction to roll it back (the lease it needed is lost)."""


@dataclass
class StoredPages:
    """What the pages of a first listing stored so far (store_page) add up to."""

    listed: int = 0
    new: int = 0
    refused: int = 0


def _first_of_each(videos: list[ListedVideo]) -> list[ListedVideo]:
    """One entry per video, where it first appears: a hostile feed's ids may coincide once sanitized."""
    first: dict[tuple[str, str], ListedVideo] = {}
    for video in videos:
        first.setdefault((video.website, video.foreign_id), video)
    return list(first.values())


async def _store_entries(
    conn: Connection, category: ClaimedCategory, fresh: list[ListedVideo]
) -> tuple[int, int]:
    """Entries new to the category (oldest first) stored at their places, waiting in its
    queue (store_listing); returns how many videos the category gained, and how many of
    them its profile skipped (new videos it alone lists, each with an event for the first
    MAX_SKIPPED_EVENTS). A first listing's entries are backfill, placed before what
    earlier pages stored; later ones', new uploads. A known video skipped by the other
    categories listing it that this one's profile wants is pending again."""
    if not fresh:
        return 0, 0
    backfill = category.sync_count == 0
    reasons = [
        verdict(category.profile, {**v.listed, "title": v.title, "url": v.url}, complete=False).reason
        for v in fresh
    ]
    stored = await conn.fetchrow(
        SQL["store_listing"],
        category.id,
        [v.website for v in fresh],
        [v.foreign_id for v in fresh],
        [v.url for v in fresh],
        [v.title for v in fresh],
        [json.dumps(v.listed | {"tags": list(v.tags)}) for v in fresh],
        backfill,
        reasons,
    )
    new: int = stored["created"]
    shown = [(category.id, None, f"skipped {fresh[n - 1].url}: {reasons[n - 1]}") for n in stored["skipped"]]
    await conn.executemany(SQL["add_event"], shown[:MAX_SKIPPED_EVENTS])
    if stored["known"]:
        known = [fresh[n - 1] for n in stored["known"]]
        wanted = [v for n, v in zip(stored["known"], known, strict=True) if not reasons[n - 1]]
        if wanted:
            await conn.execute(
                SQL["want_skipped_videos"], [v.website for v in wanted], [v.foreign_id for v in wanted]
            )
        added = await conn.fetch(
            SQL["add_known_videos"],
            category.id,
            [v.website for v in known],
            [v.foreign_id for v in known],
            stored["positions"],
            stored["upload_ranks"],
        )
        new += len(added)
    return new, len(stored["skipped"])


async def _add_refused_events(conn: Connection, category: ClaimedCategory, refused: list[str]) -> None:
    shown = refused[:MAX_REFUSED_EVENTS]
    await conn.executemany(SQL["add_event"], [(category.id, None, f"entry {r}") for r in shown])
