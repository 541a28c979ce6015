"""Every statement a `serve` process runs for itself (asyncio code): its workers'
(listings, videos, site breakers) and its own (heartbeat, health, metrics)."""

from __future__ import annotations

from scheduler.db.breaker_queries import BreakerQueries
from scheduler.db.connector import Database
from scheduler.db.instance_queries import InstanceQueries
from scheduler.db.listing_queries import ListingQueries
from scheduler.db.notify_queries import NotifyQueries
from scheduler.db.video_queries import VideoQueries


class PipelineQueries(ListingQueries, VideoQueries, BreakerQueries, InstanceQueries, NotifyQueries):
    """`owner` is the instance's id: every change to leased work is accepted only from the
    owner of the lease."""

    def __init__(self, db: Database, owner: str) -> None:
        self._db = db
        self.owner = owner
