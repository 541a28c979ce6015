"""The syncer: claims a due category, lists it with yt-dlp, and stores what it found.

A first listing is stored page by page while yt-dlp reads on, so its downloads start at
once; a re-sync lists the newest entries only (every `full_every`-th one lists all), and
stops at a run of entries the category holds. A site that throttles the listing opens its
breaker; any other failure gives the category back, due again after `retry_s`.
"""

from __future__ import annotations

import logging
import time

import trio

from scheduler.cleanup import shielded
from scheduler.db.listing_queries import StoredPages
from scheduler.errors import DatabaseUnavailable
from scheduler.pipeline import sanitize, ytdlp
from scheduler.pipeline.shared import (
    Backoff,
    Shared,
    category_context,
    pause_after,
    request_lease_s,
)
from scheduler.pipeline.site_gate import Outcome
from scheduler.pipeline.ytdlp.pool import Worker, WorkerDied
from scheduler.work import ClaimedCategory, ListedVideo

log = logging.getLogger(__name__)


class Syncer:
    def __init__(self, shared: Shared) -> None:
        self._shared = shared
        self._settings, self._db, self._sites = shared.settings, shared.db, shared.sites
        self._wakeup, self._metrics, self._cookies = shared.wakeup, shared.metrics, shared.cookies
        self._request_lease_s = request_lease_s(shared.settings)

    async def run(self, *, task_status: trio.TaskStatus[None]) -> None:
        backoff = Backoff()
        task_status.started()
        while True:
            seen = self._wakeup.generation
            try:
                await self._sites.refresh()
                category = await self._db.claim_category(self._request_lease_s, self._sites.busy_websites())
                backoff.succeeded()
            except DatabaseUnavailable as error:
                await pause_after(backoff, "claiming a category", error)
                continue
            if category is None:
                await self._wakeup.wait(seen, self._sites.poll_wait(self._settings.schedule.poll_interval_s))
                continue
            holder = self._shared.holder(category)
            [wait] = await self._sites.enter("listings", [(category.website, holder)])
            if wait is not None:
                await shielded(self._db.defer_sync, category, wait)
                continue
            outcome: Outcome = None
            try:
                # A worker ready before the turn: the request goes out when the turn comes.
                async with self._shared.ytdlp.worker() as ytdlp_worker:
                    await self._sites.wait_turn(category.website)
                    outcome = await self._sync(category, ytdlp_worker)
            finally:
                await self._sites.leave("listings", category.website, holder, outcome)

    async def _sync(self, category: ClaimedCategory, ytdlp_worker: Worker) -> Outcome:
        """Lists the category and stores what it found; returns what the site did."""
        sync = self._settings.sync
        full = category.sync_count % sync.full_every == 0
        first = 0 if full else sync.partial_entries
        log.info(
            "listing category %d (%s, %s)", category.id, category.url, "full" if full else f"first {first}"
        )
        began = time.perf_counter()
        timeout_s = self._settings.downloader.timeout_s
        stored = StoredPages()
        try:
            # A partial re-sync stops at a run of entries the category holds (its newest ones).
            known = None if full else await self._db.newest_in_category(category.id, max(first, 100))
            with trio.fail_after(timeout_s) as scope:

                async def store_page(page: ytdlp.Listing) -> None:
                    await self._store_page(category, page, stored, scope)

                # A first listing is stored page by page, so that its downloads start at once.
                paged = category.sync_count == 0 and sync.page_entries > 0
                listing = await ytdlp_worker.list_category(
                    category.url,
                    category.website,
                    self._settings.downloader,
                    self._settings.sites.allowed,
                    first,
                    known,
                    store_page if paged else None,
                    sync.page_entries,
                    self._cookies.for_website(category.website),
                )
            videos, refused = _cleaned(category, listing)
            outcome = await self._db.finish_sync(
                category,
                videos,
                refused,
                min_backoff_s=sync.min_backoff_s,
                max_backoff_factor=sync.max_backoff_factor,
                earlier=stored,
            )
        except _CategoryTakenOver:
            outcome = None
        except (ytdlp.YtdlpError, WorkerDied, trio.TooSlowError) as error:
            reason = str(error) or "timed out"
            if isinstance(error, ytdlp.YtdlpError) and (
                throttle := await self._sites.throttle_reason(category.website, reason)
            ):
                site = self._sites.site_of(category.website)
                log.warning("site %s throttles us (%s): category %d put off", site, throttle, category.id)
                self._synced(category, began, "throttled")
                await self._sites.throttled_listing(category, throttle)
                return "throttled"
            reason = self._shared.explained(category.website, reason)
            log.warning(
                "listing category %d failed: %s", category.id, reason, extra=category_context(category)
            )
            self._synced(category, began, "failed")
            await shielded(self._db.fail_sync, category, reason, sync.retry_s)
            return "answered" if isinstance(error, ytdlp.YtdlpError) else None
        except Exception as error:
            # A bug or an outage, not the site: the category is retried and the syncer lives on.
            log.exception("syncing category %d failed", category.id)
            reason = f"internal error: {error!r}"[:500]
            self._synced(category, began, "error")
            await shielded(self._db.fail_sync, category, reason, sync.retry_s)
            return None
        if outcome is None:
            log.warning("category %d: lease lost during the listing; its new owner syncs it", category.id)
            self._synced(category, began, "lease_lost")
        else:
            log.info(
                "category %d: %d listed, %d new",
                category.id,
                outcome.listed,
                outcome.new_to_category,
                extra=category_context(category),
            )
            self._synced(category, began, "ok")
        return "served"

    async def _store_page(
        self, category: ClaimedCategory, page: ytdlp.Listing, stored: StoredPages, scope: trio.CancelScope
    ) -> None:
        """One page of a first listing, stored while yt-dlp waits in its worker to read on;
        the listing's timeout then counts from now: it is stopped when it stalls, not when a
        category is long."""
        videos, refused = _cleaned(category, page)
        new = await self._db.store_page(category, videos, refused, self._request_lease_s)
        if new is None:
            raise _CategoryTakenOver
        stored.listed, stored.new = stored.listed + len(videos), stored.new + new
        stored.refused += len(refused)
        scope.deadline = trio.current_time() + self._settings.downloader.timeout_s
        log.info(
            "category %d: %d listed so far, %d new; listing on",
            category.id,
            stored.listed,
            stored.new,
            extra=category_context(category),
        )

    def _synced(self, category: ClaimedCategory, began: float, result: str) -> None:
        elapsed = time.perf_counter() - began
        self._metrics.sync_seconds.labels(category.website, result).observe(elapsed)


def _cleaned(category: ClaimedCategory, listing: ytdlp.Listing) -> tuple[list[ListedVideo], list[str]]:
    """A listing, or a page of one, as it is stored: sanitized, its refused entries logged."""
    if listing.refused:
        log.warning("category %d: %d entries refused", category.id, len(listing.refused))
    videos = [v for v in map(sanitize.clean_listed, listing.videos) if v is not None]
    return videos, [sanitize.clean_text(r, 500) for r in listing.refused]


class _CategoryTakenOver(Exception):
    """A page of a first listing could not be stored: another instance owns the category now."""
