"""The data-access layer over an asyncpg pool.

These are asyncio coroutines (asyncpg is an asyncio library). Each method acquires
a connection, does its work and releases it within itself, so that Trio code can
call a whole method through trio-asyncio's bridge and a cancellation never strands
a connection half-used. Every state change is one transaction.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import asyncpg

from scheduler.categories import CategoryTarget
from scheduler.errors import NotFound, PermissionDenied

# A hostile feed may list thousands of refused entries: events for the first ones only.
MAX_REFUSED_EVENTS = 20


def _load_queries() -> dict[str, str]:
    text = resources.files("scheduler.db").joinpath("queries.sql").read_text("utf-8")
    queries: dict[str, str] = {}
    for chunk in re.split(r"^-- name: ", text, flags=re.MULTILINE)[1:]:
        name, _, body = chunk.partition("\n")
        queries[name.strip()] = body.strip()
    return queries


Q = _load_queries()


@dataclass(frozen=True)
class Scheduled:
    category_id: int
    created: bool
    subscribed: bool
    url: str


@dataclass(frozen=True)
class CategorySummary:
    id: int
    url: str
    website: str
    last_synced: datetime | None
    next_sync_at: datetime
    backoff_factor: int
    subscribers: int
    disable_download_cache: bool
    total_videos: int
    archived_videos: int
    undownloadable_videos: int


@dataclass(frozen=True)
class Event:
    id: int
    category_id: int | None
    category_url: str
    video_id: int | None
    video_url: str
    message: str
    created_at: datetime


@dataclass(frozen=True)
class Download:
    video_id: int
    website: str
    foreign_id: str
    url: str
    status: str
    bytes_done: int
    bytes_total: int
    instance: str
    attempts: int
    instance_state: str  # alive, dead or stopped; '' when the instance never registered
    category: str  # the content category (inference rules)


@dataclass(frozen=True)
class Registration:
    """What a `serve` process says of itself in its heartbeat row (migrations/0007)."""

    id: str  # the owner of the leases it takes
    host: str
    pid: int
    version: str
    workers: int


@dataclass(frozen=True)
class Instance:
    """A registered `serve` process and what it holds now."""

    id: str
    host: str
    pid: int
    version: str
    workers: int
    started_at: datetime
    heartbeat_at: datetime
    state: str  # alive, dead (its heartbeat stopped) or stopped (cleanly)
    downloads: int  # videos it holds now
    listings: int  # categories it is listing now


@dataclass(frozen=True)
class WebsiteCounts:
    website: str
    videos: dict[str, int]  # by status; a status with no videos is absent
    oldest_pending: datetime | None  # when the longest-waiting pending video was listed


@dataclass(frozen=True)
class Stats:
    as_of: datetime  # the database's clock, for the ages of the times below
    categories: int  # subscribed ones
    websites: list[WebsiteCounts]
    instances: list[Instance]


@dataclass(frozen=True)
class Breaker:
    """A site's circuit breaker (migrations/0008)."""

    site: str
    state: str  # closed, open or probing
    reason: str
    openings: int  # since it last closed
    opened_at: datetime | None
    probe_at: datetime | None  # open: when one probe may go; probing: when the probe lapses
    served: bool


@dataclass(frozen=True)
class TrippedBreaker:
    site: str
    state: str  # open or probing
    reason: str
    probe_in_s: float  # <= 0: a probe may go now


@dataclass(frozen=True)
class Video:
    id: int
    website: str
    foreign_id: str
    url: str
    title: str
    status: str
    approval: str
    category: str  # the content category (inference rules)


@dataclass(frozen=True)
class InferenceCategory:
    id: int
    tag: str
    category: str


class Store:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 10, statement_timeout_s: float = 30.0
    ) -> Store:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            server_settings={
                "application_name": "scheduler",
                "statement_timeout": str(int(statement_timeout_s * 1000)),
            },
            # No statement leaves session state behind (no LISTEN, SET or advisory lock on a
            # pool connection), so the default reset query would be a wasted round trip per
            # checkout; an open transaction is still rolled back by asyncpg itself.
            reset=_keep_session,
        )
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    def terminate(self) -> None:
        self._pool.terminate()

    def pipeline(self, owner: str) -> PipelineQueries:
        return PipelineQueries(self._pool, owner)

    async def schedule_category(
        self, target: CategoryTarget, user_id: int, disable_download_cache: bool
    ) -> Scheduled:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                Q["upsert_category"],
                target.url,
                target.website,
                target.kind.value,
                disable_download_cache,
            )
            category_id: int = row["id"]
            if row["created"]:
                await conn.execute(Q["add_event"], category_id, None, f"category created: {target.url}")
            subscribers = await conn.fetchval(Q["subscribe"], user_id, category_id)
            if subscribers is not None:
                await conn.execute(Q["add_event"], category_id, None, f"user {user_id} subscribed")
                await conn.execute(Q["notify_work"])  # a syncer lists a new category at once
        return Scheduled(category_id, row["created"], subscribers is not None, target.url)

    async def ping(self) -> bool:
        """True when the database answers (the health service's check)."""
        async with self._pool.acquire() as conn:
            return bool(await conn.fetchval(Q["ping"]))

    async def count_by_status(self) -> dict[str, int]:
        """Videos by status, every status present (0 when none): the metrics' queue depth."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(Q["count_by_status"])
        return {r["status"]: r["videos"] for r in rows}

    async def list_categories(self, user_id: int) -> list[CategorySummary]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(Q["list_categories"], user_id)
        return [
            CategorySummary(
                id=r["id"],
                url=r["url"],
                website=r["website"],
                last_synced=r["last_synced"],
                next_sync_at=r["next_sync_at"],
                backoff_factor=r["backoff_factor"],
                subscribers=r["subscriber_count"],
                disable_download_cache=r["disable_download_cache"],
                total_videos=r["total_videos"],
                archived_videos=r["archived_videos"],
                undownloadable_videos=r["undownloadable_videos"],
            )
            for r in rows
        ]

    async def list_events(self, category_id: int | None, limit: int) -> list[Event]:
        async with self._pool.acquire() as conn:
            if category_id is not None:
                await self._require_category(conn, category_id)
            rows = await conn.fetch(Q["list_events"], category_id, limit)
        return [Event(**dict(r)) for r in rows]

    async def unsubscribe(self, user_id: int, category_id: int) -> int:
        """Returns how many subscribers the category has left."""
        async with self._pool.acquire() as conn, conn.transaction():
            remaining = await conn.fetchval(Q["unsubscribe"], user_id, category_id)
            if remaining is None:
                raise NotFound(f"category_id: user {user_id} does not subscribe to category {category_id}")
            await conn.execute(Q["add_event"], category_id, None, f"user {user_id} unsubscribed")
        return int(remaining)

    async def retry_failed(self, user_id: int | None, category_id: int | None, website: str | None) -> int:
        """Puts failed videos back to pending: a category's (its subscriber asks), a
        website's (an operator asks), or a website's within a category; returns how many."""
        async with self._pool.acquire() as conn, conn.transaction():
            if category_id is not None:
                await self._require_category(conn, category_id)
                if not await conn.fetchval(Q["is_subscribed"], user_id, category_id):
                    raise PermissionDenied(
                        f"user_id: user {user_id} does not subscribe to category {category_id}"
                    )
            if website is not None and not await conn.fetchval(Q["website_has_videos"], website):
                raise NotFound(f"website: no videos of {website}")
            who = f"user {user_id}" if user_id else "an operator"
            of = f" of {website}" if website else ""
            retried: int = await conn.fetchval(
                Q["retry_failed"], category_id, website, f"{who} put ", f" failed videos{of} back to pending"
            )
            if retried:
                await conn.execute(Q["notify_work"])
        return retried

    async def beat_instance(self, instance: Registration, ttl_s: float) -> None:
        """Registers the instance, or renews its registration for another ttl_s."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                Q["beat_instance"],
                instance.id,
                instance.host,
                instance.pid,
                instance.version,
                instance.workers,
                ttl_s,
            )
            await conn.execute(Q["forget_instances"])

    async def stop_instance(self, instance_id: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(Q["stop_instance"], instance_id)

    async def stats(self) -> Stats:
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            as_of = await conn.fetchval(Q["now"])
            categories = await conn.fetchval(Q["subscribed_categories"])
            websites = _website_counts(await conn.fetch(Q["video_stats"]))
            instances = [Instance(**dict(r)) for r in await conn.fetch(Q["list_instances"])]
        return Stats(as_of, categories, websites, instances)

    async def list_downloads(self, limit: int) -> list[Download]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(Q["list_downloads"], limit)
        return _downloads(rows)

    async def downloads_by_id(self, video_ids: list[int]) -> list[Download]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(Q["downloads_by_id"], video_ids)
        return _downloads(rows)

    async def cancel_download(self, video_id: int, to_failed: bool) -> bool:
        """Asks whichever instance runs the video to stop it; False if it is not running."""
        async with self._pool.acquire() as conn:
            if not await conn.fetchval(Q["video_exists"], video_id):
                raise NotFound(f"video_id: no video {video_id}")
            row = await conn.fetchrow(Q["request_cancel"], video_id, "failed" if to_failed else "pending")
        return row is not None

    async def list_unapproved_videos(
        self, category_id: int | None, limit: int, newest_first: bool = False
    ) -> list[Video]:
        async with self._pool.acquire() as conn:
            if category_id is not None:
                await self._require_category(conn, category_id)
            rows = await conn.fetch(Q["list_unapproved_videos"], category_id, limit, newest_first)
        return [_video(r) for r in rows]

    async def set_approval(self, video_id: int, approval: str) -> Video:
        """approval: 'approved' or 'rejected'; records an event on the video's categories."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(Q["set_approval"], video_id, approval)
            if row is None:
                raise NotFound(f"video_id: no video {video_id}")
            await conn.execute(Q["add_video_event"], video_id, f"video {approval}")
            if approval == "approved":
                await conn.execute(Q["notify_work"])
        return _video(row)

    async def list_inference_categories(self) -> list[InferenceCategory]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(Q["list_inference_categories"])
        return [InferenceCategory(r["id"], r["tag"], r["category"]) for r in rows]

    async def add_inference_category(self, tag: str, category: str) -> tuple[InferenceCategory, bool]:
        """Adds (or changes) a rule, and re-classifies the videos not yet delivered that
        carry its tag, in one transaction."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(Q["add_inference_category"], tag, category)
            await conn.execute(Q["reclassify_videos"], tag)
        return InferenceCategory(row["id"], row["tag"], row["category"]), bool(row["created"])

    async def list_breakers(self) -> list[Breaker]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(Q["list_breakers"])
        return [Breaker(**dict(r)) for r in rows]

    async def add_site_event_daily(self, message: str) -> bool:
        """Records a standing site event at most once a day; whether it was recorded now."""
        async with self._pool.acquire() as conn:
            return await conn.fetchval(Q["add_site_event_daily"], message) is not None

    async def reset_breaker(self, site: str) -> bool:
        """An operator closes the site's breaker; False when it was not open."""
        async with self._pool.acquire() as conn, conn.transaction():
            closed = await conn.fetchrow(Q["close_breaker"], site, None)
            if closed is None:
                return False
            await conn.execute(Q["resume_site"], site, closed["probe_at"])
            await conn.execute(Q["add_site_event"], f"site {site}: breaker closed by an operator")
            await conn.execute(Q["notify_work"])  # its work goes at once
        return True

    @staticmethod
    async def _require_category(conn: Any, category_id: int) -> None:
        if not await conn.fetchval(Q["category_exists"], category_id):
            raise NotFound(f"category_id: no category {category_id}")


def _downloads(rows: Any) -> list[Download]:
    return [
        Download(
            video_id=r["id"],
            website=r["website"],
            foreign_id=r["foreign_id"],
            url=r["url"],
            status=r["status"],
            bytes_done=r["bytes_done"],
            bytes_total=r["bytes_total"],
            instance=r["lease_owner"],
            attempts=r["attempts"],
            instance_state=r["instance_state"],
            category=r["content_category"],
        )
        for r in rows
    ]


def _website_counts(rows: Any) -> list[WebsiteCounts]:
    """video_stats' rows (website, status, videos, oldest_pending) per website, by name."""
    videos: dict[str, dict[str, int]] = {}
    oldest: dict[str, datetime | None] = {}
    for r in rows:
        videos.setdefault(r["website"], {})[r["status"]] = r["videos"]
        if r["oldest_pending"] is not None:
            oldest[r["website"]] = r["oldest_pending"]
    return [WebsiteCounts(w, videos[w], oldest.get(w)) for w in sorted(videos)]


def _video(row: Any) -> Video:
    return Video(
        id=row["id"],
        website=row["website"],
        foreign_id=row["foreign_id"],
        url=row["url"],
        title=row["title"],
        status=row["status"],
        approval=row["approval"],
        category=row["content_category"],
    )


# The pipeline's side: claims, leases and the transactions that finish work.


@dataclass(frozen=True)
class ClaimedCategory:
    id: int
    url: str
    website: str
    backoff_factor: int
    sync_count: int
    disable_download_cache: bool


@dataclass(frozen=True)
class ListedVideo:
    website: str
    foreign_id: str
    url: str
    title: str
    listed: dict[str, str]  # the entry's own title, description, uploader, thumbnail
    tags: tuple[str, ...] = ()  # the entry's tags, when the listing carries them


@dataclass(frozen=True)
class SyncOutcome:
    listed: int
    new_to_category: int
    backoff_factor: int
    next_sync_at: datetime


@dataclass(frozen=True)
class ClaimedVideo:
    id: int
    website: str
    foreign_id: str
    url: str
    title: str
    listed: dict[str, str]
    attempts: int
    category_id: int  # the category the delivery is recorded under
    disable_download_cache: bool


@dataclass(frozen=True)
class UntaggedVideo:
    """A video awaiting approval whose listing gave no tags (tagger.py)."""

    id: int
    website: str
    url: str


class PipelineQueries:
    """The statements the workers run. `owner` is the instance's id: every change to
    leased work is accepted only from the owner of the lease."""

    def __init__(self, pool: asyncpg.Pool, owner: str) -> None:
        self._pool = pool
        self.owner = owner

    async def claim_category(self, lease_s: float, busy_websites: list[str]) -> ClaimedCategory | None:
        """A due category, not of `busy_websites`."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(Q["claim_category"], self.owner, lease_s, busy_websites)
        return ClaimedCategory(**dict(row)) if row else None

    async def newest_in_category(self, category_id: int, limit: int) -> frozenset[tuple[str, str]]:
        """The (website, foreign id) of the category's `limit` newest entries."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(Q["newest_in_category"], category_id, limit)
        return frozenset((r["website"], r["foreign_id"]) for r in rows)

    async def store_page(
        self, category: ClaimedCategory, videos: list[ListedVideo], refused: list[str], lease_s: float
    ) -> int | None:
        """A page of a first listing (oldest first), stored while the listing goes on so that
        its videos are downloaded at once, with the category's lease renewed for lease_s, in
        one transaction; returns how many videos are new, None if the lease was lost."""
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(Q["renew_sync_lease"], category.id, self.owner, lease_s) is None:
                return None
            new = await _store_entries(conn, category, _first_of_each(videos))
            await _add_refused_events(conn, category, refused)
            message = f"listing goes on: {len(videos)} more listed, {new} new"
            await conn.execute(Q["add_event"], category.id, None, message)
            if new:
                await conn.execute(Q["notify_work"])
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
        try:
            return await self._finish_sync(
                category, videos, refused, min_backoff_s, max_backoff_factor, earlier or StoredPages()
            )
        except _RollBack:
            return None

    async def _finish_sync(
        self,
        category: ClaimedCategory,
        videos: list[ListedVideo],
        refused: list[str],
        min_backoff_s: float,
        max_backoff_factor: int,
        earlier: StoredPages,
    ) -> SyncOutcome:
        unique = _first_of_each(videos)
        websites, foreign_ids = [v.website for v in unique], [v.foreign_id for v in unique]
        async with self._pool.acquire() as conn, conn.transaction():
            # Only the entries new to the category go on (store_listing checks them again). A
            # first listing has nothing to compare with.
            fresh = unique
            if category.sync_count and unique:
                places = await conn.fetchval(Q["entries_new_to_category"], category.id, websites, foreign_ids)
                fresh = [unique[n - 1] for n in places]
            new = earlier.new + await _store_entries(conn, category, fresh)
            if category.disable_download_cache:
                await conn.execute(Q["recheck_delivered"], websites, foreign_ids)
            row = await conn.fetchrow(
                Q["finish_sync"], category.id, self.owner, new > 0, max_backoff_factor, min_backoff_s
            )
            if row is None:
                raise _RollBack  # the lease is lost: the category's new owner syncs it
            listed, refused_count = earlier.listed + len(videos), earlier.refused + len(refused)
            message = f"synced: {listed} listed, {new} new"
            if refused_count:
                message += f", {refused_count} refused"
            await _add_refused_events(conn, category, refused)
            await conn.execute(Q["add_event"], category.id, None, message)
            if new > earlier.new or category.disable_download_cache:
                await conn.execute(Q["notify_work"])
        return SyncOutcome(listed, new, row["backoff_factor"], row["next_sync_at"])

    async def defer_sync(self, category: ClaimedCategory, retry_s: float) -> None:
        """Gives the category back, due again in retry_s (its site's listing limit is reached)."""
        async with self._pool.acquire() as conn:
            await conn.execute(Q["give_back_category"], category.id, self.owner, retry_s)

    async def fail_sync(self, category: ClaimedCategory, error: str, retry_s: float) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(Q["give_back_category"], category.id, self.owner, retry_s) is not None:
                await conn.execute(Q["add_event"], category.id, None, f"listing failed: {error}")

    async def claim_videos(
        self, limit: int, lease_s: float, approval_required: bool, busy_websites: list[str]
    ) -> list[ClaimedVideo]:
        """Up to `limit` due videos, none of `busy_websites`."""
        async with self._pool.acquire() as conn:
            await conn.execute(Q["undefer_due_videos"])
            rows = await conn.fetch(
                Q["claim_videos"], self.owner, lease_s, limit, approval_required, busy_websites
            )
        return [
            ClaimedVideo(
                id=r["id"],
                website=r["website"],
                foreign_id=r["foreign_id"],
                url=r["url"],
                title=r["title"],
                listed=json.loads(r["listed"]),
                attempts=r["attempts"],
                category_id=r["category_id"],
                disable_download_cache=bool(r["disable_download_cache"]),
            )
            for r in rows
        ]

    async def renew_leases(self, video_ids: list[int], lease_s: float) -> dict[int, str | None]:
        """Renews this instance's leases; returns the ids it still owns, each with the
        status a CancelDownload asks for (None: carry on)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(Q["renew_leases"], video_ids, self.owner, lease_s)
        return {r["id"]: r["cancel_request"] for r in rows}

    async def set_progress(self, video_id: int, status: str, bytes_done: int, bytes_total: int) -> bool:
        async with self._pool.acquire() as conn:
            row = await conn.fetchval(
                Q["set_progress"], video_id, self.owner, status, bytes_done, bytes_total
            )
        return row is not None

    async def take_untagged_video(self, busy_websites: list[str]) -> UntaggedVideo | None:
        """A video awaiting approval with no tags, taken for its metadata (at most once)."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(Q["take_untagged_video"], busy_websites)
        return UntaggedVideo(row["id"], row["website"], row["url"]) if row else None

    async def give_back_untagged_video(self, video: UntaggedVideo) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(Q["give_back_untagged_video"], video.id)

    async def set_fetched_tags(self, video: UntaggedVideo, tags: list[str]) -> str | None:
        """Stores the fetched tags; the category they give (None if it has tags already)."""
        async with self._pool.acquire() as conn:
            category = await conn.fetchval(Q["set_fetched_tags"], video.id, tags)
        return None if category is None else str(category)

    async def classify_video(self, video: ClaimedVideo, tags: list[str]) -> str:
        """The video's content category, from its listed tags or else these (its metadata's)."""
        async with self._pool.acquire() as conn:
            return str(await conn.fetchval(Q["classify_video"], video.id, tags))

    async def finish_video(self, video: ClaimedVideo, video_service_id: str, message: str) -> bool:
        """Done, recorded and told, in one transaction; False if the lease was lost."""
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(Q["finish_video"], video.id, self.owner) is None:
                return False
            await conn.execute(Q["record_delivery"], video.id, video.category_id, video_service_id)
            await conn.execute(Q["add_video_event"], video.id, message)
        return True

    async def fail_attempt(
        self, video: ClaimedVideo, error: str, attempts: int, retry_in_s: float
    ) -> str | None:
        """Counts a failed attempt; returns the new status, or None if the lease was lost."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(Q["fail_attempt"], video.id, self.owner, error, attempts, retry_in_s)
            if row is None:
                return None
            if row["status"] == "failed":
                message = f"failed after {row['attempts']} attempts: {error}"
            else:
                message = f"attempt {row['attempts']} failed, retrying in {retry_in_s:.0f}s: {error}"
            await conn.execute(Q["add_video_event"], video.id, message)
        return str(row["status"])

    async def defer_video(self, video: ClaimedVideo, retry_in_s: float) -> None:
        """Back to pending, due again in retry_in_s, no attempt counted and no event: its
        site's download limit is reached, which happens all day and is no news."""
        async with self._pool.acquire() as conn:
            await conn.execute(Q["release_video"], video.id, self.owner, retry_in_s)

    async def release_video(self, video: ClaimedVideo, reason: str, retry_in_s: float) -> bool:
        """Back to pending without counting an attempt; False if the lease was lost."""
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(Q["release_video"], video.id, self.owner, retry_in_s) is None:
                return False
            await conn.execute(Q["add_video_event"], video.id, reason)
            if retry_in_s <= 0:
                await conn.execute(Q["notify_work"])
        return True

    # Site breakers (scheduler/breaker.py)

    async def tripped_breakers(self) -> list[TrippedBreaker]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(Q["tripped_breakers"])
        return [TrippedBreaker(**dict(r)) for r in rows]

    async def site_served(self, site: str) -> bool:
        async with self._pool.acquire() as conn:
            return bool(await conn.fetchval(Q["site_served"], site))

    async def mark_served(self, site: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(Q["mark_served"], site)

    async def take_probe(self, site: str, holder: str, probe_s: float) -> bool:
        """True when `holder` is the one request to the tripped site."""
        async with self._pool.acquire() as conn:
            return await conn.fetchval(Q["take_probe"], site, holder, probe_s) is not None

    async def close_breaker(self, site: str, holder: str) -> bool:
        """The probe `holder` got through: the breaker closes, with an event."""
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchrow(Q["close_breaker"], site, holder) is None:
                return False
            await conn.execute(Q["add_site_event"], f"site {site}: breaker closed: the probe got through")
            await conn.execute(Q["notify_work"])
        return True

    async def give_probe_back(self, site: str, holder: str) -> None:
        """The probe never reached the site (shutdown, already in the Video Service): another may go."""
        async with self._pool.acquire() as conn:
            await conn.execute(Q["give_probe_back"], site, holder)

    async def throttle_video(
        self, video: ClaimedVideo, site: str, reason: str, min_s: float, max_s: float
    ) -> float:
        """The site throttles us: its breaker opens (or stays open), and the video goes back
        to pending until the probe, no attempt counted; one transaction. Returns the
        seconds until the probe."""
        async with self._pool.acquire() as conn, conn.transaction():
            probe_in_s = await self._trip(conn, site, reason, min_s, max_s)
            await conn.execute(Q["release_video"], video.id, self.owner, probe_in_s)
            await conn.execute(
                Q["add_video_event"], video.id, f"throttled by site {site} ({reason}); waiting"
            )
        return probe_in_s

    async def throttle_sync(
        self, category: ClaimedCategory, site: str, reason: str, min_s: float, max_s: float
    ) -> float:
        """As throttle_video, for a listing: the category is due again at the probe."""
        async with self._pool.acquire() as conn, conn.transaction():
            probe_in_s = await self._trip(conn, site, reason, min_s, max_s)
            await conn.execute(Q["give_back_category"], category.id, self.owner, probe_in_s)
            await conn.execute(
                Q["add_event"], category.id, None, f"listing throttled by site {site} ({reason})"
            )
        return probe_in_s

    @staticmethod
    async def _trip(conn: Any, site: str, reason: str, min_s: float, max_s: float) -> float:
        opened = await conn.fetchrow(Q["open_breaker"], site, reason, min_s, max_s)
        if opened is None:  # open already
            return float(await conn.fetchval(Q["breaker_probe_in_s"], site))
        again = " again" if opened["openings"] > 1 else ""
        await conn.execute(
            Q["add_site_event"],
            f"site {site}: breaker opened{again} ({reason}); probing in {opened['probe_in_s']:.0f}s",
        )
        return float(opened["probe_in_s"])


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


async def _store_entries(conn: Any, category: ClaimedCategory, fresh: list[ListedVideo]) -> int:
    """Entries new to the category (oldest first) stored at their places, waiting in its
    queue (store_listing); returns how many videos the category gained. A first listing's
    entries are backfill, placed before what earlier pages stored; later ones', new uploads."""
    if not fresh:
        return 0
    backfill = category.sync_count == 0
    stored = await conn.fetchrow(
        Q["store_listing"],
        category.id,
        [v.website for v in fresh],
        [v.foreign_id for v in fresh],
        [v.url for v in fresh],
        [v.title for v in fresh],
        [json.dumps(v.listed | {"tags": list(v.tags)}) for v in fresh],
        backfill,
    )
    new: int = stored["created"]
    if stored["known"]:
        known = [fresh[n - 1] for n in stored["known"]]
        added = await conn.fetch(
            Q["add_known_videos"],
            category.id,
            [v.website for v in known],
            [v.foreign_id for v in known],
            stored["positions"],
            stored["upload_ranks"],
        )
        new += len(added)
    return new


async def _add_refused_events(conn: Any, category: ClaimedCategory, refused: list[str]) -> None:
    shown = refused[:MAX_REFUSED_EVENTS]
    await conn.executemany(Q["add_event"], [(category.id, None, f"entry {r}") for r in shown])


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo (see Store.open)."""
