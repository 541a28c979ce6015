"""The downloaders' statements: claiming due videos with a lease, keeping the lease,
reporting progress, and the one transaction that ends each attempt."""

from __future__ import annotations

import json
from typing import Any

from scheduler.db.breaker_queries import trip
from scheduler.db.connector import SQL, Database
from scheduler.db.notify_queries import notice
from scheduler.work import ClaimedVideo, UntaggedVideo


class VideoQueries:
    _db: Database
    owner: str  # the instance's id: a change to leased work is accepted from its owner only

    async def claim_videos(
        self, limit: int, lease_s: float, approval_required: bool, busy_websites: list[str]
    ) -> list[ClaimedVideo]:
        """Up to `limit` due videos, none of `busy_websites`."""
        async with self._db.connection() as conn:
            await conn.execute(SQL["undefer_due_videos"])
            rows = await conn.fetch(
                SQL["claim_videos"], self.owner, lease_s, limit, approval_required, busy_websites
            )
        return [ClaimedVideo.from_row(r) for r in rows]

    async def renew_leases(self, video_ids: list[int], lease_s: float) -> dict[int, str | None]:
        """Renews this instance's leases; returns the ids it still owns, each with the
        status a CancelDownload asks for (None: carry on)."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(SQL["renew_leases"], video_ids, self.owner, lease_s)
        return {r["id"]: r["cancel_request"] for r in rows}

    async def set_progress(self, video_id: int, status: str, bytes_done: int, bytes_total: int) -> bool:
        async with self._db.connection() as conn:
            row = await conn.fetchval(
                SQL["set_progress"], video_id, self.owner, status, bytes_done, bytes_total
            )
        return row is not None

    async def take_untagged_video(self, busy_websites: list[str]) -> UntaggedVideo | None:
        """A video awaiting approval with no tags, taken for its metadata (at most once)."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(SQL["take_untagged_video"], busy_websites)
        return UntaggedVideo(**row) if row else None

    async def give_back_untagged_video(self, video: UntaggedVideo) -> None:
        async with self._db.connection() as conn:
            await conn.execute(SQL["give_back_untagged_video"], video.id)

    async def set_fetched_tags(self, video: UntaggedVideo, tags: list[str]) -> str | None:
        """Stores the fetched tags; the category they give (None if it has tags already)."""
        async with self._db.connection() as conn:
            category = await conn.fetchval(SQL["set_fetched_tags"], video.id, tags)
        return None if category is None else str(category)

    async def classify_video(self, video: ClaimedVideo, tags: list[str]) -> str:
        """The video's content category, from its listed tags or else these (its metadata's)."""
        async with self._db.connection() as conn:
            return str(await conn.fetchval(SQL["classify_video"], video.id, tags))

    async def finish_video(self, video: ClaimedVideo, video_service_id: str, message: str) -> bool:
        """Done, recorded and told, in one transaction; False if the lease was lost."""
        async with self._db.transaction() as conn:
            if await conn.fetchval(SQL["finish_video"], video.id, self.owner) is None:
                return False
            await conn.execute(SQL["record_delivery"], video.id, video.category_id, video_service_id)
            await conn.execute(SQL["add_video_event"], video.id, message)
            await notice(conn, "delivered", video.title or video.url)
        return True

    async def skip_video(self, video: ClaimedVideo, reason: str, fields: dict[str, Any]) -> bool:
        """Skipped (no category listing it wants it), told, in one transaction; False if
        the lease was lost."""
        async with self._db.transaction() as conn:
            if (
                await conn.fetchval(SQL["skip_video"], video.id, self.owner, reason, json.dumps(fields))
                is None
            ):
                return False
            await conn.execute(SQL["add_video_event"], video.id, f"skipped: {reason}")
        return True

    async def fail_attempt(
        self, video: ClaimedVideo, error: str, attempts: int, retry_in_s: float
    ) -> str | None:
        """Counts a failed attempt; returns the new status, or None if the lease was lost."""
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(SQL["fail_attempt"], video.id, self.owner, error, attempts, retry_in_s)
            if row is None:
                return None
            if row["status"] == "failed":
                message = f"failed after {row['attempts']} attempts: {error}"
                await notice(conn, "failed", f"{video.title or video.url}: {error}")
            else:
                message = f"attempt {row['attempts']} failed, retrying in {retry_in_s:.0f}s: {error}"
            await conn.execute(SQL["add_video_event"], video.id, message)
        return str(row["status"])

    async def defer_video(self, video: ClaimedVideo, retry_in_s: float) -> None:
        """Back to pending, due again in retry_in_s, no attempt counted and no event: its
        site's download limit is reached, which happens all day and is no news."""
        async with self._db.connection() as conn:
            await conn.execute(SQL["release_video"], video.id, self.owner, retry_in_s)

    async def release_video(self, video: ClaimedVideo, reason: str, retry_in_s: float) -> bool:
        """Back to pending without counting an attempt; False if the lease was lost."""
        async with self._db.transaction() as conn:
            if await conn.fetchval(SQL["release_video"], video.id, self.owner, retry_in_s) is None:
                return False
            await conn.execute(SQL["add_video_event"], video.id, reason)
            if retry_in_s <= 0:
                await conn.execute(SQL["notify_work"])
        return True

    async def throttle_video(
        self, video: ClaimedVideo, site: str, reason: str, min_s: float, max_s: float
    ) -> float:
        """The site throttles us: its breaker opens (or stays open), and the video goes back
        to pending until the probe, no attempt counted; one transaction. Returns the
        seconds until the probe."""
        async with self._db.transaction() as conn:
            probe_in_s = await trip(conn, site, reason, min_s, max_s)
            await conn.execute(SQL["release_video"], video.id, self.owner, probe_in_s)
            await conn.execute(
                SQL["add_video_event"], video.id, f"throttled by site {site} ({reason}); waiting"
            )
        return probe_in_s
