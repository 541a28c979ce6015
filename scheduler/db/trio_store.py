"""The data layer as Trio code sees it: one object whose methods are Trio methods.

The statements are asyncio code (asyncpg is an asyncio library); each method holds its
connection only within itself, so a whole method crosses trio-asyncio's bridge at once
and a cancellation never strands a connection half-used. The crossing is written once,
here: `TrioStore.claim_videos` is `PipelineQueries.claim_videos` with the same parameters
and result, which mypy checks at every call. The driver's errors arrive already mapped
to DatabaseUnavailable (connector.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import trio_asyncio

from scheduler.db.pipeline_queries import PipelineQueries

P = ParamSpec("P")
R = TypeVar("R")


class _InTrio(Generic[P, R]):
    """A method of PipelineQueries, offered to Trio code: looked up on a TrioStore, it is
    the asyncio method bound to that store's queries and called across the bridge."""

    def __init__(self, method: Callable[Concatenate[PipelineQueries, P], Coroutine[Any, Any, R]]) -> None:
        self._method = method

    def __get__(self, store: TrioStore, owner: type | None = None) -> Callable[P, Awaitable[R]]:
        bound = trio_asyncio.aio_as_trio(self._method)
        queries = store.queries

        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            result: R = await bound(queries, *args, **kwargs)
            return result

        return call


class TrioStore:
    def __init__(self, queries: PipelineQueries) -> None:
        self.queries = queries
        self.owner = queries.owner

    # Listings (listing_queries.py)
    claim_category = _InTrio(PipelineQueries.claim_category)
    newest_in_category = _InTrio(PipelineQueries.newest_in_category)
    store_page = _InTrio(PipelineQueries.store_page)
    finish_sync = _InTrio(PipelineQueries.finish_sync)
    defer_sync = _InTrio(PipelineQueries.defer_sync)
    fail_sync = _InTrio(PipelineQueries.fail_sync)
    throttle_sync = _InTrio(PipelineQueries.throttle_sync)

    # Videos (video_queries.py)
    claim_videos = _InTrio(PipelineQueries.claim_videos)
    renew_leases = _InTrio(PipelineQueries.renew_leases)
    set_progress = _InTrio(PipelineQueries.set_progress)
    classify_video = _InTrio(PipelineQueries.classify_video)
    finish_video = _InTrio(PipelineQueries.finish_video)
    skip_video = _InTrio(PipelineQueries.skip_video)
    fail_attempt = _InTrio(PipelineQueries.fail_attempt)
    defer_video = _InTrio(PipelineQueries.defer_video)
    release_video = _InTrio(PipelineQueries.release_video)
    throttle_video = _InTrio(PipelineQueries.throttle_video)
    take_untagged_video = _InTrio(PipelineQueries.take_untagged_video)
    give_back_untagged_video = _InTrio(PipelineQueries.give_back_untagged_video)
    set_fetched_tags = _InTrio(PipelineQueries.set_fetched_tags)

    # Site breakers (breaker_queries.py)
    tripped_breakers = _InTrio(PipelineQueries.tripped_breakers)
    site_served = _InTrio(PipelineQueries.site_served)
    mark_served = _InTrio(PipelineQueries.mark_served)
    take_probe = _InTrio(PipelineQueries.take_probe)
    close_breaker = _InTrio(PipelineQueries.close_breaker)
    give_probe_back = _InTrio(PipelineQueries.give_probe_back)

    # The instance itself (instance_queries.py)
    ping = _InTrio(PipelineQueries.ping)
    count_by_status = _InTrio(PipelineQueries.count_by_status)
    beat_instance = _InTrio(PipelineQueries.beat_instance)
    stop_instance = _InTrio(PipelineQueries.stop_instance)
    add_site_event_daily = _InTrio(PipelineQueries.add_site_event_daily)

    # The notifier's.
    register_cursors = _InTrio(PipelineQueries.register_cursors)
    claim_digests = _InTrio(PipelineQueries.claim_digests)
    digest_events = _InTrio(PipelineQueries.digest_events)
    digest_sent = _InTrio(PipelineQueries.digest_sent)
    digest_failed = _InTrio(PipelineQueries.digest_failed)
    prune_notices = _InTrio(PipelineQueries.prune_notices)
