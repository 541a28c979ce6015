"""The API's statements: what the servicers (asyncio code, like grpclib) read and
change. Every change is one transaction; a request that names what is not there, or
what the user may not touch, raises the domain error the API maps to its status."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from scheduler.categories import CategoryTarget
from scheduler.db.connector import SQL, Database
from scheduler.db.notify_queries import notice
from scheduler.db.records import (
    Breaker,
    CategorySummary,
    Download,
    Event,
    Imported,
    InferenceCategory,
    Instance,
    NewSubscription,
    ProfileChange,
    Scheduled,
    Stats,
    Subscription,
    Video,
    WebsiteCounts,
)
from scheduler.errors import NotFound, PermissionDenied
from scheduler.profiles import Profile, from_json, to_json
from scheduler.profiles.filters import overall
from scheduler.profiles.model import DEFAULT, describe


class ApiQueries:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def schedule_category(
        self, target: CategoryTarget, user_id: int, disable_download_cache: bool, profile: Profile = DEFAULT
    ) -> Scheduled:
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(
                SQL["upsert_category"],
                target.url,
                target.website,
                target.kind.value,
                disable_download_cache,
                to_json(profile),
            )
            category_id: int = row["id"]
            if row["created"]:
                created = f"category created: {target.url}{_profile_note(profile)}"
                await conn.execute(SQL["add_event"], category_id, None, created)
            subscribers = await conn.fetchval(SQL["subscribe"], user_id, category_id)
            if subscribers is not None:
                await conn.execute(SQL["add_event"], category_id, None, f"user {user_id} subscribed")
                await conn.execute(SQL["notify_work"])  # a syncer lists a new category at once
        return Scheduled(
            category_id, row["created"], subscribers is not None, target.url, from_json(row["profile"])
        )

    async def ping(self) -> bool:
        """True when the database answers (the health service's check)."""
        return await self._db.ping()

    async def list_categories(self, user_id: int) -> list[CategorySummary]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(SQL["list_categories"], user_id, None)
        return [CategorySummary.from_row(r) for r in rows]

    async def update_category(self, user_id: int, category_id: int, profile: Profile) -> ProfileChange:
        """A subscriber changes the category's profile: its pending and skipped videos are
        decided again under every profile that lists them (scheduler.profiles.filters),
        with an event, in one transaction."""
        async with self._db.transaction() as conn:
            await self._require_subscriber(conn, user_id, category_id)
            before = from_json(await conn.fetchval(SQL["set_profile"], category_id, to_json(profile)))
            skip, reasons, restore = _decide_again(await conn.fetch(SQL["undecided_videos"], category_id))
            if skip:
                await conn.execute(SQL["skip_videos"], skip, reasons)
            if restore:
                await conn.execute(SQL["move_to_backfill"], category_id, restore)
                await conn.execute(SQL["restore_videos"], restore)
                await conn.execute(SQL["notify_work"])
            message = f"user {user_id} changed the profile from {describe(before)} to {describe(profile)}"
            if skip or restore:
                message += (
                    f": {len(skip)} pending videos skipped, {len(restore)} skipped videos pending again"
                )
            await conn.execute(SQL["add_event"], category_id, None, message)
            row = await conn.fetchrow(SQL["list_categories"], user_id, category_id)
        return ProfileChange(CategorySummary.from_row(row), len(skip), len(restore))

    async def import_subscriptions(self, entries: list[NewSubscription]) -> list[Imported]:
        """A batch of an import's lines in one transaction, set-based (three statements
        whatever its size): each line's category and whether it was new, as
        schedule_category would have answered them one by one."""
        async with self._db.transaction() as conn:
            rows = await conn.fetch(
                SQL["import_categories"],
                [e.target.url for e in entries],
                [e.target.website for e in entries],
                [e.target.kind.value for e in entries],
                [e.disable_download_cache for e in entries],
                [to_json(e.profile) for e in entries],
                list(range(len(entries))),
            )
            categories = {r["url"]: (r["id"], r["created"]) for r in rows}
            created = {url for url, (_, new) in categories.items() if new}
            firsts = {e.target.url: e for e in reversed(entries)}  # each URL's first line
            told = [
                (categories[url][0], f"category created: {url}" + _profile_note(firsts[url].profile))
                for url in sorted(created)
            ]
            await conn.execute(SQL["add_events"], [c for c, _ in told], [m for _, m in told])
            pairs = [(e.user_id, categories[e.target.url][0]) for e in entries]
            added = await conn.fetch(
                SQL["import_subscriptions"], [u for u, _ in pairs], [c for _, c in pairs]
            )
            if added:
                await conn.execute(SQL["notify_work"])
        new = {(r["user_id"], r["category_id"]) for r in added}
        results = []
        for entry, pair in zip(entries, pairs, strict=True):
            category_created = entry.target.url in created
            created.discard(entry.target.url)  # the first line of the URL made it
            results.append(Imported(pair[1], category_created, pair in new))
            new.discard(pair)  # a later line of the same subscription found it there
        return results

    async def export_subscriptions(self, user_id: int | None) -> list[Subscription]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(SQL["export_subscriptions"], user_id)
        return [Subscription.from_row(r) for r in rows]

    async def list_events(self, category_id: int | None, limit: int) -> list[Event]:
        async with self._db.connection() as conn:
            if category_id is not None:
                await self._require_category(conn, category_id)
            rows = await conn.fetch(SQL["list_events"], category_id, limit)
        return [Event(**r) for r in rows]

    async def unsubscribe(self, user_id: int, category_id: int) -> int:
        """Returns how many subscribers the category has left."""
        async with self._db.transaction() as conn:
            remaining = await conn.fetchval(SQL["unsubscribe"], user_id, category_id)
            if remaining is None:
                raise NotFound(f"category_id: user {user_id} does not subscribe to category {category_id}")
            await conn.execute(SQL["add_event"], category_id, None, f"user {user_id} unsubscribed")
        return int(remaining)

    async def retry_failed(self, user_id: int | None, category_id: int | None, website: str | None) -> int:
        """Puts failed videos back to pending: a category's (its subscriber asks), a
        website's (an operator asks), or a website's within a category; returns how many."""
        async with self._db.transaction() as conn:
            if category_id is not None:
                await self._require_subscriber(conn, user_id, category_id)
            if website is not None and not await conn.fetchval(SQL["website_has_videos"], website):
                raise NotFound(f"website: no videos of {website}")
            who = f"user {user_id}" if user_id else "an operator"
            of = f" of {website}" if website else ""
            retried: int = await conn.fetchval(
                SQL["retry_failed"],
                category_id,
                website,
                f"{who} put ",
                f" failed videos{of} back to pending",
            )
            if retried:
                await conn.execute(SQL["notify_work"])
        return retried

    async def stats(self) -> Stats:
        async with self._db.transaction(isolation="repeatable_read", readonly=True) as conn:
            as_of = await conn.fetchval(SQL["now"])
            categories = await conn.fetchval(SQL["subscribed_categories"])
            websites = _website_counts(await conn.fetch(SQL["video_stats"]))
            instances = [Instance(**r) for r in await conn.fetch(SQL["list_instances"])]
        return Stats(as_of, categories, websites, instances)

    async def list_downloads(self, limit: int) -> list[Download]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(SQL["list_downloads"], limit)
        return [Download(**r) for r in rows]

    async def downloads_by_id(self, video_ids: list[int]) -> list[Download]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(SQL["downloads_by_id"], video_ids)
        return [Download(**r) for r in rows]

    async def cancel_download(self, video_id: int, to_failed: bool) -> bool:
        """Asks whichever instance runs the video to stop it; False if it is not running."""
        async with self._db.connection() as conn:
            if not await conn.fetchval(SQL["video_exists"], video_id):
                raise NotFound(f"video_id: no video {video_id}")
            row = await conn.fetchrow(SQL["request_cancel"], video_id, "failed" if to_failed else "pending")
        return row is not None

    async def list_unapproved_videos(
        self, category_id: int | None, limit: int, newest_first: bool = False
    ) -> list[Video]:
        async with self._db.connection() as conn:
            if category_id is not None:
                await self._require_category(conn, category_id)
            rows = await conn.fetch(SQL["list_unapproved_videos"], category_id, limit, newest_first)
        return [Video(**r) for r in rows]

    async def set_approval(self, video_id: int, approval: str) -> Video:
        """approval: 'approved' or 'rejected'; records an event on the video's categories."""
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(SQL["set_approval"], video_id, approval)
            if row is None:
                raise NotFound(f"video_id: no video {video_id}")
            await conn.execute(SQL["add_video_event"], video_id, f"video {approval}")
            if approval == "approved":
                await conn.execute(SQL["notify_work"])
        return Video(**row)

    async def list_inference_categories(self) -> list[InferenceCategory]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(SQL["list_inference_categories"])
        return [InferenceCategory(**r) for r in rows]

    async def add_inference_category(self, tag: str, category: str) -> tuple[InferenceCategory, bool]:
        """Adds (or changes) a rule, and re-classifies the videos not yet delivered that
        carry its tag, in one transaction."""
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(SQL["add_inference_category"], tag, category)
            await conn.execute(SQL["reclassify_videos"], tag)
        return InferenceCategory(row["id"], row["tag"], row["category"]), bool(row["created"])

    async def list_breakers(self) -> list[Breaker]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(SQL["list_breakers"])
        return [Breaker(**r) for r in rows]

    async def reset_breaker(self, site: str) -> bool:
        """An operator closes the site's breaker; False when it was not open."""
        async with self._db.transaction() as conn:
            closed = await conn.fetchrow(SQL["close_breaker"], site, None)
            if closed is None:
                return False
            await conn.execute(SQL["resume_site"], site, closed["probe_at"])
            message = f"site {site}: breaker closed by an operator"
            await conn.execute(SQL["add_site_event"], message)
            await notice(conn, "breaker", message)
            await conn.execute(SQL["notify_work"])  # its work goes at once
        return True

    @staticmethod
    async def _require_category(conn: Any, category_id: int) -> None:
        if not await conn.fetchval(SQL["category_exists"], category_id):
            raise NotFound(f"category_id: no category {category_id}")

    @classmethod
    async def _require_subscriber(cls, conn: Any, user_id: int | None, category_id: int) -> None:
        """The category exists (else NotFound) and the user subscribes to it (else PermissionDenied)."""
        await cls._require_category(conn, category_id)
        if not await conn.fetchval(SQL["is_subscribed"], user_id, category_id):
            raise PermissionDenied(f"user_id: user {user_id} does not subscribe to category {category_id}")


def _website_counts(rows: Any) -> list[WebsiteCounts]:
    """video_stats' rows (website, status, videos, oldest_pending) per website, by name."""
    videos: dict[str, dict[str, int]] = {}
    oldest: dict[str, datetime | None] = {}
    for r in rows:
        videos.setdefault(r["website"], {})[r["status"]] = r["videos"]
        if r["oldest_pending"] is not None:
            oldest[r["website"]] = r["oldest_pending"]
    return [WebsiteCounts(w, videos[w], oldest.get(w)) for w in sorted(videos)]


def _profile_note(profile: Profile) -> str:
    return f" (profile: {describe(profile)})" if profile != DEFAULT else ""


def _decide_again(rows: Any) -> tuple[list[int], list[str], list[int]]:
    """undecided_videos' rows -> the pending videos to skip (with their reasons) and the
    skipped ones to restore, oldest first. Decided from what the listing (or an earlier
    metadata decision) kept: a filter whose field is not known keeps a video pending, for
    its download to decide."""
    skip: list[int] = []
    reasons: list[str] = []
    restore: list[int] = []
    for r in rows:
        video = {**json.loads(r["listed"]), "title": r["title"], "url": r["url"]}
        verdict = overall([from_json(p) for p in r["profiles"] or ()], video, complete=False)
        if verdict.skipped and r["status"] == "pending":
            skip.append(r["id"])
            reasons.append(verdict.reason)
        elif not verdict.skipped and r["status"] == "skipped":
            restore.append(r["id"])
    return skip, reasons, restore
